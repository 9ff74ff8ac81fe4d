"""The compiled fast path and pure Python put identical bytes on the wire.

The same seeded scenarios (a client session and a listener on a lossy, reordering, virtual
link, with reproducible nonces) run in two interpreters, one with ``PYKCP_NO_EXTENSIONS=1``;
every datagram either side sends, in order, must be the same, and so must what each side
counted and received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import pykcp
from tests.conftest import ROOT, missing_tool

SCENARIO = r"""
import hashlib, json, random, sys
import pykcp
from pykcp import Config
from pykcp.core.listener import ListenerCore
from pykcp.core.session import Session
from tests.helpers import deliver_due

CLIENT, SERVER = ("127.0.0.1", 40000), ("127.0.0.1", 50000)


def run(options, seed):
    rng = random.Random(seed)
    nonces = random.Random(seed + 1)

    def nonce_source(n):
        return nonces.randbytes(n)

    config = Config(**options)
    crypt = config.make_crypt()
    client = Session(0x1234ABCD, config, 0, remote=SERVER, crypt=crypt, nonce_source=nonce_source)
    listener = ListenerCore(config, nonce_source=nonce_source)
    wire = hashlib.sha256()
    count = 0
    in_flight = []  # (arrival time, to_server, datagram)
    sent_total, received = 0, bytearray()
    messages = [rng.randbytes(rng.randrange(1, 3000)) for _ in range(40)]
    now = 0

    def emit(datagrams, to_server):
        nonlocal count
        for datagram in datagrams:
            data = bytes(datagram)
            wire.update(len(data).to_bytes(2, "little") + data)
            count += 1
            if rng.random() < 0.1:
                continue  # lost
            in_flight.append((now + rng.randrange(5, 60), to_server, data))

    for step in range(6000):
        if messages and client.writable and rng.random() < 0.3:
            message = messages.pop()
            sent_total += len(message)
            client.send(message, now)
        emit(client.datagrams_to_send(now), True)
        for session in list(listener.sessions.values()):
            while (chunk := session.recv(now)) is not None:
                received += chunk
            emit(session.datagrams_to_send(now), False)
        now += 7
        deliver_due(in_flight, now, client, listener, CLIENT)
        if not messages and len(received) == sent_total and not client.waitsnd:
            break
    server = next(iter(listener.sessions.values()))
    return {
        "wire": wire.hexdigest(),
        "datagrams": count,
        "received": hashlib.sha256(received).hexdigest(),
        "complete": len(received) == sent_total,
        "client": client.snmp.as_dict(),
        "server": server.snmp.as_dict(),
        "implementation": pykcp.implementation,
    }


cases = json.loads(sys.argv[1])
print(json.dumps([run(options, seed) for options, seed in cases]))
"""

CASES = [
    ({"mode": "fast2", "sndwnd": 128, "rcvwnd": 128}, 1),
    ({"mode": "normal", "stream": True, "data_shards": 3, "parity_shards": 2}, 2),
    ({"crypt": "aes", "key": "k", "data_shards": 10, "parity_shards": 3, "mtu": 1350}, 3),
    ({"crypt": "salsa20", "key": "k", "mode": "fast3", "stream": True}, 4),
    ({"crypt": "aes-128-gcm", "key": "k", "data_shards": 4, "parity_shards": 2}, 5),
    ({"crypt": "tea", "key": "k", "mode": "fast"}, 6),
    ({"crypt": "xtea", "key": "k", "data_shards": 2, "parity_shards": 1}, 7),
    ({"crypt": "twofish", "key": "k", "mode": "fast2", "mtu": 300}, 8),
    ({"crypt": "none", "key": "k", "mode": "fast3", "sndwnd": 256, "mtu": 61}, 9),
]


def _run(no_extensions: bool) -> list[dict[str, object]]:
    env = dict(os.environ)
    env.pop("PYKCP_NO_EXTENSIONS", None)
    if no_extensions:
        env["PYKCP_NO_EXTENSIONS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-c", SCENARIO, json.dumps(CASES)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, object]] = json.loads(proc.stdout)
    return results


@pytest.mark.timeout(300)
def test_compiled_and_pure_python_put_identical_bytes_on_the_wire() -> None:
    from pykcp import _extensions

    if _extensions.disabled():
        pytest.skip("a pure Python run by choice: the compiled run makes the comparison")
    if pykcp.implementation != "compiled":
        missing_tool("the compiled fast path is not built (no C compiler at install?)")
    compiled = _run(no_extensions=False)
    pure = _run(no_extensions=True)
    assert {r["implementation"] for r in compiled} == {"compiled"}
    assert {r["implementation"] for r in pure} == {"python"}
    for (options, _), a, b in zip(CASES, compiled, pure, strict=True):
        assert a["complete"] and b["complete"], options
        assert a["datagrams"] == b["datagrams"], options
        assert a["wire"] == b["wire"], options
        assert a == {**b, "implementation": "compiled"}, options
