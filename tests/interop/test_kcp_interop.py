"""pykcp's bare KCP core against a live kcp-go 5.6.1 session (no crypto, no FEC).

The Python side drops a seeded share of datagrams in both directions, so both ARQ
implementations retransmit to each other.
"""

from __future__ import annotations

import random
import selectors
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pykcp.core.kcp import KCP

pytestmark = pytest.mark.interop

M32 = 0xFFFFFFFF


def now_ms() -> int:
    return time.monotonic_ns() // 1_000_000


def echo_through_kcp_go(gopeer: Path, *, mode: str, size: int, loss: float, seed: int) -> None:
    rng = random.Random(seed)
    payload = rng.randbytes(size)
    peer = subprocess.Popen(
        [str(gopeer), "kcp-echo", "-bytes", str(size), "-mode", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert peer.stdout is not None and peer.stdin is not None
        first = peer.stdout.readline().split()
        assert first[0] == "LISTEN", first
        host, port = first[1].rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect((host, int(port)))
        sock.setblocking(False)
        conv = rng.getrandbits(32)
        kcp = KCP(conv)
        if mode == "fast":
            kcp.nodelay(1, 10, 2, 1)
        kcp.wndsize(128, 128)
        selector = selectors.DefaultSelector()
        selector.register(sock, selectors.EVENT_READ)
        written = 0
        echoed = bytearray()
        errors = 0
        flush_at = now_ms()
        deadline = flush_at + 30_000

        def ship() -> None:
            for datagram in kcp.take_output():
                assert len(datagram) <= 1400
                if rng.random() >= loss:
                    sock.send(datagram)

        while len(echoed) < size:
            now = now_ms()
            assert now < deadline, f"echoed {len(echoed)} of {size}: {kcp.snmp}"
            while written < size and kcp.waitsnd() < 2 * kcp.snd_wnd:
                kcp.send(payload[written : written + kcp.mss])  # kcp-go's Write does the same
                written = min(size, written + kcp.mss)
                flush_at = now
            if now >= flush_at:
                flush_at = now + kcp.flush(now & M32)
                ship()
            if selector.select(max(0, flush_at - now_ms()) / 1000):
                while True:
                    try:
                        datagram = sock.recv(2048)
                    except BlockingIOError:
                        break
                    if rng.random() < loss:
                        continue
                    if kcp.input(datagram, now_ms() & M32) < 0:
                        errors += 1
                ship()
                while (message := kcp.recv()) is not None:
                    echoed += message
        # Keep acknowledging for a moment so kcp-go sees its last segments delivered.
        end = now_ms() + 200
        while now_ms() < end:
            kcp.flush(now_ms() & M32)
            ship()
            time.sleep(0.01)
        selector.close()
        sock.close()
        assert bytes(echoed) == payload
        assert errors == 0
        assert kcp.snmp.RetransSegs > 0  # our dropped datagrams were repaired
        out, err = peer.communicate(input="", timeout=30)
        assert peer.returncode == 0, err
        assert out.split()[:3] == ["DONE", str(size), f"conv={conv}"]
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()


@pytest.mark.parametrize("mode", ["fast", "default"])
def test_echo_through_kcp_go_with_loss(gopeer: Path, mode: str) -> None:
    size = 300_000 if mode == "fast" else 60_000
    echo_through_kcp_go(gopeer, mode=mode, size=size, loss=0.05, seed=7)
