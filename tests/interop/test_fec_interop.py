"""Live FEC interop with kcp-go 5.6.1 (no encryption, so datagrams are bare FEC packets).

- kcp-go -> pykcp: a kcp-go client with FEC sends to a Python socket; pykcp re-encodes the
  stream byte for byte and rebuilds the data packets the test withholds from its decoder.
- pykcp -> kcp-go: pykcp-encoded FEC packets, with data packets withheld, go to a kcp-go
  listener; the withheld messages can only reach its reader through kcp-go's FEC decoder.
"""

from __future__ import annotations

import selectors
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pykcp.core.fec import FECDecoder, FECEncoder
from pykcp.core.snmp import Snmp
from pykcp.core.wire import FEC_OVERHEAD, TYPE_DATA

pytestmark = pytest.mark.interop

WAIT = 10.0  # seconds: bound on every wait for the Go peer


@contextmanager
def running(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=WAIT)


def read_line(proc: subprocess.Popen[str], timeout: float = WAIT) -> str:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"no output from {proc.args!r} within {timeout} s")
    return proc.stdout.readline().strip()


def capture_kcp_go_stream(
    gopeer: Path, data_shards: int, parity_shards: int, count: int
) -> list[bytes]:
    """The first FEC packets (seqid order) of a kcp-go client sending *count* messages."""
    n = data_shards + parity_shards
    wanted = count // data_shards * n
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        args = [str(gopeer), "fec-send", "-addr", f"127.0.0.1:{port}"]
        args += ["-ds", str(data_shards), "-ps", str(parity_shards), "-count", str(count)]
        packets: dict[int, bytes] = {}
        with running(args):
            deadline = time.monotonic() + WAIT
            while len(packets) < wanted:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"kcp-go sent {len(packets)} of {wanted} FEC packets")
                sock.settimeout(remaining)
                try:
                    datagram = sock.recv(2048)
                except TimeoutError:
                    continue
                seqid = int.from_bytes(datagram[:4], "little")
                if seqid < wanted:
                    packets[seqid] = datagram
    return [packets[s] for s in range(wanted)]


@pytest.mark.parametrize("layout", [(10, 3), (3, 2), (1, 2)], ids=lambda v: f"{v[0]}+{v[1]}")
def test_kcp_go_stream_is_reproduced_and_rebuilt(gopeer: Path, layout: tuple[int, int]) -> None:
    data_shards, parity_shards = layout
    n = data_shards + parity_shards
    packets = capture_kcp_go_stream(gopeer, data_shards, parity_shards, count=30)

    # Our encoder, fed the same KCP datagrams, produces kcp-go's stream byte for byte
    # (5.6.1 never skips parity).
    encoder = FECEncoder(data_shards, parity_shards, max_latency_ms=None)
    ours: list[bytes] = []
    for packet in packets:
        if packet[4] == TYPE_DATA:
            ours.extend(encoder.encode(packet[FEC_OVERHEAD:], 0))
    assert ours == packets

    # Withhold as many data packets per group as there are parity packets (at rotating
    # positions): the decoder must rebuild every one of them.
    snmp = Snmp()
    decoder = FECDecoder(data_shards, parity_shards, snmp=snmp)
    withheld: list[bytes] = []
    rebuilt: list[bytes] = []
    for packet in packets:
        group, index = divmod(int.from_bytes(packet[:4], "little"), n)
        losses = {(group + k) % data_shards for k in range(min(parity_shards, data_shards))}
        if index < data_shards and index in losses:
            withheld.append(packet[FEC_OVERHEAD:])
            continue
        rebuilt.extend(decoder.decode(packet))
    assert rebuilt == withheld
    assert snmp.FECRecovered == len(withheld)
    assert snmp.FECErrs == 0


def test_lazy_decoder_tunes_to_kcp_go_layout(gopeer: Path) -> None:
    """A session without FEC creates a (1,1) decoder that must tune to the peer's 3+2."""
    packets = capture_kcp_go_stream(gopeer, 3, 2, count=30)
    decoder = FECDecoder(1, 1)
    withheld: list[bytes] = []
    rebuilt: list[bytes] = []
    for packet in packets:
        group, index = divmod(int.from_bytes(packet[:4], "little"), 5)
        if group >= 4 and index == group % 3:
            withheld.append(packet[FEC_OVERHEAD:])
            continue
        rebuilt.extend(decoder.decode(packet))
    assert (decoder.data_shards, decoder.parity_shards) == (3, 2)
    assert [r for r in rebuilt if r in withheld] == withheld


def push_segment(conv: int, sn: int, data: bytes) -> bytes:
    return struct.pack("<IBBHIIII", conv, 81, 0, 32, 0, sn, 0, len(data)) + data


@pytest.mark.parametrize(
    ("layout", "listener_layout", "count", "first_lossy_group"),
    [
        ((10, 3), (10, 3), 30, 0),
        ((3, 2), (3, 2), 30, 0),
        ((10, 3), (0, 0), 60, 3),  # kcp-go without FEC: its lazy decoder must autotune
    ],
    ids=["10+3", "3+2", "10+3-to-autotune"],
)
def test_kcp_go_rebuilds_pykcp_stream(
    gopeer: Path,
    layout: tuple[int, int],
    listener_layout: tuple[int, int],
    count: int,
    first_lossy_group: int,
) -> None:
    data_shards, parity_shards = layout
    messages = [bytes((i * 11 + j) & 0xFF for j in range(20 + i * 37 % 200)) for i in range(count)]
    args = [str(gopeer), "fec-recv", "-ds", str(listener_layout[0])]
    args += ["-ps", str(listener_layout[1]), "-count", str(count), "-timeout", f"{WAIT}s"]
    with running(args) as proc, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        word, address = read_line(proc).split()
        assert word == "ADDR"
        host, port = address.rsplit(":", 1)
        encoder = FECEncoder(data_shards, parity_shards)
        withheld = 0
        for sn, message in enumerate(messages):
            group, index = divmod(sn, data_shards)
            # One data packet per group never leaves (never the session's first datagram).
            lose = group >= first_lossy_group and index == (group * 3 + 1) % data_shards
            packets = encoder.encode(push_segment(0x2468ACE1, sn, message), 0)
            if lose and sn != 0:
                packets = packets[1:]
                withheld += 1
            for packet in packets:
                sock.sendto(packet, (host, int(port)))
                time.sleep(0.001)  # loopback UDP: do not overrun the peer's socket buffer
        out, err = proc.communicate(timeout=WAIT + 5)
    lines = out.splitlines()
    received = [bytes.fromhex(line.split()[1]) for line in lines if line.startswith("MSG ")]
    assert received == messages, err
    counters = dict(field.split("=") for field in lines[-1].split()[1:])
    assert withheld > 0
    assert int(counters["FECRecovered"]) >= withheld
