"""kcp-go's forward error correction layer (sans-IO): FEC framing, encoder, decoder, OOB codec.

Wire format (protocol.md §3.1, §4), all little-endian, inside the crypto layer::

    data   : seqid u32 | F1 00 | size u16 | KCP bytes        size = len(KCP bytes) + 2
    parity : seqid u32 | F2 00 | Reed-Solomon parity of the group's padded shards
    OOB    : FF FF FF FF | F3 00 | size u16 | conv u32 | payload

One seqid counter numbers data and parity packets, wrapping at ``paws`` (a multiple of
``data_shards + parity_shards``), so group = seqid // n and index = seqid % n.

The encoder follows the latest kcp-go (5.6.1 differs only in never skipping parity). The
decoder is latest kcp-go's group-set decoder with its autotuner, hardened against hostile
input: nothing here raises on wire data, and memory is bounded by at most
``MAX_SHARD_SETS + 1`` groups of fewer than ``data_shards`` packets of at most
:data:`MTU_LIMIT` bytes each.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections import deque
from typing import Final

from pykcp.core.errors import ConfigError
from pykcp.core.reedsolomon import MAX_TOTAL_SHARDS, ReedSolomon, get_codec
from pykcp.core.snmp import Snmp
from pykcp.core.trace import FEC_LOST, FEC_RECOVERED, Tracer
from pykcp.core.wire import (
    FEC_HEADER_SIZE,
    FEC_OVERHEAD,
    MTU_LIMIT,
    OOB_HEADER_SIZE,
    OOB_SEQID,
    TYPE_DATA,
    TYPE_OOB,
    TYPE_PARITY,
    diff32,
)

__all__ = [
    "MAX_FEC_ENCODE_LATENCY",
    "MAX_SHARD_SETS",
    "AutoTune",
    "FECDecoder",
    "FECEncoder",
    "decode_oob",
    "encode_oob",
    "paws",
]


MAX_FEC_ENCODE_LATENCY: Final = 500
"""ms: latest kcp-go sends no parity for a group whose last two data packets are this far apart."""

MAX_SHARD_SETS: Final = 3
"""Groups more than this many groups behind the newest one are dropped (kcp-go maxShardSets)."""

AUTOTUNE_SAMPLES: Final = 258

_HEADER = struct.Struct("<IHH")  # seqid, type, size
_PARITY_HEADER = struct.Struct("<IH")
_unpack_fec_header = _PARITY_HEADER.unpack_from
_OOB_HEADER = struct.Struct("<IHHI")
_U32: Final = 0xFFFFFFFF

# Private copies of the constants for the code below: C constants in the compiled build
# (fec.pxd), where imported names stay Python objects.
_FEC_HEADER_SIZE = FEC_HEADER_SIZE
_FEC_OVERHEAD = FEC_OVERHEAD
_MTU_LIMIT = MTU_LIMIT
_TYPE_DATA = TYPE_DATA
_TYPE_PARITY = TYPE_PARITY
_MAX_SHARD_SETS = MAX_SHARD_SETS


def paws(shard_count: int) -> int:
    """Where the seqid wraps: the largest multiple of *shard_count* <= 0xFFFFFFFF."""
    return 0xFFFFFFFF // shard_count * shard_count


def _check_shards(data_shards: int, parity_shards: int) -> None:
    if data_shards < 1 or parity_shards < 1:
        raise ConfigError(
            f"FEC needs data_shards >= 1 and parity_shards >= 1, got {data_shards}, {parity_shards}"
        )
    if data_shards + parity_shards > MAX_TOTAL_SHARDS:
        raise ConfigError(f"FEC supports at most {MAX_TOTAL_SHARDS} shards in total")


class FECEncoder:
    """Adds the FEC header to each KCP datagram and emits parity after every group.

    ``max_latency_ms`` is latest kcp-go's parity skip (protocol.md §3.4): a group whose last
    two data packets are that far apart gets no parity, its parity seqids are skipped.
    ``None`` never skips, as kcp-go 5.6.1.
    """

    __slots__ = (
        "_codec",
        "_last_ms",
        "_max_latency_ms",
        "_max_size",
        "_next",
        "_paws",
        "_shards",
        "data_shards",
        "parity_shards",
        "snmp",
    )

    def __init__(
        self,
        data_shards: int,
        parity_shards: int,
        *,
        snmp: Snmp | None = None,
        max_latency_ms: int | None = MAX_FEC_ENCODE_LATENCY,
    ) -> None:
        _check_shards(data_shards, parity_shards)
        self.data_shards = data_shards
        self.parity_shards = parity_shards
        self.snmp = snmp if snmp is not None else Snmp()
        self._codec: ReedSolomon = get_codec(data_shards, parity_shards)
        self._paws = paws(data_shards + parity_shards)
        self._max_latency_ms = max_latency_ms
        self._next = 0
        self._shards: list[bytes] = []
        self._max_size = 0
        self._last_ms: int | None = None

    @property
    def next_seqid(self) -> int:
        """The seqid the next FEC packet will carry (settable, to the start of a group)."""
        return self._next

    @next_seqid.setter
    def next_seqid(self, value: int) -> None:
        n = self.data_shards + self.parity_shards
        if not 0 <= value < self._paws or value % n or self._shards:
            raise ValueError("next_seqid must start a group below paws, between groups")
        self._next = value

    def encode(self, kcp_payload: bytes, now_ms: int) -> list[bytes]:
        """The data packet for *kcp_payload*, followed by the group's parity packets if it
        completes a group. ``ValueError`` if the payload cannot fit the u16 size field."""
        buf = bytearray(_FEC_OVERHEAD)
        buf += kcp_payload
        return [bytes(packet) for packet in self.encode_into(buf, 0, now_ms)]

    def encode_into(self, buf: bytearray, head: int, now_ms: int) -> list[bytearray]:
        """:meth:`encode` inside one buffer per datagram (protocol.md §6.2): *buf* holds the
        KCP bytes after ``head + 8`` bytes of headroom, and the FEC header is written at
        *head*. Parity packets come back as new buffers with the same *head* room."""
        size = len(buf) - head - _FEC_HEADER_SIZE
        if size > 0xFFFF:
            raise ValueError(f"KCP payload of {size - 2} bytes is too long for FEC")
        seqid = self._next
        _HEADER.pack_into(buf, head, seqid, _TYPE_DATA, size)
        seqid += 1
        if seqid == self._paws:
            seqid = 0
        self._next = seqid
        shards = self._shards
        shards.append(bytes(memoryview(buf)[head + _FEC_HEADER_SIZE :]))
        if size > self._max_size:
            self._max_size = size
        out = [buf]
        if len(shards) == self.data_shards:
            last = self._last_ms
            limit = self._max_latency_ms
            # Latest kcp-go: no parity after a pause (its first-packet timestamp is 0, so a
            # one-shard first group never gets parity either).
            if limit is None or (last is not None and now_ms - last < limit):
                for parity in self._codec.encode_padded(shards, self._max_size):
                    packet = bytearray(head + _FEC_HEADER_SIZE)
                    _PARITY_HEADER.pack_into(packet, head, self._next, _TYPE_PARITY)
                    packet += parity
                    out.append(packet)
                    self._advance(1)
            else:
                self._advance(self.parity_shards)
            self._shards = []
            self._max_size = 0
        self._last_ms = now_ms
        return out

    def _advance(self, count: int) -> None:
        self._next = (self._next + count) % self._paws


class AutoTune:
    """Detects the peer's (data_shards, parity_shards) from the seqids of data and parity
    packets (latest kcp-go autotune.go): the widths of the first complete data pulse and
    parity pulse in the last 258 samples ordered by seqid."""

    __slots__ = ("_samples",)

    def __init__(self) -> None:
        # seqid * 2 + is_data, as a float: one number per sample, and CPython sorts floats
        # twice as fast as ints above 2^30 (exact: values stay below 2^33).
        self._samples: deque[float] = deque(maxlen=AUTOTUNE_SAMPLES)

    def sample(self, is_data: bool, seqid: int) -> None:
        self._samples.append(float(seqid << 1 | is_data))

    def find_periods(self) -> tuple[int, int]:
        """(data period, parity period); -1 for a period not found."""
        samples = self._samples
        if len(samples) < 3:
            return -1, -1
        # kcp-go sorts with a wrap-aware comparison. Ordering by the signed distance from the
        # newest sample gives the same order whenever the samples span less than 2^31: that
        # is the plain sort rotated to start half the seqid space before the newest sample.
        ordered = sorted(samples)
        origin = float((((int(samples[-1]) >> 1) - 0x8000_0000) & _U32) << 1)
        start = bisect_left(ordered, origin)
        if start:
            ordered = ordered[start:] + ordered[:start]
        return _pulse_width(ordered, 1), _pulse_width(ordered, 0)


def _pulse_width(ordered: list[float], bit: int) -> int:
    """Width of the first complete run of *bit* after a change into it; -1 if there is none
    or the seqids are not consecutive up to its end (kcp-go FindPeriod)."""
    previous = int(ordered[0])
    left = -1
    for index in range(1, len(ordered)):
        current = int(ordered[index])
        if current >> 1 != ((previous >> 1) + 1) & _U32:
            return -1
        if previous & 1 != bit and current & 1 == bit:
            left = index
            break
        previous = current
    if left < 0:
        return -1
    previous = int(ordered[left])
    for index in range(left + 1, len(ordered)):
        current = int(ordered[index])
        if current >> 1 != ((previous >> 1) + 1) & _U32:
            return -1
        if previous & 1 == bit and current & 1 != bit:
            return index - left
        previous = current
    return -1


class _Group:
    """The shards of one group collected so far (index -> bytes from offset 6)."""

    __slots__ = ("data_count", "done", "shards")

    def __init__(self) -> None:
        self.shards: dict[int, bytes] = {}
        self.data_count = 0
        self.done = False


class FECDecoder:
    """Rebuilds lost data packets from the groups' surviving packets (latest kcp-go, §5).

    :meth:`decode` takes every F1/F2 packet (starting at the seqid) and returns the KCP
    payloads it could rebuild, already trimmed by their size field. Counters (kcp-go names):

    - ``FECParityShards``: parity packets accepted; ``FECFullShardSet``: groups complete without
      loss; ``FECRecovered``: payloads rebuilt; ``FECErrs``: rebuilds that failed or produced an
      invalid size field; ``FECShardSet`` (gauge): groups held; ``FECShardMin`` (gauge): the
      newest group id (what kcp-go stores under that name).
    - ``FECShortShards`` (5.6.1's name): data packets held by a group that was dropped before
      it could be used (aged out behind the window, or flushed by a retune), i.e. data packets
      FEC could not protect.
    - ``InErrs``: packets that are not FEC packets at all (shorter than 8 bytes, longer than
      :data:`_MTU_LIMIT`, unknown type, seqid >= paws).

    Deviations from kcp-go, all about hostile or unusual input: a group that has been decoded
    ignores later packets (kcp-go starts collecting it again and may rebuild it twice);
    a group that appears ahead of the newest group after a jump of nearly 2^31 is dropped;
    after a retune the window restarts at the next packet instead of keeping the old newest
    group id measured in the old group size.
    """

    __slots__ = (
        "_codec",
        "_groups",
        "_newest",
        "_paws",
        "_should_tune",
        "_tuner",
        "data_shards",
        "parity_shards",
        "shard_count",
        "snmp",
        "trace",
    )

    def __init__(self, data_shards: int, parity_shards: int, *, snmp: Snmp | None = None) -> None:
        _check_shards(data_shards, parity_shards)
        self.snmp = snmp if snmp is not None else Snmp()
        self.trace: Tracer | None = None
        """Called with fec_recovered and fec_lost events (see :mod:`pykcp.core.trace`)."""
        self._tuner = AutoTune()
        self._should_tune = False
        self._groups: dict[int, _Group] = {}
        self._newest: int | None = None
        self._configure(data_shards, parity_shards)

    def _configure(self, data_shards: int, parity_shards: int) -> None:
        self.data_shards = data_shards
        self.parity_shards = parity_shards
        self.shard_count = data_shards + parity_shards
        self._paws = paws(self.shard_count)
        self._codec: ReedSolomon = get_codec(data_shards, parity_shards)

    @property
    def held_groups(self) -> int:
        """Groups currently tracked (at most ``_MAX_SHARD_SETS + 1``)."""
        return len(self._groups)

    @property
    def held_bytes(self) -> int:
        """Bytes of packets currently buffered."""
        return sum(len(s) for g in self._groups.values() for s in g.shards.values())

    def decode(self, packet: bytes | bytearray | memoryview) -> list[bytes]:
        """Feed one F1/F2 packet; returns the KCP payloads rebuilt thanks to it (maybe none)."""
        length = len(packet)
        if length < _FEC_OVERHEAD or length > _MTU_LIMIT:
            self.snmp.InErrs += 1
            return []
        seqid, flag = _unpack_fec_header(packet)
        if flag == _TYPE_DATA:
            is_data = True
        elif flag == _TYPE_PARITY:
            is_data = False
        else:
            self.snmp.InErrs += 1
            return []
        self._tuner.sample(is_data, seqid)
        if seqid >= self._paws:
            self.snmp.InErrs += 1
            return []
        n = self.shard_count
        group_id, index = divmod(seqid, n)
        if (index < self.data_shards) != is_data:
            self._should_tune = True
        if self._should_tune:
            self._retune()
            return []

        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = _Group()
            self.snmp.FECShardSet = len(self._groups)
        recovered: list[bytes] = []
        if group.done:
            if not is_data:
                self.snmp.FECParityShards += 1
        elif index not in group.shards:
            if is_data:
                group.data_count += 1
            else:
                self.snmp.FECParityShards += 1
            shards = group.shards
            shards[index] = bytes(packet[_FEC_HEADER_SIZE:])
            if len(shards) >= self.data_shards:
                recovered = self._decode_group(group)
                if recovered and self.trace is not None:
                    self.trace(FEC_RECOVERED, {"group": group_id, "count": len(recovered)})

        newest = self._newest
        if group_id != newest:
            if newest is None or diff32(group_id * n, newest * n) > 0:
                self._newest = group_id
                self.snmp.FECShardMin = group_id
                self._discard_old()
            elif not 0 <= diff32(newest * n, group_id * n) <= _MAX_SHARD_SETS * n:
                # A straggler behind the window: kcp-go creates its group and drops it at once.
                self._drop(group_id)
        return recovered

    def _decode_group(self, group: _Group) -> list[bytes]:
        snmp = self.snmp
        shards = group.shards
        group.shards = {}
        group.done = True
        data_count = group.data_count
        group.data_count = 0
        if data_count == self.data_shards:
            snmp.FECFullShardSet += 1
            return []
        size = max(map(len, shards.values()))
        try:
            rebuilt = self._codec.rebuild_data(shards, size)
        except ValueError:  # cannot happen with ds shards present; never let it escape
            snmp.FECErrs += 1
            return []
        out = []
        for index in sorted(rebuilt):
            shard = rebuilt[index]
            declared = shard[0] | shard[1] << 8
            if 2 <= declared <= len(shard):
                out.append(shard[2:declared])
            else:
                snmp.FECErrs += 1
        snmp.FECRecovered += len(out)
        return out

    def _discard_old(self) -> None:
        newest = self._newest
        assert newest is not None
        n = self.shard_count
        horizon = _MAX_SHARD_SETS * n
        stale = [g for g in self._groups if not 0 <= diff32(newest * n, g * n) <= horizon]
        for group_id in stale:
            self._drop(group_id)
        self.snmp.FECShardSet = len(self._groups)

    def _drop(self, group_id: int) -> None:
        group = self._groups.pop(group_id)
        self.snmp.FECShortShards += group.data_count
        if group.data_count and self.trace is not None:
            self.trace(FEC_LOST, {"group": group_id, "data": group.data_count})
        self.snmp.FECShardSet = len(self._groups)

    def _retune(self) -> None:
        data_period, parity_period = self._tuner.find_periods()
        if data_period > 0 and parity_period > 0 and data_period + parity_period < 256:
            if (data_period, parity_period) != (self.data_shards, self.parity_shards):
                for group in self._groups.values():
                    self.snmp.FECShortShards += group.data_count
                self._groups.clear()
                self._newest = None
                self._configure(data_period, parity_period)
                self.snmp.FECShardSet = 0
            self._should_tune = False


def encode_oob(conv: int, payload: bytes) -> bytes:
    """An out-of-band packet (latest kcp-go, type 0xF3): never FEC-protected nor counted in
    seqids. ``ValueError`` if *payload* cannot fit the u16 size field."""
    size = 2 + 4 + len(payload)
    if size > 0xFFFF:
        raise ValueError(f"OOB payload of {len(payload)} bytes is too long")
    return _OOB_HEADER.pack(OOB_SEQID, TYPE_OOB, size, conv & _U32) + payload


def decode_oob(packet: bytes | bytearray | memoryview) -> tuple[int, bytes] | None:
    """``(conv, payload)`` of an OOB packet, or ``None`` if it is not one.

    Like kcp-go the payload is everything after the conv: the size field is not used to trim.
    """
    if len(packet) < OOB_HEADER_SIZE:
        return None
    _, flag, _, conv = _OOB_HEADER.unpack_from(packet)
    if flag != TYPE_OOB:
        return None
    return conv, bytes(packet[OOB_HEADER_SIZE:])
