"""Quantum Permutation Pads (pykcp.tunnel.qpp) against xtaci/qpp v1.1.25, the version today's
kcptun links, and QPP inside the tunnel.

The expected values below are what Go's xtaci/qpp v1.1.25 computes for these inputs: the
sizes (QPPMinimumSeedLength / QPPMinimumPads), the seed chunks, the PRNG state and outputs
(CreatePRNG), digests of the pads (NewQPP) and a 1 MiB stream encrypted in one call
(EncryptWithPRNG) with the PRNG state it leaves. The plaintext of that stream is Go's
math/rand/v2 PCG-DXSM output for the seed (FNV-1a-64 of "govectors/qpp", 2), regenerated
here; its digest is checked first so a wrong generator cannot pass as a QPP bug.
"""

from __future__ import annotations

import asyncio
import hashlib
import random

import pytest

from pykcp.core.errors import ConfigError
from pykcp.tunnel.qpp import (
    DEFAULT_PAD_COUNT,
    QPPPort,
    QPPRand,
    QuantumPermutationPad,
    _seed_chunks,
    minimum_pads,
    minimum_seed_length,
    qpp_warnings,
)
from tests.helpers import run
from tests.tunnel.test_tunnel import echo_server, exchange_many, tunnel

DEFAULT_KEY = b"it's a secrect"
MASK64 = (1 << 64) - 1


@pytest.fixture(scope="module")
def pads61() -> QuantumPermutationPad:
    return QuantumPermutationPad(DEFAULT_KEY, 61)


# -- vectors ----------------------------------------------------------------------------------


def test_minimum_sizes() -> None:
    seed_lengths = [1, 1, 2, 6, 15, 37, 90, 211, 485, 1097, 2448, 5407, 11836, 25719, 55532]
    pads = [1, 1, 1, 1, 1, 2, 3, 7, 16, 35, 77, 169, 370, 804, 1736]
    assert [minimum_seed_length(q) for q in range(1, 16)] == seed_lengths
    assert [minimum_pads(q) for q in range(1, 16)] == pads


@pytest.mark.parametrize(
    ("seed", "chunk"),
    [
        (DEFAULT_KEY, "2e64a75ad732aa8dc26ebc3a018cd8db0a47421372003d682205aa2aaecc7a70"),
        (b"a", "992ef10353782923f7cb3d4bbda8f1cf568d3c4b8e0ac783cd41db18991f9bd1"),
    ],
)
def test_short_seed_chunks(seed: bytes, chunk: str) -> None:
    """A seed under 32 bytes is stretched to 32 first, so all seven chunks are the same."""
    assert [c.hex() for c in _seed_chunks(seed)] == [chunk] * 7


def test_long_seed_chunks_wrap_around_the_seed() -> None:
    seed = bytes(range(40))
    chunks = _seed_chunks(seed)
    raw = [bytes(seed[(32 * i + j) % 40] for j in range(32)) for i in range(7)]
    expected = [
        hashlib.pbkdf2_hmac("sha1", r, b"___QUANTUM_PERMUTATION_PAD_SEED_DERIVE___", 1024, 32)
        for r in raw
    ]
    assert chunks == expected and len(set(chunks)) == 5  # 40 * 4 == 32 * 5: a period of 5


@pytest.mark.parametrize(
    ("seed", "state", "word", "outputs"),
    [
        (
            DEFAULT_KEY,
            (7105235502590478188, 10562721218920461044, 7568946787674991736, 1816328979137843777),
            2750311318676262472,
            [3912265887754384862, 1732821236379432046, 11101581278663439875],
        ),
        (
            b"a",
            (6447689150018640739, 16859724824617289882, 1855257259216114041, 7124402748438073091),
            6559199205494519115,
            [8354185788510014344, 14671875798111633759, 13855924640381825690],
        ),
    ],
)
def test_prng(seed: bytes, state: tuple[int, ...], word: int, outputs: list[int]) -> None:
    rand = QPPRand(seed)
    # The state after the first output, which became the current word, was drawn.
    assert (rand.s0, rand.s1, rand.s2, rand.s3) == state
    assert rand.word == word and rand.count == 0
    assert [rand.next() for _ in outputs] == outputs


@pytest.mark.parametrize(
    ("num_pads", "pads_sha256", "rpads_sha256", "tail"),
    [
        (
            1,
            "a9fb376a3db02efa747859422ff431ab2e4f25d28bb813285b66b4578f02c05d",
            "eb0593d39611a1b7b30255deebe4e75ff5db58e89bf58f87e7aa610b6519792c",
            "0b04979279adfd84b746e65536a5ed4f",
        ),
        (
            7,
            "dd3bffa74e49e6b5241f0c4cf85a499afed8a7ef31e85f1eaca2061cb28eb5ca",
            "c62836b2ccc5b7f7663b5d92bb9e8c7316a732c691e446f85853ad94f5803baa",
            "51e85c27489a526ae272ee4f655945ec",
        ),
        (
            61,
            "a05e272c50b0ff3abedf425d09dcc06c43d2f901bbdd69c0e1dec3081d3b68d8",
            "91cecac0831ef2c71764d83d0e4fff160355558359a878c7987899247e770218",
            "a0c48028fa6d356009fc583e91aa8b5b",
        ),
        (
            101,
            "b941f44417076ee8784c273286290af1a7c076cd1e448bac7d2e23d1776af4d6",
            "2adc4ccc6b3a0dd4f74f08775adf1418ebb889ebed0bda1ba0e30d9aaf85ecd2",
            "2f88e1e322cd02bf376ca66fb0bafcc1",
        ),
    ],
    ids=["1", "7", "61", "101"],
)
def test_pads(num_pads: int, pads_sha256: str, rpads_sha256: str, tail: str) -> None:
    qpp = QuantumPermutationPad(DEFAULT_KEY, num_pads)
    pads, rpads = b"".join(qpp.pads), b"".join(qpp.rpads)
    assert pads[:16].hex() == "1a994414e7fa53e93d83d4be16385ac6"
    assert rpads[:16].hex() == "b8772036f1d55e3888e32ef0556b2f52"
    assert hashlib.sha256(pads).hexdigest() == pads_sha256
    assert hashlib.sha256(rpads).hexdigest() == rpads_sha256
    assert pads[-16:].hex() == tail
    for pad, rpad in zip(qpp.pads, qpp.rpads, strict=True):
        assert sorted(pad) == list(range(256))
        assert all(rpad[pad[i]] == i for i in range(256))


def _go_pcg_bytes(seed_hi: int, seed_lo: int, n: int) -> bytes:
    """Go's math/rand/v2 PCG (128-bit LCG, DXSM output), eight little-endian bytes per
    Uint64, as Go test-vector programs draw their inputs."""
    mul = (2549297995355413924 << 64) | 4865540595714422341
    inc = (6364136223846793005 << 64) | 1442695040888963407
    state = (seed_hi << 64) | seed_lo
    words = []
    for _ in range((n + 7) // 8):
        state = (state * mul + inc) & ((1 << 128) - 1)
        hi, lo = state >> 64, state & MASK64
        hi ^= hi >> 32
        hi = (hi * 0xDA942042E4DD58B5) & MASK64
        hi ^= hi >> 48
        words.append(((hi * (lo | 1)) & MASK64).to_bytes(8, "little"))
    return b"".join(words)[:n]


def _fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def test_one_mebibyte_stream(pads61: QuantumPermutationPad) -> None:
    plain = _go_pcg_bytes(_fnv1a64(b"govectors/qpp"), 2, 1 << 20)
    assert (
        hashlib.sha256(plain).hexdigest()
        == "59561425723fdcfa46a0462ace3e07345fa91bcad94e09d2b492f43a31e909b7"
    )
    rand = pads61.new_rand()
    out = pads61.encrypt(plain, rand)
    assert out[:16].hex() == "51c67eb767516013d274967c4d110406"
    assert out[-16:].hex() == "3d4e19437d07748c5d38dc14efbbb049"
    assert (
        hashlib.sha256(out).hexdigest()
        == "daddba47b61bfdc6b3fe73a040690658b8ebc1404a7f5c83fc7a4e79490eef41"
    )
    assert (rand.s0, rand.s1, rand.s2, rand.s3) == (
        1484509243627832099,
        14202191574363285453,
        12306321811288420235,
        9569611037209757092,
    )
    assert (rand.word, rand.count) == (1878614936194263090, 0)
    assert pads61.decrypt(out, pads61.new_rand()) == plain


# -- the stream cipher's properties -----------------------------------------------------------


def _reference_encrypt(qpp: QuantumPermutationPad, data: bytes) -> bytes:
    """The per-byte rule of the module docstring, one byte at a time from a fresh PRNG."""
    rand = QPPRand(qpp.seed)
    words = [rand.word] + [rand.next() for _ in range(len(data) // 8)]
    out = bytearray()
    for n, byte in enumerate(data):
        word = words[n // 8]
        pad = qpp.pads[(word & 0xFFFF) % qpp.num_pads]
        out.append(pad[byte ^ ((word >> (8 * (n % 8))) & 0xFF)])
    return bytes(out)


def test_any_split_gives_the_same_stream(pads61: QuantumPermutationPad) -> None:
    rng = random.Random(7)
    data = rng.randbytes(5000)
    whole = _reference_encrypt(pads61, data)
    for trial in range(20):
        rand, back_rand = pads61.new_rand(), pads61.new_rand()
        pieces, offset = [], 0
        while offset < len(data):
            size = rng.choice([0, 1, 3, 7, 8, 9, 15, 16, 17, 64, 1000])
            pieces.append(pads61.encrypt(data[offset : offset + size], rand))
            offset += size
        assert b"".join(pieces) == whole, trial
        cut = rng.randrange(len(whole))
        restored = pads61.decrypt(whole[:cut], back_rand) + pads61.decrypt(whole[cut:], back_rand)
        assert restored == data


def test_each_port_starts_afresh_and_directions_are_independent(
    pads61: QuantumPermutationPad,
) -> None:
    first, second = QPPPort(pads61), QPPPort(pads61)
    message = b"the same plaintext on two streams"
    sealed = first.encrypt(message)
    assert sealed == second.encrypt(message) != message
    # The read direction has its own PRNG, still at the start although writing moved on.
    assert first.decrypt(sealed) == message
    assert first.encrypt(message) != sealed
    assert first.encrypt(b"") == b"" and first.decrypt(b"") == b""


def test_other_seed_or_count_changes_everything() -> None:
    message = bytes(64)
    base = QuantumPermutationPad(b"key one", 7)
    assert base.encrypt(message, base.new_rand()) != QuantumPermutationPad(b"key two", 7).encrypt(
        message, QPPRand(b"key two")
    )
    eleven = QuantumPermutationPad(b"key one", 11)
    assert base.encrypt(message, base.new_rand()) != eleven.encrypt(message, eleven.new_rand())


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "count", "error"),
    [
        ("text", 7, TypeError),
        (None, 7, TypeError),
        (b"k", 0, ConfigError),
        (b"k", 65536, ConfigError),
        (b"k", -3, ConfigError),
        (b"k", True, TypeError),
        (b"k", 7.0, TypeError),
    ],
)
def test_bad_construction(seed: object, count: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        QuantumPermutationPad(seed, count)  # type: ignore[arg-type]


def test_warnings_like_kcptun() -> None:
    assert qpp_warnings(DEFAULT_PAD_COUNT, "k" * 211) == []
    short = qpp_warnings(61, "short key")
    assert short == ["QPP Warning: 'key' has size of 9 bytes, required 211 bytes at least"]
    few = qpp_warnings(4, "k" * 300)
    assert few == [
        "QPP Warning: QPPCount 4, required 7 at least",
        "QPP Warning: QPPCount 4, choose a prime number for security",
    ]
    for bad in (0, 65536, -1):
        with pytest.raises(ConfigError, match="QPPCount must be in"):
            qpp_warnings(bad, "key")
    with pytest.raises(ConfigError, match="QPPCount must be an integer"):
        qpp_warnings("61", "key")  # type: ignore[arg-type]


# -- in the tunnel ------------------------------------------------------------------------------


def test_tunnel_with_qpp_moves_bytes_intact() -> None:
    async def main() -> None:
        async with (
            echo_server() as target,
            tunnel(target, qpp=True, qppcount=7, smuxver=2) as (client, _),
        ):
            await exchange_many(client.local_address[1], 3, 40_000)

    run(main)


def test_qpp_is_applied_per_stream_above_smux_with_the_key_as_seed() -> None:
    """A QPP client against a server without QPP: the target receives, on every new
    connection, the plaintext encrypted by a fresh PRNG seeded from the key (not from the
    PBKDF2 output), and what it sends back arrives decrypted by the client."""
    key = "qpp wiring key"
    pads = QuantumPermutationPad(key.encode(), 7)
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def target_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await received.put(await reader.readexactly(100))
        writer.write(pads.encrypt(b"reply " * 10, pads.new_rand()))
        await writer.drain()
        await reader.read()
        writer.close()

    async def main() -> None:
        target = await asyncio.start_server(target_handler, "127.0.0.1", 0)
        try:
            async with tunnel(
                target.sockets[0].getsockname()[1],
                key=key,
                client_options={"qpp": True, "qppcount": 7},
                server_options={"closewait": 0},
            ) as (client, _):
                message = bytes(range(100))
                for _ in range(2):
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", client.local_address[1]
                    )
                    writer.write(message[:37])
                    await writer.drain()
                    writer.write(message[37:])
                    wire = await asyncio.wait_for(received.get(), 5)
                    assert wire == pads.encrypt(message, pads.new_rand()) != message
                    assert await reader.readexactly(60) == b"reply " * 10
                    writer.close()
        finally:
            target.close()

    run(main)
