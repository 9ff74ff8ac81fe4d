"""A spoofed flood at ``start_server`` with the default config (issue #12's measurement).

One datagram from each of ``--sources`` distinct source addresses (127.x.y.z, each a socket
bound there and closed at once, so nothing ever answers the server, as with spoofed
sources): a KCP PUSH with a fresh conversation id and 80 random bytes (``--crypt none``), or
the same captured aes datagram replayed from every address (``--crypt aes``, which kcp-go
accepts too: protocol.md §9). The server (an echo handler, default :class:`pykcp.Config`
apart from the cipher) runs in its own process and reports its listener's counters and its
memory every 0.2 s; the script prints:

* sessions created, the most alive at once, and how many the listener turned away;
* the server's RSS before the flood and at its peak (VmHWM);
* how long after the first datagram every session was gone;
* bytes the server sent back, against the bytes of the flood.

Run: ``.venv/bin/python benchmarks/bench_flood.py [--sources 20000] [--crypt none|aes]``
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from pykcp.core.kcp import CMD_PUSH, HEADER

ROOT = Path(__file__).resolve().parent.parent
KEY = "flood-test"

SERVER = """
import asyncio, json, sys, time
import pykcp

async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except Exception:
        pass
    writer.close()

def memory():
    fields = {}
    for line in open("/proc/self/status"):
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields

async def main():
    crypt = sys.argv[1]
    config = pykcp.Config() if crypt == "none" else pykcp.Config(crypt=crypt, key=sys.argv[2])
    server = await pykcp.start_server(echo, "127.0.0.1", 0, config=config)
    listener = server.listener
    print(json.dumps({"port": server.sockets[0].getsockname()[1], **memory()}), flush=True)
    while True:
        stats = listener.stats()
        print(json.dumps({"t": time.monotonic(), "sessions": stats.sessions,
                          "created": stats.sessions_created, "dropped": stats.dropped_full,
                          "out_bytes": pykcp.DEFAULT_SNMP.OutBytes, **memory()}), flush=True)
        await asyncio.sleep(0.2)

asyncio.run(main())
"""


def _push(conv: int, payload: bytes) -> bytes:
    """A client's first datagram: PUSH sn 0 of a new conversation (protocol.md §1.1)."""
    return HEADER.pack(conv, CMD_PUSH, 0, 1024, 0, 0, 0, len(payload)) + payload


def _captured_aes_datagram() -> bytes:
    """One datagram as a pykcp aes client would send it (the attacker replays it)."""
    from pykcp.core.crypt import derive_key, new_crypt
    from pykcp.core.packet import CryptoCodec

    return CryptoCodec(new_crypt("aes", derive_key(KEY))).seal(_push(0x5EED, os.urandom(80)))


def _address(index: int) -> str:
    return f"127.{1 + index // 62500}.{(index // 250) % 250}.{index % 250 + 1}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=20000)
    parser.add_argument("--crypt", choices=("none", "aes"), default="none")
    parser.add_argument("--limit", type=float, default=120, help="seconds to wait (120)")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, args.crypt, KEY], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    try:
        first = json.loads(proc.stdout.readline())
        port, rss_before = first["port"], first["VmRSS"]
        replay = _captured_aes_datagram() if args.crypt == "aes" else b""
        flood_bytes = 0
        started = time.monotonic()
        for index in range(args.sources):
            datagram = replay or _push(index + 1, os.urandom(80))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((_address(index), 0))
                sock.sendto(datagram, ("127.0.0.1", port))
            flood_bytes += len(datagram)
        sent_for = time.monotonic() - started
        peak = 0
        gone_after = None
        last: dict[str, int] = {}
        while time.monotonic() - started < args.limit:
            report = json.loads(proc.stdout.readline())
            last = report
            peak = max(peak, report["sessions"])
            if report["created"] and report["sessions"] == 0 and report["t"] > 0:
                gone_after = time.monotonic() - started
                break
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"# {args.sources} spoofed sources, crypt {args.crypt}, default Config")
    print(f"flood:              {flood_bytes} bytes in {sent_for:.1f} s")
    print(f"sessions created:   {last.get('created')} (at most {peak} alive at once)")
    print(f"turned away:        {last.get('dropped')}")
    print(f"server RSS:         {rss_before / 1024:.1f} MiB before, "
          f"{last.get('VmHWM', 0) / 1024:.1f} MiB peak")  # fmt: skip
    gone = f"{gone_after:.1f} s after the first datagram" if gone_after else "not within limit"
    print(f"all sessions gone:  {gone}")
    out = last.get("out_bytes", 0)
    print(f"bytes sent back:    {out} ({out / flood_bytes:.2f}x the flood)")
    return 0 if gone_after is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())
