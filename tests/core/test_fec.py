"""FEC layer: kcp-go framing and parity (golden vectors), encoder rules, decoder, autotune, OOB."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pykcp.core.errors import ConfigError
from pykcp.core.fec import (
    MAX_SHARD_SETS,
    AutoTune,
    FECDecoder,
    FECEncoder,
    decode_oob,
    encode_oob,
    paws,
)
from pykcp.core.snmp import Snmp
from pykcp.core.wire import (
    FEC_HEADER_SIZE,
    FEC_OVERHEAD,
    MTU_LIMIT,
    TYPE_DATA,
    TYPE_OOB,
    TYPE_PARITY,
)
from tests.vectors import hex_list, load

FEC_VECTORS = load("fec")


def push_segment(conv: int, sn: int, data: bytes, ts: int = 100) -> bytes:
    """A KCP PUSH segment (conv, cmd 81, frg 0, wnd 32, ts, sn, una 0, len, data)."""
    return struct.pack("<IBBHIIII", conv, 81, 0, 32, ts, sn, 0, len(data)) + data


def payloads(count: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(1, 300)) for _ in range(count)]


def stream(encoder: FECEncoder, items: list[bytes], now: int = 0) -> list[bytes]:
    out: list[bytes] = []
    for item in items:
        out.extend(encoder.encode(item, now))
    return out


def seqid(packet: bytes) -> int:
    return int.from_bytes(packet[:4], "little")


def flag(packet: bytes) -> int:
    return int.from_bytes(packet[4:6], "little")


# -- constants and framing ------------------------------------------------------------------


def test_constants() -> None:
    assert (FEC_HEADER_SIZE, FEC_OVERHEAD) == (6, 8)
    assert (TYPE_DATA, TYPE_PARITY, TYPE_OOB) == (0xF1, 0xF2, 0xF3)


def test_paws_examples() -> None:
    assert paws(2) == 0xFFFFFFFE
    assert paws(3) == paws(5) == 0xFFFFFFFF
    assert paws(13) == 0xFFFFFFF7
    assert paws(30) == 0xFFFFFFF0


def test_worked_example_2_plus_1() -> None:
    """fec.md §9.3: a complete group accepted and rebuilt by a kcp-go 5.6.1 listener."""
    encoder = FECEncoder(2, 1)
    hello = push_segment(0x12345678, 0, b"hello")
    world = push_segment(0x12345678, 1, b"world!!")
    packets = encoder.encode(hello, 0) + encoder.encode(world, 1)
    assert [p.hex() for p in packets] == [
        "00000000f1001f0078563412510020006400000000000000000000000500000068656c6c6f",
        "01000000f1002100785634125100200064000000010000000000000007000000776f726c642121",
        "02000000f20063007856341251002000640000000200000000000000010000005671506c794242",
    ]
    decoder = FECDecoder(2, 1)
    assert decoder.decode(packets[1]) == []
    assert decoder.decode(packets[2]) == [hello]


@pytest.mark.parametrize(
    "vector", FEC_VECTORS, ids=lambda v: f"{v['data_shards']}+{v['parity_shards']}"
)
def test_encoder_matches_kcp_go(vector: dict[str, object]) -> None:
    data_shards, parity_shards = int(str(vector["data_shards"])), int(str(vector["parity_shards"]))
    encoder = FECEncoder(data_shards, parity_shards)
    # The vectors start at the second group: run one group through first.
    stream(encoder, [b"\x00" * 24] * data_shards)
    assert encoder.next_seqid == vector["first_seqid"]
    packets = stream(encoder, hex_list(vector["payloads_hex"]))  # type: ignore[arg-type]
    assert [p for p in packets if flag(p) == TYPE_DATA] == hex_list(
        vector["data_packets_hex"]  # type: ignore[arg-type]
    )
    assert [p for p in packets if flag(p) == TYPE_PARITY] == hex_list(
        vector["parity_packets_hex"]  # type: ignore[arg-type]
    )
    # Parity follows the group's last data packet.
    assert [flag(p) for p in packets] == [TYPE_DATA] * data_shards + [TYPE_PARITY] * parity_shards


@pytest.mark.parametrize(
    "vector", FEC_VECTORS, ids=lambda v: f"{v['data_shards']}+{v['parity_shards']}"
)
def test_decoder_rebuilds_kcp_go_packets(vector: dict[str, object]) -> None:
    data = hex_list(vector["data_packets_hex"])  # type: ignore[arg-type]
    parity = hex_list(vector["parity_packets_hex"])  # type: ignore[arg-type]
    originals = hex_list(vector["payloads_hex"])  # type: ignore[arg-type]
    data_shards, parity_shards = len(data), len(parity)
    rng = random.Random(7)
    for lost_count in range(1, parity_shards + 1):
        lost = sorted(rng.sample(range(data_shards), min(lost_count, data_shards)))
        snmp = Snmp()
        decoder = FECDecoder(data_shards, parity_shards, snmp=snmp)
        received = [p for i, p in enumerate(data) if i not in lost] + parity
        rebuilt: list[bytes] = []
        for packet in received:
            rebuilt.extend(decoder.decode(memoryview(packet)))
        assert rebuilt == [originals[i] for i in lost]
        assert snmp.FECRecovered == len(lost)
        assert snmp.FECErrs == 0


# -- encoder ---------------------------------------------------------------------------------


def test_data_packet_layout_and_size_field() -> None:
    encoder = FECEncoder(3, 2)
    (packet,) = encoder.encode(b"abc", 0)
    assert packet == struct.pack("<IHH", 0, TYPE_DATA, 5) + b"abc"
    (packet,) = encoder.encode(b"", 0)
    assert packet == struct.pack("<IHH", 1, TYPE_DATA, 2)
    with pytest.raises(ValueError):
        encoder.encode(b"x" * 0xFFFE, 0)


def test_parity_is_padded_to_the_longest_shard() -> None:
    encoder = FECEncoder(3, 2)
    packets = stream(encoder, [b"a" * 10, b"b" * 40, b"c" * 3])
    assert [len(p) for p in packets] == [18, 48, 11, 48, 48]
    assert [seqid(p) for p in packets] == [0, 1, 2, 3, 4]


def test_seqid_wraps_at_paws() -> None:
    encoder = FECEncoder(10, 3)
    wrap = paws(13)
    encoder.next_seqid = wrap - 13
    packets = stream(encoder, payloads(20))
    ids = [seqid(p) for p in packets]
    assert ids[:13] == list(range(wrap - 13, wrap))
    assert ids[13:] == list(range(len(ids) - 13))
    with pytest.raises(ValueError):
        encoder.next_seqid = wrap


def test_parity_skipped_after_a_pause_but_seqids_consumed() -> None:
    encoder = FECEncoder(3, 2)
    first = stream(encoder, payloads(3), now=1000)
    assert [flag(p) for p in first] == [TYPE_DATA] * 3 + [TYPE_PARITY] * 2
    # Last two data packets of the group 499 ms apart: parity.
    group = encoder.encode(b"a", 2000) + encoder.encode(b"b", 2000) + encoder.encode(b"c", 2499)
    assert [flag(p) for p in group] == [TYPE_DATA] * 3 + [TYPE_PARITY] * 2
    # 500 ms apart: no parity, and its two seqids are skipped.
    group = encoder.encode(b"a", 3000) + encoder.encode(b"b", 3000) + encoder.encode(b"c", 3500)
    assert [flag(p) for p in group] == [TYPE_DATA] * 3
    assert [seqid(p) for p in group] == [10, 11, 12]
    assert seqid(encoder.encode(b"d", 3500)[0]) == 15


def test_single_data_shard_first_group_has_no_parity() -> None:
    """Latest kcp-go: the previous packet time starts at 0, so group 0 of a 1+n code is skipped."""
    encoder = FECEncoder(1, 2)
    assert len(encoder.encode(b"x", 10)) == 1
    assert len(encoder.encode(b"y", 20)) == 3
    assert len(encoder.encode(b"z", 900)) == 1
    legacy = FECEncoder(1, 2, max_latency_ms=None)  # kcp-go 5.6.1: always parity
    assert len(legacy.encode(b"x", 10)) == 3
    assert len(legacy.encode(b"x", 10_000)) == 3


def test_bad_shard_counts_raise() -> None:
    for ds, ps in ((0, 1), (1, 0), (200, 57)):
        with pytest.raises(ConfigError):
            FECEncoder(ds, ps)
        with pytest.raises(ConfigError):
            FECDecoder(ds, ps)


# -- decoder ---------------------------------------------------------------------------------


def test_full_group_counts_and_rebuilds_nothing() -> None:
    snmp = Snmp()
    decoder = FECDecoder(3, 2, snmp=snmp)
    for packet in stream(FECEncoder(3, 2), payloads(6)):
        assert decoder.decode(packet) == []
    assert snmp.FECFullShardSet == 2
    assert snmp.FECParityShards == 4
    assert snmp.FECRecovered == snmp.FECErrs == 0


def test_recovery_as_soon_as_enough_shards_and_order_independent() -> None:
    items = payloads(10)
    packets = stream(FECEncoder(10, 3), items)
    received = [p for i, p in enumerate(packets) if i not in (2, 5, 9)]
    random.Random(3).shuffle(received)
    decoder = FECDecoder(10, 3)
    outputs = [decoder.decode(p) for p in received]
    assert sorted(outputs[9]) == sorted([items[2], items[5], items[9]])
    assert all(out == [] for i, out in enumerate(outputs) if i != 9)


def test_duplicates_and_stragglers_are_ignored() -> None:
    snmp = Snmp()
    items = payloads(3)
    packets = stream(FECEncoder(3, 2), items)
    decoder = FECDecoder(3, 2, snmp=snmp)
    assert decoder.decode(packets[0]) == []
    assert decoder.decode(packets[0]) == []  # duplicate of a held shard
    assert decoder.decode(packets[3]) == []
    assert decoder.decode(packets[3]) == []
    assert snmp.FECParityShards == 1
    assert decoder.decode(packets[4]) == [items[1], items[2]]
    # The group is decoded: late or repeated packets cannot rebuild it again.
    for packet in packets:
        assert decoder.decode(packet) == []
    assert snmp.FECRecovered == 2


def test_rebuilt_payload_with_bad_size_field_is_dropped_and_counted() -> None:
    snmp = Snmp()
    decoder = FECDecoder(2, 1, snmp=snmp)
    encoder = FECEncoder(2, 1)
    packets = stream(encoder, [b"\x01" * 10, b"\x02" * 10])
    forged = bytearray(packets[2])
    forged[FEC_HEADER_SIZE] ^= 0xFF  # parity of the size fields: the rebuilt size is wrong
    assert decoder.decode(packets[1]) == []
    assert decoder.decode(bytes(forged)) == []
    assert snmp.FECErrs == 1
    assert snmp.FECRecovered == 0


def test_malformed_packets_are_counted_as_input_errors() -> None:
    snmp = Snmp()
    decoder = FECDecoder(3, 2, snmp=snmp)
    bad = [
        b"",
        b"\x00\x00\x00\x00\xf1\x00\x02",  # shorter than header + size
        struct.pack("<IHH", 0, 0x51, 4) + b"ab",  # not an FEC type
        struct.pack("<IHH", 0xFFFFFFFF, TYPE_DATA, 4) + b"ab",  # seqid >= paws(5)
        struct.pack("<IHH", 1, TYPE_DATA, 4) + b"a" * MTU_LIMIT,  # longer than kcp-go can read
    ]
    for packet in bad:
        assert decoder.decode(packet) == []
    assert snmp.InErrs == len(bad)
    assert decoder.held_groups == 0


def test_old_groups_are_dropped_and_their_data_counted() -> None:
    snmp = Snmp()
    decoder = FECDecoder(3, 2, snmp=snmp)
    packets = stream(FECEncoder(3, 2), payloads(3 * 8))
    # Keep only the first data packet of each group: no group can be rebuilt.
    for packet in packets:
        if seqid(packet) % 5 == 0:
            decoder.decode(packet)
    assert decoder.held_groups == MAX_SHARD_SETS + 1
    assert snmp.FECShortShards == 8 - (MAX_SHARD_SETS + 1)
    assert snmp.FECShardSet == MAX_SHARD_SETS + 1
    assert snmp.FECShardMin == 7
    # A straggler for a group behind the window is not kept.
    decoder.decode(packets[1])
    assert decoder.held_groups == MAX_SHARD_SETS + 1
    assert snmp.FECShortShards == 8 - MAX_SHARD_SETS


def test_parity_for_a_group_never_seen_is_kept_for_recovery() -> None:
    items = payloads(2)
    packets = stream(FECEncoder(2, 2), items)
    decoder = FECDecoder(2, 2)
    assert decoder.decode(packets[3]) == []
    assert decoder.decode(packets[2]) == items


def test_sequence_wrap_keeps_recovering() -> None:
    encoder = FECEncoder(3, 2)
    encoder.next_seqid = paws(5) - 10
    items = payloads(12)
    packets = stream(encoder, items)
    decoder = FECDecoder(3, 2)
    rebuilt: list[bytes] = []
    for i, packet in enumerate(packets):
        if i % 5 != 1:
            rebuilt.extend(decoder.decode(packet))
    assert rebuilt == [items[i] for i in range(1, 12, 3)]


# -- autotune --------------------------------------------------------------------------------


def test_autotune_finds_the_pulse_widths() -> None:
    tune = AutoTune()
    assert tune.find_periods() == (-1, -1)
    for s in range(40):
        tune.sample(s % 13 < 10, s)
    assert tune.find_periods() == (10, 3)


def test_autotune_needs_consecutive_seqids() -> None:
    tune = AutoTune()
    for s in range(40):
        if s != 5:
            tune.sample(s % 13 < 10, s)
    assert tune.find_periods() == (-1, -1)
    later = AutoTune()
    for s in range(2**32 - 20, 2**32 + 20):  # across the u32 wrap, out of order
        later.sample(s % 5 < 3, s & 0xFFFFFFFF)
    assert later.find_periods() == (3, 2)


@pytest.mark.parametrize(
    ("start", "layout"), [((1, 1), (10, 3)), ((10, 3), (3, 2)), ((1, 1), (1, 4))]
)
def test_decoder_tunes_itself_to_the_sender_layout(
    start: tuple[int, int], layout: tuple[int, int]
) -> None:
    data_shards, parity_shards = layout
    n = data_shards + parity_shards
    items = payloads(data_shards * 12)
    packets = stream(FECEncoder(data_shards, parity_shards, max_latency_ms=None), items)
    decoder = FECDecoder(*start)
    rebuilt: list[bytes] = []
    lost: list[bytes] = []
    for packet in packets:
        group, index = divmod(seqid(packet), n)
        if group >= 4 and index == group % data_shards:
            lost.append(items[group * data_shards + index])
            continue
        rebuilt.extend(decoder.decode(packet))
    assert (decoder.data_shards, decoder.parity_shards) == layout
    assert [r for r in rebuilt if r in lost] == lost
    # Groups flushed by the retune may be rebuilt from parity although their data arrived.
    assert all(r in items for r in rebuilt)


# -- hostile input ---------------------------------------------------------------------------


def test_hostile_flood_keeps_memory_bounded() -> None:
    rng = random.Random(2024)
    snmp = Snmp()
    decoder = FECDecoder(10, 3, snmp=snmp)
    legit = stream(FECEncoder(10, 3), payloads(200))
    max_groups = MAX_SHARD_SETS + 1
    max_bytes = max_groups * (10 - 1) * MTU_LIMIT
    base = 0
    for i in range(100_000):
        kind = i % 8
        if kind == 0:
            packet = legit[i // 8 % len(legit)]
        elif kind == 1:
            packet = rng.randbytes(rng.randint(0, 1600))
        elif kind == 2:  # one group flooded with distinct and repeated seqids
            packet = struct.pack("<IH", 130 + rng.randint(0, 12), rng.choice((0xF1, 0xF2)))
            packet += rng.randbytes(rng.randint(2, 1494))
        elif kind == 3:  # far past / far future
            packet = struct.pack("<IH", rng.getrandbits(32), TYPE_PARITY) + rng.randbytes(30)
        elif kind == 4:  # size fields larger than the shard
            packet = struct.pack("<IHH", base + rng.randint(0, 12), TYPE_DATA, 0xFFFF) + b"x"
        elif kind == 5:  # parity for groups nobody sent
            base = rng.getrandbits(31)
            packet = struct.pack("<IH", base, TYPE_PARITY) + rng.randbytes(rng.randint(2, 1494))
        elif kind == 6:
            packet = rng.randbytes(rng.randint(0, 7))
        else:
            packet = struct.pack("<IH", base + 13 + i % 13, 0xF1 + i % 2) + rng.randbytes(1400)
        out = decoder.decode(packet)
        assert isinstance(out, list)
        assert decoder.held_groups <= max_groups
        if i % 997 == 0:
            assert decoder.held_bytes <= max_bytes
    assert decoder.held_bytes <= max_bytes
    assert snmp.InErrs > 0


# -- encoder + decoder with loss -------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    data_shards=st.integers(1, 12),
    parity_shards=st.integers(1, 4),
    groups=st.integers(1, 6),
    loss=st.floats(0.0, 0.6),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_whatever_is_recoverable_is_recovered(
    data_shards: int, parity_shards: int, groups: int, loss: float, shuffle: bool, seed: int
) -> None:
    rng = random.Random(seed)
    n = data_shards + parity_shards
    items = [rng.randbytes(rng.randint(0, 200)) for _ in range(groups * data_shards)]
    packets = stream(FECEncoder(data_shards, parity_shards, max_latency_ms=None), items)
    delivered = [p for p in packets if rng.random() >= loss]
    if shuffle:  # reorder within each group only: the window keeps 4 groups
        delivered.sort(key=lambda p: (seqid(p) // n, rng.random()))
    snmp = Snmp()
    decoder = FECDecoder(data_shards, parity_shards, snmp=snmp)
    rebuilt: list[bytes] = []
    for packet in delivered:
        rebuilt.extend(decoder.decode(packet))
    expected: list[bytes] = []
    for group in range(groups):
        in_group = [p for p in delivered if seqid(p) // n == group]
        if len(in_group) < data_shards:
            continue
        # Recovery happens when the data_shards-th packet of the group arrives.
        seen = {seqid(p) % n for p in in_group[:data_shards]}
        expected.extend(items[group * data_shards + i] for i in range(data_shards) if i not in seen)
    assert sorted(rebuilt) == sorted(expected)
    assert snmp.FECRecovered == len(expected)
    assert snmp.FECErrs == 0


# -- OOB -------------------------------------------------------------------------------------


def test_oob_layout_and_round_trip() -> None:
    packet = encode_oob(0x01020304, b"ping")
    assert packet.hex() == "fffffffff3000a0004030201" + b"ping".hex()
    assert decode_oob(packet) == (0x01020304, b"ping")
    assert decode_oob(memoryview(encode_oob(7, b""))) == (7, b"")


def test_oob_decode_rejects_other_packets() -> None:
    assert decode_oob(b"\xff" * 11) is None
    data = FECEncoder(1, 1).encode(b"x" * 20, 0)[0]
    assert decode_oob(data) is None
    with pytest.raises(ValueError):
        encode_oob(1, b"x" * 0xFFFA)
