"""Throughput of one TCP stream through a kcptun-compatible tunnel, three pairings:
pykcp client + pykcp server, pykcp client + kcptun server, kcptun client + kcptun server.

Every tunnel end runs in its own process (``python -m pykcp.tunnel`` or Debian's
``kcptun-client``/``kcptun-server``); this process sends ``size`` random bytes into the
client's TCP port and a sink behind the server acknowledges them once all arrived.

Run: .venv/bin/python benchmarks/bench_tunnel.py [--size MiB] [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

PYTHON = sys.executable
PAIRINGS = ("pykcp -> pykcp", "pykcp -> kcptun", "kcptun -> kcptun")
_WIDE = ["--sndwnd", "1024", "--rcvwnd", "1024"]
SETTINGS = {
    # kcptun's defaults (aes, fast, FEC 10/3, compression; client sndwnd 128 limits a
    # stream to about one window per flush interval)
    "kcptun defaults": [],
    "defaults, wnd 1024": _WIDE,
    "wnd 1024, plain": [*_WIDE, "--nocomp", "--ds", "0", "--ps", "0", "--crypt", "none"],
}


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(side: str, implementation: str) -> list[str]:
    if implementation == "kcptun":
        return [f"kcptun-{side}"]
    return [PYTHON, "-m", "pykcp.tunnel", side]


@contextlib.contextmanager
def _tunnel(pairing: str, target_port: int, flags: Sequence[str]) -> Iterator[int]:
    """Start both ends; yields the client's TCP port."""
    client_impl, server_impl = (part.strip() for part in pairing.split("->"))
    kcp_port = _free_port(socket.SOCK_DGRAM)
    local_port = _free_port(socket.SOCK_STREAM)
    common = ["--key", "bench", "--quiet", *flags]
    procs: list[subprocess.Popen[bytes]] = []
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"))
    try:
        for side, impl, args in (
            (
                "server",
                server_impl,
                ["-l", f"127.0.0.1:{kcp_port}", "-t", f"127.0.0.1:{target_port}"],
            ),
            (
                "client",
                client_impl,
                ["-l", f"127.0.0.1:{local_port}", "-r", f"127.0.0.1:{kcp_port}"],
            ),
        ):
            procs.append(
                subprocess.Popen(
                    [*_command(side, impl), *args, *common],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", local_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{pairing}: client did not start") from None
                time.sleep(0.05)
        time.sleep(0.3)  # the server side too
        yield local_port
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _one_transfer(local_port: int, size: int) -> float:
    data = os.urandom(size)
    reader, writer = await asyncio.open_connection("127.0.0.1", local_port)
    start = time.perf_counter()
    view = memoryview(data)
    for offset in range(0, size, 1 << 16):
        writer.write(view[offset : offset + (1 << 16)])
        await writer.drain()
    ack = await asyncio.wait_for(reader.readexactly(2), 120)
    elapsed = time.perf_counter() - start
    assert ack == b"ok"
    writer.close()
    return size / elapsed / 1e6


def throughput(
    pairing: str, *, size: int = 32 << 20, runs: int = 3, flags: Sequence[str] = ()
) -> list[float]:
    """MB/s of one TCP stream moving *size* bytes through *pairing*, once per run."""

    async def main() -> list[float]:
        async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            received = 0
            while received < size:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    break
                received += len(chunk)
            if received == size:
                writer.write(b"ok")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(sink, "127.0.0.1", 0)
        target_port = server.sockets[0].getsockname()[1]
        results = []
        try:
            for _ in range(runs):
                with _tunnel(pairing, target_port, flags) as local_port:
                    results.append(await _one_transfer(local_port, size))
        finally:
            server.close()
        return results

    return asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="MiB per transfer (default 32)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case (default 3)")
    args = parser.parse_args(argv)
    if not (shutil.which("kcptun-client") and shutil.which("kcptun-server")):
        print("kcptun-client/kcptun-server not on PATH: only pykcp -> pykcp is measured")
        pairings: Sequence[str] = PAIRINGS[:1]
    else:
        pairings = PAIRINGS
    print(f"one TCP stream, {args.size} MiB of random bytes, median of {args.runs} runs")
    print("(plain = --nocomp --ds 0 --ps 0 --crypt none)")
    print(f"{'settings':<28}{'pairing':<20}{'median MB/s':>12}{'min':>8}{'max':>8}")
    for label, flags in SETTINGS.items():
        medians = {}
        for pairing in pairings:
            results = throughput(pairing, size=args.size << 20, runs=args.runs, flags=flags)
            medians[pairing] = statistics.median(results)
            print(
                f"{label:<28}{pairing:<20}{medians[pairing]:>12.1f}"
                f"{min(results):>8.1f}{max(results):>8.1f}",
                flush=True,
            )
        if "kcptun -> kcptun" in medians:
            ratio = medians["pykcp -> pykcp"] / medians["kcptun -> kcptun"]
            print(f"{'':<28}{'pykcp/kcptun ratio':<20}{ratio:>12.2f}")


if __name__ == "__main__":
    main()
