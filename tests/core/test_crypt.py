"""pykcp.core.crypt against kcp-go 5.6.1's own ciphertexts, plus kcptun's names and keys."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pykcp.core.crypt import (
    CFB_IV,
    CIPHER_NAMES,
    AEADCrypt,
    AESBlockCrypt,
    BlockCrypt,
    BlowfishBlockCrypt,
    Cast5BlockCrypt,
    NoneBlockCrypt,
    Salsa20BlockCrypt,
    SimpleXORBlockCrypt,
    SM4BlockCrypt,
    TEABlockCrypt,
    TripleDESBlockCrypt,
    TwofishBlockCrypt,
    XTEABlockCrypt,
    derive_key,
    new_crypt,
)
from pykcp.core.errors import ConfigError
from tests.conftest import ROOT, missing_tool
from tests.vectors import load

CIPHER_VECTORS = load("cipher")
BLOCK_NAMES = [n for n in CIPHER_NAMES if n not in ("null", "aes-128-gcm")]
MASTER = derive_key("it's a secrect")


def _block(name: str, key: bytes = MASTER) -> BlockCrypt:
    crypt = new_crypt(name, key)
    assert isinstance(crypt, BlockCrypt)
    return crypt


def _vector_id(v: dict[str, Any]) -> str:
    return f"{v['cipher']}-{v['len']}"


def test_vectors_cover_every_block_cipher() -> None:
    assert {v["cipher"] for v in CIPHER_VECTORS} == set(BLOCK_NAMES)


@pytest.mark.parametrize("vector", CIPHER_VECTORS, ids=_vector_id)
def test_cipher_vector(vector: dict[str, Any]) -> None:
    crypt = _block(vector["cipher"], bytes.fromhex(vector["key_hex"]))
    plaintext = bytes.fromhex(vector["plaintext_hex"])
    ciphertext = bytes.fromhex(vector["ciphertext_hex"])
    # Twice each, interleaved: a reused cipher context must restart from the IV every time.
    for _ in range(2):
        assert crypt.encrypt(plaintext) == ciphertext
        assert crypt.decrypt(ciphertext) == plaintext
    assert crypt.encrypt(bytearray(plaintext)) == ciphertext
    assert crypt.decrypt(memoryview(ciphertext)) == plaintext


@pytest.mark.parametrize("vector", CIPHER_VECTORS[:1] + CIPHER_VECTORS[-1:], ids=_vector_id)
def test_vector_keys_are_kcptun_truncations_of_the_master_key(vector: dict[str, Any]) -> None:
    master = derive_key(vector["password"])
    assert master.startswith(bytes.fromhex(vector["key_hex"]))


def test_all_vector_keys_follow_kcptun_sizes() -> None:
    sizes = {"aes-128": 16, "aes-192": 24, "cast5": 16, "3des": 24, "tea": 16, "xtea": 16}
    sizes["sm4"] = 16
    for vector in CIPHER_VECTORS:
        master = derive_key(vector["password"])
        assert bytes.fromhex(vector["key_hex"]) == master[: sizes.get(vector["cipher"], 32)]


def test_kdf_vector() -> None:
    (vector,) = load("kdf")
    assert vector["salt"] == "kcp-go" and vector["iterations"] == 4096
    assert derive_key(vector["password"]).hex() == vector["out_hex"]
    assert derive_key(vector["password"].encode()).hex() == vector["out_hex"]


SPEC_PLAINTEXT = bytes(range(45))
# crypto.md §8, key = 00 01 02 ... of the given length (a second source besides the vectors).
SPEC_VECTORS = [
    (
        AESBlockCrypt,
        16,
        "bb11f8ddf9540585a9cc41ceb499a7655104c76dc3e5d8"
        "094488cf230cec07cf054e63cf52381982c2835e43c1",
    ),
    (
        AESBlockCrypt,
        32,
        "15cb3d10047d330ab6b768ccaa72202024d2e19cd29760"
        "adc5e6bf5ff6a374314941b7782ced7cd13da49a6e3d",
    ),
    (
        SM4BlockCrypt,
        16,
        "ff27e1bd6332be351ba083754dfbb5ac0082191619c653"
        "d92e33a8a7d74c5f4e7bcc1899b98d93f9f1cca0afa2",
    ),
    (
        TwofishBlockCrypt,
        32,
        "011e2e06161c588591b17270a01911bf5d52d87d1d5ad7"
        "5462e312d65014f117ded2d8d02887b519d25de3b6a1",
    ),
    (
        BlowfishBlockCrypt,
        32,
        "ce41f908856d2384166584b763acca9d634473345e5545"
        "714f3d7b7f2bec6c334f88837419dab642f51c1dab6a",
    ),
    (
        Cast5BlockCrypt,
        16,
        "750beeb8e28a76dbc517815b05db244faa5bc9b5b83500"
        "2878a81286cb709e6157bd0a4af4cfc7a57e4eea53ae",
    ),
    (
        TripleDESBlockCrypt,
        24,
        "ebdbf59054972a2ea8b034eecce6d28da80bc636c16581"
        "6defed0cff475caf6e4c04ba6495873e897054f81f9c",
    ),
    (
        TEABlockCrypt,
        16,
        "01348d3d967f5900f45f05c2bb6fe6ec2edabbb5911d14"
        "48c6dc7a4c5db84bba4ccce7af526afa580394c521ff",
    ),
    (
        XTEABlockCrypt,
        16,
        "5fb209dd253f33d35fc492d36994101605b6fb2658bef0"
        "cb1d1a7f6b79ea3e329f6ae08ca28b2abf4ba5ff581e",
    ),
    (
        Salsa20BlockCrypt,
        32,
        "000102030405060726a40554145a27c1c663a1ba3cf142"
        "e037c25eb36781c6cd39c5ce378adce09b5f962f547a",
    ),
    (
        Salsa20BlockCrypt,
        5,
        "0001020304050607e7e706236cadea8022dcdcdc54f3f4"
        "d6c0d642e545eba0b44fe88f7f30ba37170df335ab15",
    ),
    (
        SimpleXORBlockCrypt,
        32,
        "b216b2f17a8f89fdbf995a506cc1b8d67ae113d26acec9"
        "7845d6736af9932712f94a6ef10cc470a52d841ff1b0",
    ),
]


@pytest.mark.parametrize(("cls", "key_size", "expected"), SPEC_VECTORS)
def test_spec_vectors(cls: type[BlockCrypt], key_size: int, expected: str) -> None:
    crypt = cls(bytes(range(key_size)))  # type: ignore[call-arg]
    assert crypt.encrypt(SPEC_PLAINTEXT).hex() == expected
    assert crypt.decrypt(bytes.fromhex(expected)) == SPEC_PLAINTEXT


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # Twofish paper, appendix "Intermediate values": all-zero key and block.
        (bytes(16), "9f589f5cf6122c32b6bfec2f2ae8c35a"),
        (bytes(24), "efa71f788965bd4453f860178fc19101"),
        (bytes(32), "57ff739d4dc92c1bd7fc01700cc8216f"),
    ],
)
def test_twofish_known_answers(key: bytes, expected: str) -> None:
    # The block cipher itself through CFB: decrypting the all-zero ciphertext 0 || 0 gives
    # E(IV) || E(0), so the second block is E(0).
    crypt = TwofishBlockCrypt(key)
    keystream = crypt.decrypt(bytes(32))
    assert keystream[16:].hex() == expected


def test_none_is_identity_and_xor_pad_matches_spec() -> None:
    assert NoneBlockCrypt(b"ignored").encrypt(b"abc") == b"abc"
    pad = SimpleXORBlockCrypt(bytes(range(32))).encrypt(bytes(16))
    assert pad.hex() == "b217b0f27e8a8ffab790505b60ccb6d9"
    long = os.urandom(1600)
    out = SimpleXORBlockCrypt(b"k").encrypt(long)
    assert out[1500:] == long[1500:]  # kcp-go XORs only as far as its 1500-byte pad
    assert SimpleXORBlockCrypt(b"k").decrypt(out) == long


@pytest.mark.parametrize("length", [8, 9, 20, 63, 64, 65, 72, 73, 136, 1350, 1500])
def test_salsa20_direct_c_path_equals_public_api(length: int) -> None:
    # Compiled: pykcp's own C Salsa20; pure: pycryptodome's C library through cffi.
    fast = Salsa20BlockCrypt(MASTER)
    public = Salsa20BlockCrypt(MASTER, accelerated=False)
    assert fast.accelerated and not public.accelerated
    data = os.urandom(length)
    assert fast.encrypt(data) == public.encrypt(data)
    assert public.decrypt(fast.encrypt(data)) == data


@pytest.mark.parametrize("cls", [TEABlockCrypt, XTEABlockCrypt, TwofishBlockCrypt])
@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 15, 16, 17, 64, 100, 1351, 1500])
def test_legacy_c_kernel_equals_the_python_blocks(cls: Any, length: int) -> None:
    import pykcp

    fast, python = cls(MASTER[:16]), cls(MASTER[:16], accelerated=False)
    # A compiled install must run these ciphers in C (a missing kernel is a slow regression).
    assert fast.accelerated == (pykcp.implementation == "compiled")
    assert not python.accelerated
    data = os.urandom(length)
    sealed = fast.encrypt(data)
    assert sealed == python.encrypt(data)
    assert fast.decrypt(sealed) == python.decrypt(sealed) == data
    in_place = bytearray(data)
    fast.encrypt_nonced_into(in_place)
    fast.decrypt_into(memoryview(in_place))
    assert in_place == data


@pytest.mark.parametrize("size", [16, 24, 32])
def test_aes_evp_kernel_matches_cryptography(size: int) -> None:
    import pykcp
    from pykcp.core.crypt import openssl

    fast, python = AESBlockCrypt(MASTER[:size]), AESBlockCrypt(MASTER[:size], accelerated=False)
    if pykcp.implementation == "compiled" and openssl._evp is None:
        missing_tool("the AES EVP kernel is not built (OpenSSL headers: scripts/system-deps.sh)")
    assert fast.accelerated == (openssl._evp is not None) and not python.accelerated
    for length in (0, 1, 15, 16, 17, 100, 1350, 1500):
        data = os.urandom(length)
        exact = python.encrypt(data)
        # Decryption is exact either way, datagram after datagram (the context resets).
        for _ in range(2):
            assert fast.decrypt(exact) == data
        # Nonced encryption: whatever the chain, every byte after the first block decrypts.
        for _ in range(2):
            sealed = bytearray(data)
            fast.encrypt_nonced_into(sealed)
            assert python.decrypt(bytes(sealed))[16:] == data[16:]


def test_twofish_kernel_takes_every_key_size() -> None:
    data = os.urandom(100)
    for size in (16, 24, 32):
        key = MASTER[:size]
        assert TwofishBlockCrypt(key).encrypt(data) == TwofishBlockCrypt(
            key, accelerated=False
        ).encrypt(data)


def test_stream_kernel_is_used_by_a_compiled_build() -> None:
    import pykcp
    from pykcp.core.crypt import stream

    compiled = pykcp.implementation == "compiled"
    assert (stream._kernel is not None) == compiled
    assert SimpleXORBlockCrypt(MASTER).accelerated == compiled


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 1350, 1499, 1500, 1501, 1600])
def test_xor_in_place_equals_the_copying_form(length: int) -> None:
    # Compiled: the C pad loop; pure: the in-place Python form. Both against encrypt().
    data = os.urandom(length)
    for crypt in (SimpleXORBlockCrypt(MASTER), SimpleXORBlockCrypt(MASTER, accelerated=False)):
        buf = bytearray(data)
        crypt.encrypt_into(buf)
        assert bytes(buf) == crypt.encrypt(data)
        crypt.decrypt_into(buf)
        assert bytes(buf) == data


def test_salsa20_short_inputs_pass_through() -> None:
    crypt = Salsa20BlockCrypt(MASTER)
    for n in range(9):
        data = bytes(range(n))
        assert crypt.encrypt(data)[: min(n, 8)] == data[:8]
    assert crypt.encrypt(b"") == b""


@pytest.mark.parametrize("name", BLOCK_NAMES)
@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 15, 16, 17, 20, 33, 1400, 1500])
def test_round_trip_every_length_class(name: str, length: int) -> None:
    crypt = _block(name)
    data = os.urandom(length)
    assert crypt.decrypt(crypt.encrypt(data)) == data
    assert len(crypt.encrypt(data)) == length


@pytest.mark.parametrize("name", ["aes-128", "sm4", "blowfish", "cast5", "3des"])
def test_reused_cipher_equals_fresh_cipher_for_every_short_length(name: str) -> None:
    """The OpenSSL contexts live across calls; whatever came before, each call must start
    from the fixed IV like a fresh kcp-go BlockCrypt."""
    crypt = _block(name)
    for length in [*range(41), *range(40, -1, -1)]:
        data = os.urandom(length)
        assert crypt.encrypt(data) == _block(name).encrypt(data)
        assert crypt.decrypt(data) == _block(name).decrypt(data)
        crypt.encrypt_nonced(data)


@pytest.mark.parametrize("name", BLOCK_NAMES)
def test_encrypt_nonced_recovers_everything_after_the_first_block(name: str) -> None:
    crypt = _block(name)
    for length in (16, 20, 21, 24, 31, 100, 1500):
        for _ in range(3):
            data = os.urandom(length)
            out = crypt.encrypt_nonced(data[:16], data[16:])
            assert len(out) == length
            assert crypt.decrypt(out)[16:] == data[16:]
            # The exact path still works after the fast path moved its own context.
            assert crypt.decrypt(crypt.encrypt(data)) == data


def test_blowfish_short_keys_are_cyclic() -> None:
    data = os.urandom(64)
    for key, repeated in [(b"a", b"aaaa"), (b"ab", b"abab"), (b"abc", b"abcabc")]:
        assert BlowfishBlockCrypt(key).encrypt(data) == BlowfishBlockCrypt(repeated).encrypt(data)


@pytest.mark.parametrize(
    ("cls", "bad_sizes"),
    [
        (AESBlockCrypt, [0, 15, 17, 31, 33]),
        (SM4BlockCrypt, [8, 15, 24]),
        (TwofishBlockCrypt, [8, 20, 40]),
        (BlowfishBlockCrypt, [0, 57]),
        (Cast5BlockCrypt, [5, 15, 17]),
        (TripleDESBlockCrypt, [8, 16, 32]),
        (TEABlockCrypt, [8, 32]),
        (XTEABlockCrypt, [8, 32]),
        (AEADCrypt, [8, 20]),
    ],
)
def test_wrong_key_lengths_raise_config_error(cls: type[Any], bad_sizes: list[int]) -> None:
    for size in bad_sizes:
        with pytest.raises(ConfigError, match=f"got {size}"):
            cls(bytes(size))


def test_new_crypt_names_and_key_handling() -> None:
    assert new_crypt("null", MASTER) is None
    kinds = {name: type(new_crypt(name, MASTER)) for name in CIPHER_NAMES if name != "null"}
    assert kinds == {
        "none": NoneBlockCrypt,
        "aes-128": AESBlockCrypt,
        "aes-192": AESBlockCrypt,
        "aes": AESBlockCrypt,
        "salsa20": Salsa20BlockCrypt,
        "blowfish": BlowfishBlockCrypt,
        "twofish": TwofishBlockCrypt,
        "cast5": Cast5BlockCrypt,
        "3des": TripleDESBlockCrypt,
        "tea": TEABlockCrypt,
        "xtea": XTEABlockCrypt,
        "xor": SimpleXORBlockCrypt,
        "sm4": SM4BlockCrypt,
        "aes-128-gcm": AEADCrypt,
    }
    data = os.urandom(50)
    # The factory truncates like kcptun: same result as the constructor on the prefix.
    assert _block("aes-128").encrypt(data) == AESBlockCrypt(MASTER[:16]).encrypt(data)
    assert _block("aes-192").encrypt(data) == AESBlockCrypt(MASTER[:24]).encrypt(data)
    assert _block("aes").encrypt(data) == AESBlockCrypt(MASTER).encrypt(data)
    assert _block("3des").encrypt(data) == TripleDESBlockCrypt(MASTER[:24]).encrypt(data)
    assert _block("aes").name == "aes" and _block("aes", MASTER[:16]).name == "aes-128"


def test_new_crypt_errors() -> None:
    with pytest.raises(ConfigError, match="unknown cipher 'rot13'"):
        new_crypt("rot13", MASTER)
    with pytest.raises(ConfigError, match="aes-192 needs a key of at least 24 bytes"):
        new_crypt("aes-192", MASTER[:16])
    with pytest.raises(ConfigError, match="AES needs a key of 16 or 24 or 32 bytes, got 20"):
        new_crypt("aes", MASTER[:20])


def test_aead_matches_cryptography_aesgcm() -> None:
    key = MASTER[:16]
    crypt = new_crypt("aes-128-gcm", MASTER)
    assert isinstance(crypt, AEADCrypt)
    assert (crypt.nonce_size, crypt.overhead, crypt.name) == (12, 16, "aes-128-gcm")
    assert AEADCrypt(MASTER).name == "aes-256-gcm"
    nonce, data = os.urandom(12), os.urandom(100)
    sealed = crypt.seal(nonce, data)
    assert sealed == AESGCM(key).encrypt(nonce, data, None)
    assert crypt.open(nonce, sealed) == data
    assert crypt.open(nonce, sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert crypt.open(os.urandom(12), sealed) is None


@pytest.mark.parametrize("name", BLOCK_NAMES)
def test_shared_between_threads(name: str) -> None:
    crypt = _block(name)
    small = name in ("tea", "xtea", "twofish")
    rounds = 20 if small else 300
    failures: list[str] = []

    def worker() -> None:
        for i in range(rounds):
            data = os.urandom(20 + i % 40)
            if crypt.decrypt(crypt.encrypt(data)) != data:
                failures.append("exact")
            if crypt.decrypt(crypt.encrypt_nonced(data))[16:] != data[16:]:
                failures.append("nonced")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_cfb_iv_constant() -> None:
    assert list(CFB_IV) == [
        167,
        115,
        79,
        156,
        18,
        172,
        27,
        1,
        164,
        21,
        242,
        193,
        252,
        120,
        230,
        107,
    ]


def test_no_warning_is_ever_emitted() -> None:
    """Legacy ciphers and CFB must come from cryptography's decrepit modules: no deprecation
    warning at import, construction or per packet (checked in a fresh interpreter, where
    import-time warnings are not hidden by an earlier import)."""
    script = """
import warnings
warnings.simplefilter("error")
from pykcp.core.crypt import CIPHER_NAMES, derive_key, new_crypt
from pykcp.core.packet import CryptoCodec
key = derive_key("x")
for name in CIPHER_NAMES:
    codec = CryptoCodec(new_crypt(name, key))
    for size in (0, 1, 100, 1400):
        payload = bytes(size)
        assert codec.open(codec.seal(payload)) == payload
        nonce_size = {0: 0, 20: 16, 12: 12}[codec.header_size]
        if nonce_size:
            pinned = codec.seal(payload, nonce=bytes(nonce_size))
            assert codec.open(pinned) == payload
print("clean")
"""
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "clean"


@pytest.mark.parametrize("name", [n for n in CIPHER_NAMES if n not in ("null", "none")])
def test_an_int_key_never_becomes_a_zero_key(name: str) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        new_crypt(name, 32)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "factory",
    [
        AESBlockCrypt,
        SM4BlockCrypt,
        BlowfishBlockCrypt,
        Cast5BlockCrypt,
        TripleDESBlockCrypt,
        TEABlockCrypt,
        XTEABlockCrypt,
        TwofishBlockCrypt,
        Salsa20BlockCrypt,
        SimpleXORBlockCrypt,
        AEADCrypt,
    ],
)
def test_cipher_constructors_refuse_int_keys(factory: type) -> None:
    with pytest.raises(TypeError, match="bytes-like"):
        factory(16)
