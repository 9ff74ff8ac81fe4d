"""Packet-encryption speed, measured like kcp-go's BenchmarkAES128 & co.

One iteration = encrypt + decrypt of one 1500-byte datagram; MB/s counts both directions
(3000 bytes per iteration, as kcp-go's ``b.SetBytes(2 * mtuLimit)``). Two views per cipher:

* ``raw``: ``BlockCrypt.encrypt`` then ``decrypt`` of 1500 bytes (kcp-go's benchmark);
* ``codec``: ``CryptoCodec.seal`` then ``open`` (nonce, CRC, framing: what a session pays).

Times are this process's CPU time (``time.process_time``), so other load on a shared machine
disturbs the medians less than wall-clock time would.

Run: ``.venv/bin/python benchmarks/bench_crypt.py [--runs N] [--cipher NAME ...]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from pykcp.core.crypt import CIPHER_NAMES, BlockCrypt, derive_key, new_crypt
from pykcp.core.crypt.pure import TEABlockCrypt, TwofishBlockCrypt, XTEABlockCrypt
from pykcp.core.packet import CryptoCodec

DATAGRAM_SIZE = 1500


def _iterations(crypt: object) -> int:
    """Calls per run: TEA, XTEA and Twofish on their Python blocks (a pure install) are ~1000x
    slower than on the C kernel; fewer iterations keep every run short."""
    python_blocks = isinstance(crypt, TEABlockCrypt | XTEABlockCrypt | TwofishBlockCrypt)
    return 20 if python_blocks and not getattr(crypt, "accelerated", False) else 5000


def _rates(operation: Callable[[], object], iterations: int, runs: int) -> list[float]:
    """MB/s of each of *runs* runs of *iterations* calls (3000 bytes per call)."""
    rates = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(iterations):
            operation()
        elapsed = time.process_time() - start
        rates.append(2 * DATAGRAM_SIZE * iterations / elapsed / 1e6)
    return rates


def _rate(operation: Callable[[], object], iterations: int, runs: int) -> float:
    """Median MB/s over *runs* runs of *iterations* calls (3000 bytes per call)."""
    return statistics.median(_rates(operation, iterations, runs))


def bench_raw(name: str, runs: int = 7, iterations: int | None = None) -> float | None:
    """MB/s of BlockCrypt encrypt+decrypt of 1500 bytes; None for AEAD and "null"."""
    crypt = new_crypt(name, derive_key("bench"))
    if not isinstance(crypt, BlockCrypt):
        return None
    data = os.urandom(DATAGRAM_SIZE)

    def operation() -> object:
        return crypt.decrypt(crypt.encrypt(data))

    return _rate(operation, iterations or _iterations(crypt), runs)


def bench_codec(name: str, runs: int = 7, iterations: int | None = None) -> float:
    """MB/s of CryptoCodec seal+open of one datagram of 1500 bytes on the wire (median)."""
    return statistics.median(codec_rates(name, runs, iterations))


def codec_rates(name: str, runs: int = 7, iterations: int | None = None) -> list[float]:
    """Every run's MB/s of CryptoCodec seal+open (see :func:`bench_codec`)."""
    crypt = new_crypt(name, derive_key("bench"))
    codec = CryptoCodec(crypt)
    payload = os.urandom(DATAGRAM_SIZE - codec.overhead)
    assert bytes(codec.open(codec.seal(payload)) or b"") == payload

    def operation() -> object:
        return codec.open(codec.seal(payload))

    return _rates(operation, iterations or _iterations(crypt), runs)


def bench_crc32(runs: int = 7, iterations: int = 20000) -> float:
    """MB/s of zlib.crc32 over 1500 bytes (counted once per call)."""
    data = os.urandom(DATAGRAM_SIZE)
    return _rate(lambda: zlib.crc32(data), iterations, runs) / 2


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cipher", action="append", choices=CIPHER_NAMES)
    args = parser.parse_args(argv)
    names = args.cipher or [n for n in CIPHER_NAMES if n != "null"]
    print(
        f"{'cipher':<12} {'raw MB/s':>9} {'codec MB/s':>11} {'codec best':>11}"
        f"   (raw and codec: medians of {args.runs} runs)"
    )
    for name in names:
        raw = bench_raw(name, args.runs)
        codec = codec_rates(name, args.runs)
        raw_text = "-" if raw is None else f"{raw:9.1f}"
        median, best = statistics.median(codec), max(codec)
        print(f"{name:<12} {raw_text:>9} {median:11.1f} {best:11.1f}", flush=True)
    print(f"{'crc32':<12} {bench_crc32(args.runs):9.1f}")


if __name__ == "__main__":
    main()
