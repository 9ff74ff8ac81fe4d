"""``pykcp bench``: what kcp-go's ``go test -bench .`` measures, in one table.

Rows follow kcp-go 5.6.1's benchmarks:

* ciphers (crypt_test.go): encrypt + decrypt of one 1500-byte datagram, MB/s counting both
  directions (kcp-go's ``b.SetBytes(2 * mtuLimit)``); pykcp also shows its CryptoCodec framing
  (nonce + CRC32 + cipher) per cipher, which is what a session pays;
* CRC32 of 1500 bytes;
* FEC 10/3 encode and decode of 1500-byte packets (fec_test.go; decode loses one data packet
  per group, so every group needs a Reed-Solomon rebuild);
* flush() with 1024 segments in flight, none due (kcp_test.go BenchmarkFlush);
* echo speed (sess_test.go ``speedclient``): one message of N bytes at a time through a
  salsa20 + FEC 10/3 session and back; sink speed (``sinkclient``): N-byte writes into a
  session without crypto or FEC. Both with nodelay (1, 10, 2, 1), windows 1024, MTU 1400,
  client and server in this process over UDP on 127.0.0.1, as kcp-go's own benchmark does.

Cipher/CRC/FEC/flush times are this process's CPU time; session speeds are wall-clock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from functools import partial
from typing import Any

from pykcp.aio import dial, listen
from pykcp.core.config import Config
from pykcp.core.crypt import CIPHER_NAMES, BlockCrypt, derive_key, new_crypt
from pykcp.core.fec import FECDecoder, FECEncoder
from pykcp.core.kcp import KCP, Segment
from pykcp.core.packet import CryptoCodec
from pykcp.core.wire import FEC_OVERHEAD
from pykcp.tools.workload import run_client, serve_session

__all__ = [
    "add_bench_arguments",
    "cipher_codec_mbps",
    "cipher_raw_mbps",
    "crc32_mbps",
    "fec_decode_mbps",
    "fec_encode_mbps",
    "flush_idle_us",
    "loaded_sender",
    "run_bench_command",
    "session_speed_mbps",
]

DATAGRAM_SIZE = 1500
# Pure-Python ciphers are ~1000x slower than the others: fewer iterations keep runs short.
_SLOW_CIPHERS = {"tea", "xtea", "twofish"}
# kcp-go's benchmark names for each kcptun cipher name.
_KCPGO_NAMES = {
    "sm4": "SM4",
    "aes-128": "AES128",
    "aes-192": "AES192",
    "aes": "AES256",
    "tea": "TEA",
    "xor": "XOR",
    "blowfish": "Blowfish",
    "none": "None",
    "cast5": "Cast5",
    "3des": "3DES",
    "twofish": "Twofish",
    "xtea": "XTEA",
    "salsa20": "Salsa20",
}


def _cpu_rate(operation: Callable[[], object], iterations: int, bytes_per_call: int) -> float:
    start = time.process_time()
    for _ in range(iterations):
        operation()
    elapsed = max(time.process_time() - start, 1e-9)
    return bytes_per_call * iterations / elapsed / 1e6


def cipher_raw_mbps(name: str, iterations: int | None = None) -> float | None:
    """MB/s of ``BlockCrypt`` encrypt + decrypt of 1500 bytes (None for AEAD/"null")."""
    crypt = new_crypt(name, derive_key("bench"))
    if not isinstance(crypt, BlockCrypt):
        return None
    data = os.urandom(DATAGRAM_SIZE)
    count = iterations or (20 if name in _SLOW_CIPHERS else 2000)
    return _cpu_rate(lambda: crypt.decrypt(crypt.encrypt(data)), count, 2 * DATAGRAM_SIZE)


def cipher_codec_mbps(name: str, iterations: int | None = None) -> float:
    """MB/s of ``CryptoCodec`` seal + open of one 1500-byte datagram (what a session pays)."""
    codec = CryptoCodec(new_crypt(name, derive_key("bench")))
    payload = os.urandom(DATAGRAM_SIZE - codec.overhead)
    count = iterations or (20 if name in _SLOW_CIPHERS else 2000)
    return _cpu_rate(lambda: codec.open(codec.seal(payload)), count, 2 * DATAGRAM_SIZE)


def crc32_mbps(iterations: int = 20000) -> float:
    """MB/s of CRC32 (zlib) over 1500 bytes."""
    data = os.urandom(DATAGRAM_SIZE)
    return _cpu_rate(lambda: zlib.crc32(data), iterations, DATAGRAM_SIZE)


def _fec_payloads(count: int, packet_size: int = DATAGRAM_SIZE) -> list[bytes]:
    pool = os.urandom(packet_size + 64)
    size = packet_size - FEC_OVERHEAD
    return [pool[i % 64 : i % 64 + size] for i in range(count)]


def fec_encode_mbps(
    data_shards: int = 10,
    parity_shards: int = 3,
    groups: int = 100,
    packet_size: int = DATAGRAM_SIZE,
) -> float:
    """MB/s of KCP payload through ``FECEncoder.encode`` (parity computed every group)."""
    payloads = _fec_payloads(groups * data_shards, packet_size)
    encode = FECEncoder(data_shards, parity_shards).encode
    start = time.process_time()
    for payload in payloads:
        encode(payload, 0)
    elapsed = max(time.process_time() - start, 1e-9)
    return sum(map(len, payloads)) / elapsed / 1e6


def fec_decode_mbps(
    data_shards: int = 10,
    parity_shards: int = 3,
    groups: int = 100,
    packet_size: int = DATAGRAM_SIZE,
) -> float:
    """MB/s of KCP payload through ``FECDecoder.decode``, one data packet lost per group."""
    payloads = _fec_payloads(groups * data_shards, packet_size)
    encoder = FECEncoder(data_shards, parity_shards)
    stream: list[bytes] = []
    for number, payload in enumerate(payloads):
        packets = encoder.encode(payload, 0)
        if number % data_shards != (number // data_shards) % data_shards:
            stream.append(packets[0])
        stream.extend(packets[1:])
    decode = FECDecoder(data_shards, parity_shards).decode
    recovered = 0
    start = time.process_time()
    for packet in stream:
        recovered += len(decode(packet))
    elapsed = max(time.process_time() - start, 1e-9)
    if recovered != groups:
        raise AssertionError(f"FEC recovered {recovered} of {groups} lost packets")
    return sum(map(len, payloads)) / elapsed / 1e6


def loaded_sender(in_flight: int = 1024) -> tuple[KCP, int]:
    """kcp-go's BenchmarkFlush set-up: *in_flight* segments sent once, none due for 10 s.

    Returns the core and the time at which it was last flushed.
    """
    kcp = KCP(0x11223344)
    kcp.wndsize(in_flight, in_flight)
    now = 1_000
    for sn in range(in_flight):
        seg = Segment(0, b"")
        seg.sn = sn
        seg.xmit = 1
        seg.rto = 10_000
        seg.resendts = now + 10_000
        kcp.snd_buf.append(seg)
    kcp.snd_nxt = in_flight
    kcp.flush(now)  # one full scan; later flushes find nothing due
    kcp.take_output()
    return kcp, now


def flush_idle_us(in_flight: int = 1024, calls: int = 5000) -> float:
    """Microseconds per ``flush()`` with *in_flight* segments sent once and none due."""
    kcp, now = loaded_sender(in_flight)
    flush = kcp.flush
    start = time.process_time()
    for _ in range(calls):
        flush(now)
    return (time.process_time() - start) / calls * 1e6


def _bench_config(workload: str) -> Config:
    if workload == "echo":
        crypto: dict[str, Any] = {
            "crypt": "salsa20",
            "key": "bench",
            "data_shards": 10,
            "parity_shards": 3,
        }
    else:
        crypto = {}
    return Config(
        nodelay=1,
        interval=10,
        resend=2,
        nc=1,
        sndwnd=1024,
        rcvwnd=1024,
        mtu=1400,
        stream=True,
        **crypto,
    )


async def _session_speed(workload: str, message: int, total: int) -> float:
    config = _bench_config(workload)
    listener = await listen(("127.0.0.1", 0), config)
    server_tasks: list[asyncio.Task[int]] = []

    async def accept() -> None:
        while True:
            session = await listener.accept()
            server_tasks.append(asyncio.ensure_future(serve_session(session, workload)))

    acceptor = asyncio.ensure_future(accept())
    session = await dial(listener.local_address, config)
    try:
        session.set_deadline(asyncio.get_running_loop().time() + 60)
        result = await run_client(session, workload, total, message, pingpong=workload == "echo")
        return result.mbps
    finally:
        session.close()
        acceptor.cancel()
        for task in server_tasks:
            task.cancel()
        listener.close()


def session_speed_mbps(workload: str, message: int, total: int) -> float:
    """kcp-go's EchoSpeed/SinkSpeed: MB/s moving *total* bytes in *message*-byte pieces."""
    return asyncio.run(_session_speed(workload, message, max(total, message)))


def _median(measure: Callable[[], float | None], runs: int) -> float | None:
    values = [measure() for _ in range(runs)]
    if any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` subcommand's flags."""
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per measurement; the median is shown (3)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds: aes, salsa20 and none only, one run, small session transfers",
    )
    parser.add_argument(
        "--cipher",
        action="append",
        choices=[n for n in CIPHER_NAMES if n != "null"],
        metavar="NAME",
        help="measure only this cipher (repeatable)",
    )


def run_bench_command(args: argparse.Namespace) -> int:
    """``pykcp bench``: print the table."""
    runs = 1 if args.quick else max(1, args.runs)
    quick = args.quick
    names = args.cipher or (
        ["aes", "salsa20", "none"]
        if quick
        else [n for n in CIPHER_NAMES if n not in ("null", "aes-128-gcm")]
    )
    out = sys.stdout
    print(
        f"pykcp bench (median of {runs} run{'s' if runs > 1 else ''}; Python "
        f"{sys.version.split()[0]}; MB = 10^6 bytes)",
        file=out,
    )
    print(f"{'benchmark':<30} {'value':>12}  unit", file=out)

    def row(label: str, value: float | None, unit: str, digits: int = 1) -> None:
        shown = "-" if value is None else f"{value:,.{digits}f}"
        print(f"{label:<30} {shown:>12}  {unit}", file=out, flush=True)

    iterations = 200 if quick else None
    for name in names:
        kcpgo = _KCPGO_NAMES.get(name, name)
        slow_iterations = 5 if quick and name in _SLOW_CIPHERS else iterations
        row(
            f"{kcpgo} ({name})",
            _median(partial(cipher_raw_mbps, name, slow_iterations), runs),
            "MB/s",
        )
        row(
            "  + framing (seal+open)",
            _median(partial(cipher_codec_mbps, name, slow_iterations), runs),
            "MB/s",
        )
    row("CRC32", _median(lambda: crc32_mbps(2000 if quick else 20000), runs), "MB/s")
    groups = 20 if quick else 100
    row("FECEncode 10/3", _median(lambda: fec_encode_mbps(10, 3, groups), runs), "MB/s")
    row("FECDecode 10/3", _median(lambda: fec_decode_mbps(10, 3, groups), runs), "MB/s")
    row(
        "Flush (1024 in flight)",
        _median(lambda: flush_idle_us(1024, 500 if quick else 5000), runs),
        "us/op",
        2,
    )
    echo_sizes = (
        [(4096, "4K"), (65536, "64K")]
        if quick
        else [
            (4096, "4K"),
            (65536, "64K"),
            (524288, "512K"),
            (1048576, "1M"),
        ]
    )
    sink_sizes = (
        [(65536, "64K")]
        if quick
        else [
            (4096, "4K"),
            (65536, "64K"),
            (524288, "512K"),
            (1048576, "1M"),
        ]
    )
    echo_total = (256 << 10) if quick else (4 << 20)
    sink_total = (1 << 20) if quick else (16 << 20)
    for size, label in echo_sizes:
        row(
            f"EchoSpeed{label}",
            _median(partial(session_speed_mbps, "echo", size, echo_total), runs),
            "MB/s",
            2,
        )
    for size, label in sink_sizes:
        row(
            f"SinkSpeed{label}",
            _median(partial(session_speed_mbps, "sink", size, sink_total), runs),
            "MB/s",
            2,
        )
    return 0
