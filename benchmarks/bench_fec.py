"""FEC throughput: MB/s of KCP payload bytes through FECEncoder.encode and FECDecoder.decode.

Run: .venv/bin/python benchmarks/bench_fec.py [--runs N] [--groups N]

Packets are 1500-byte FEC datagrams (1492 KCP bytes), as in kcp-go's own benchmark; the decode
measurement loses one data packet of every group (1 of 13 for 10/3), so each group needs one
Reed-Solomon rebuild. Each figure is the median of several runs.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from functools import partial

from pykcp.tools.bench import fec_decode_mbps, fec_encode_mbps

PACKET_SIZE = 1500
LAYOUTS = ((10, 3), (3, 2), (20, 5))


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
        enc = median_of(partial(fec_encode_mbps, ds, ps, args.groups, PACKET_SIZE), args.runs)
        dec = median_of(partial(fec_decode_mbps, ds, ps, args.groups, PACKET_SIZE), args.runs)
        print(f"{f'{ds}/{ps}':>8} {enc:12.0f} {dec:12.0f}")


if __name__ == "__main__":
    main()
