"""Reed-Solomon code: klauspost's default matrix, kcp-go 5.6.1 golden parity, reconstruction."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pykcp
from pykcp.core.errors import ConfigError
from pykcp.core.reedsolomon import (
    ReedSolomon,
    _Combiner,
    encoding_matrix,
    get_codec,
    gf_div,
    gf_inv,
    gf_mul,
    gf_pow,
)
from tests.vectors import hex_list, load

RS_VECTORS = load("rs")


def test_field_tables_match_the_spec() -> None:
    powers = [gf_pow(2, i) for i in range(16)]
    assert bytes(powers).hex() == "01020408102040801d3a74e8cd871326"
    assert gf_mul(0x1F, 3) ^ gf_mul(0x21, 2) == 0x63  # fec.md §9.3
    assert gf_mul(0x0F, 1) ^ gf_mul(8, 5) ^ gf_mul(6, 9) == 0x11  # fec.md §9.2
    assert gf_pow(0, 0) == 1 and gf_pow(0, 5) == 0


def test_field_inverse_and_division() -> None:
    for a in range(1, 256):
        assert gf_mul(a, gf_inv(a)) == 1
        assert gf_div(gf_mul(a, 0x53), 0x53) == a
    with pytest.raises(ZeroDivisionError):
        gf_inv(0)


def test_matrix_worked_examples() -> None:
    assert encoding_matrix(2, 1) == [[1, 0], [0, 1], [3, 2]]
    assert encoding_matrix(3, 2)[3:] == [[1, 1, 1], [0x0F, 0x08, 0x06]]
    rows = [bytes(r).hex() for r in encoding_matrix(10, 3)[10:]]
    assert rows == ["8196afb8d2c4fee80302", "9681b8afc4d2e8fe0203", "bfd6620a066fdfb70504"]


def test_matrix_is_systematic_for_every_size() -> None:
    for data, parity in ((1, 1), (7, 9), (30, 30), (255, 1)):
        matrix = encoding_matrix(data, parity)
        assert len(matrix) == data + parity
        for r in range(data):
            assert matrix[r] == [int(r == c) for c in range(data)]


def test_bytes_example_3_plus_2() -> None:
    rs = ReedSolomon(3, 2)
    data = [bytes.fromhex(h) for h in ("01020304", "05060708", "090a0b0c")]
    parity = rs.encode(data)
    assert [p.hex() for p in parity] == ["0d0e0f00", "11121354"]
    rebuilt = rs.reconstruct([None, data[1], None, parity[0], parity[1]])
    assert rebuilt == data + parity


@pytest.mark.parametrize(
    "vector", RS_VECTORS, ids=lambda v: f"{v['data_shards']}+{v['parity_shards']}x{v['shard_len']}"
)
def test_parity_matches_kcp_go(vector: dict[str, object]) -> None:
    rs = ReedSolomon(int(str(vector["data_shards"])), int(str(vector["parity_shards"])))
    data = hex_list(vector["data_hex"])  # type: ignore[arg-type]
    parity = hex_list(vector["parity_hex"])  # type: ignore[arg-type]
    assert rs.encode(data) == parity
    assert rs.verify(data + parity)


@pytest.mark.parametrize(
    "vector", RS_VECTORS, ids=lambda v: f"{v['data_shards']}+{v['parity_shards']}x{v['shard_len']}"
)
def test_golden_shards_survive_erasures(vector: dict[str, object]) -> None:
    data = hex_list(vector["data_hex"])  # type: ignore[arg-type]
    shards = data + hex_list(vector["parity_hex"])  # type: ignore[arg-type]
    rs = ReedSolomon(len(data), len(shards) - len(data))
    patterns = list(itertools.combinations(range(len(shards)), rs.parity_shards))
    for lost in random.Random(len(shards)).sample(patterns, min(40, len(patterns))):
        damaged: list[bytes | None] = [None if i in lost else s for i, s in enumerate(shards)]
        assert rs.reconstruct(damaged) == shards
        data_only = rs.reconstruct(damaged, data_only=True)
        assert data_only[: len(data)] == data


def test_every_erasure_pattern_3_plus_2() -> None:
    rs = ReedSolomon(3, 2)
    data = [bytes([i * 40 + j for j in range(9)]) for i in range(3)]
    shards = data + rs.encode(data)
    for count in range(3):
        for lost in itertools.combinations(range(5), count):
            damaged: list[bytes | None] = [None if i in lost else s for i, s in enumerate(shards)]
            assert rs.reconstruct(damaged) == shards


def test_verify_detects_a_flipped_byte() -> None:
    rs = ReedSolomon(4, 2)
    data = [bytes([i] * 16) for i in range(4)]
    shards = data + rs.encode(data)
    assert rs.verify(shards)
    broken = bytearray(shards[5])
    broken[3] ^= 0x40
    assert not rs.verify([*shards[:5], bytes(broken)])


def test_encode_padded_equals_encode_of_padded_shards() -> None:
    rs = ReedSolomon(3, 2)
    short = [b"\x01\x02", b"\x03\x04\x05\x06", b""]
    padded = [s.ljust(6, b"\0") for s in short]
    assert rs.encode_padded(short, 6) == rs.encode(padded)


def test_rebuild_data_uses_zero_padded_shards_and_first_present() -> None:
    rs = ReedSolomon(3, 2)
    data = [b"abcdef", b"gh", b"ijkl"]
    parity = rs.encode_padded(data, 6)
    rebuilt = rs.rebuild_data({1: data[1], 3: parity[0], 4: parity[1]}, 6)
    assert rebuilt == {0: data[0], 2: data[2].ljust(6, b"\0")}
    assert rs.rebuild_data({0: data[0], 1: data[1], 2: data[2]}, 6) == {}


def test_bad_arguments_raise() -> None:
    with pytest.raises(ConfigError):
        ReedSolomon(0, 1)
    with pytest.raises(ConfigError):
        ReedSolomon(200, 57)
    rs = ReedSolomon(2, 2)
    with pytest.raises(ValueError, match="length"):
        rs.encode([b"ab", b"abc"])
    with pytest.raises(ValueError):
        rs.encode([b"ab"])
    with pytest.raises(ValueError):
        rs.reconstruct([b"ab", None, None, None])
    with pytest.raises(ValueError):
        rs.rebuild_data({3: b"x"}, 1)


def test_largest_codes_kcp_go_accepts() -> None:
    for data, parity in ((250, 6), (6, 250)):
        rs = ReedSolomon(data, parity)
        shards_in = [bytes([i, 255 - i, i ^ 0x5A]) for i in range(data)]
        shards = shards_in + rs.encode(shards_in)
        rng = random.Random(data)
        lost = set(rng.sample(range(data + parity), parity))
        damaged: list[bytes | None] = [None if i in lost else s for i, s in enumerate(shards)]
        assert rs.reconstruct(damaged, data_only=True)[:data] == shards_in


def test_codec_cache_is_shared() -> None:
    assert get_codec(10, 3) is get_codec(10, 3)


@settings(max_examples=60, deadline=None)
@given(
    data=st.integers(1, 24),
    parity=st.integers(1, 8),
    length=st.integers(1, 48),
    seed=st.integers(0, 2**32 - 1),
)
def test_reconstruction_from_any_data_shards(
    data: int, parity: int, length: int, seed: int
) -> None:
    rng = random.Random(seed)
    rs = get_codec(data, parity)
    shards_in = [rng.randbytes(length) for _ in range(data)]
    shards = shards_in + rs.encode(shards_in)
    lost = rng.sample(range(data + parity), rng.randint(0, parity))
    damaged: list[bytes | None] = [None if i in lost else s for i, s in enumerate(shards)]
    assert rs.reconstruct(damaged) == shards


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(0, 255), min_size=5, max_size=5), min_size=1, max_size=4),
    shards=st.lists(st.binary(min_size=0, max_size=40), min_size=5, max_size=5),
)
def test_both_combiner_plans_agree_with_the_definition(
    rows: list[list[int]], shards: list[bytes]
) -> None:
    size = max(map(len, shards)) + 1
    expected = []
    for row in rows:
        out = bytearray(size)
        for c, shard in zip(row, shards, strict=True):
            for j, byte in enumerate(shard):
                out[j] ^= gf_mul(c, byte)
        expected.append(bytes(out))
    for plan in ("horner", "translate"):
        combiner = _Combiner(rows, plan)
        assert combiner.apply(shards, size) == expected
        # The interpreted fallback used for matrices too big to compile:
        interpreted = combiner._apply_horner if plan == "horner" else combiner._apply_translate
        assert interpreted(shards, size) == expected
    if pykcp.implementation == "compiled":
        assert _Combiner(rows, "kernel").apply(shards, size) == expected


def test_the_compiled_build_uses_the_c_kernel() -> None:
    from pykcp.core import reedsolomon

    assert (reedsolomon._kernel is not None) == (pykcp.implementation == "compiled")
    if reedsolomon._kernel is None:
        with pytest.raises(ValueError, match="kernel"):
            _Combiner([[1, 2]], "kernel")
