"""FEC throughput: MB/s of KCP payload bytes through FECEncoder.encode and FECDecoder.decode.

Run: .venv/bin/python benchmarks/bench_fec.py [--runs N] [--groups N]

Packets are 1500-byte FEC datagrams (1492 KCP bytes), as in kcp-go's own benchmark; the decode
measurement loses one data packet of every group (1 of 13 for 10/3), so each group needs one
Reed-Solomon rebuild. Each figure is the median of several runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

from pykcp.fec import FEC_HEADER_SIZE_PLUS2, FECDecoder, FECEncoder

PACKET_SIZE = 1500
LAYOUTS = ((10, 3), (3, 2), (20, 5))


def _payloads(count: int, size: int) -> list[bytes]:
    pool = os.urandom(size + 64)
    return [pool[i % 64 : i % 64 + size] for i in range(count)]


def encode_throughput(
    data_shards: int, parity_shards: int, groups: int = 200, packet_size: int = PACKET_SIZE
) -> float:
    """MB/s of payload through ``FECEncoder.encode`` (parity computed every group)."""
    payloads = _payloads(groups * data_shards, packet_size - FEC_HEADER_SIZE_PLUS2)
    encoder = FECEncoder(data_shards, parity_shards)
    encode = encoder.encode
    start = time.perf_counter()
    for payload in payloads:
        encode(payload, 0)
    elapsed = time.perf_counter() - start
    return sum(map(len, payloads)) / elapsed / 1e6


def decode_throughput(
    data_shards: int, parity_shards: int, groups: int = 200, packet_size: int = PACKET_SIZE
) -> float:
    """MB/s of payload through ``FECDecoder.decode`` with one data packet per group lost."""
    payloads = _payloads(groups * data_shards, packet_size - FEC_HEADER_SIZE_PLUS2)
    encoder = FECEncoder(data_shards, parity_shards)
    stream: list[bytes] = []
    for number, payload in enumerate(payloads):
        packets = encoder.encode(payload, 0)
        # Lose the data packet at a different index in each group.
        if number % data_shards != (number // data_shards) % data_shards:
            stream.append(packets[0])
        stream.extend(packets[1:])
    decoder = FECDecoder(data_shards, parity_shards)
    decode = decoder.decode
    recovered = 0
    start = time.perf_counter()
    for packet in stream:
        recovered += len(decode(packet))
    elapsed = time.perf_counter() - start
    if recovered != groups:
        raise AssertionError(f"recovered {recovered} of {groups} lost packets")
    return sum(map(len, payloads)) / elapsed / 1e6


def median_of(measure: Callable[[], float], runs: int) -> float:
    return statistics.median(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--groups", type=int, default=200)
    args = parser.parse_args()
    print(
        f"{'layout':>8} {'encode MB/s':>12} {'decode MB/s':>12}   ({PACKET_SIZE}-byte packets,"
        f" median of {args.runs})"
    )
    for ds, ps in LAYOUTS:
        enc = median_of(partial(encode_throughput, ds, ps, args.groups), args.runs)
        dec = median_of(partial(decode_throughput, ds, ps, args.groups), args.runs)
        print(f"{f'{ds}/{ps}':>8} {enc:12.0f} {dec:12.0f}")


if __name__ == "__main__":
    main()
