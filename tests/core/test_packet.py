"""pykcp.core.packet: kcp-go's datagram framing (nonce + CRC + CFB, AEAD), drops and counters."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import zlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from pykcp.core.crypt import CIPHER_NAMES, AEADCrypt, derive_key, new_crypt
from pykcp.core.packet import CryptoCodec, NonceSource
from pykcp.core.snmp import Snmp
from tests.conftest import ROOT
from tests.vectors import load

PACKET_VECTORS = load("packet")
MASTER = derive_key("packet tests")
FRAMED_NAMES = [n for n in CIPHER_NAMES if n != "null"]
SLOW = {"tea", "xtea", "twofish"}

# Bytes where a flipped bit cannot be noticed, by cipher (everything else must be):
# - 8-byte-block CFB: a change in block 0 garbles only block 1, still inside the nonce;
# - Salsa20: bytes 0..7 are the nonce (a change garbles all the rest), 8..15 encrypted nonce;
# - xor / none: the nonce bytes are simply not covered by the CRC;
# - 16-byte-block CFB: a change in block 0 garbles block 1 = CRC and payload;
# - AES-GCM: the tag covers everything.
UNPROTECTED: dict[str, range] = {
    "blowfish": range(8),
    "cast5": range(8),
    "3des": range(8),
    "tea": range(8),
    "xtea": range(8),
    "salsa20": range(8, 16),
    "xor": range(16),
    "none": range(16),
}


def _codec(name: str, snmp: Snmp | None = None) -> CryptoCodec:
    return CryptoCodec(new_crypt(name, MASTER), snmp=snmp)


def _counts(snmp: Snmp) -> tuple[int, int]:
    return snmp.InErrs, snmp.InCsumErrors


@pytest.mark.parametrize("vector", PACKET_VECTORS, ids=lambda v: v["cipher"])
def test_packet_vector(vector: dict[str, Any]) -> None:
    codec = CryptoCodec(new_crypt(vector["cipher"], bytes.fromhex(vector["key_hex"])))
    payload = bytes.fromhex(vector["payload_hex"])
    nonce = bytes.fromhex(vector["nonce_hex"])
    wire = bytes.fromhex(vector["wire_hex"])
    plain = bytes.fromhex(vector["plain_hex"])
    assert plain == nonce + zlib.crc32(payload).to_bytes(4, "little") + payload
    assert codec.seal(payload, nonce=nonce) == wire
    assert codec.open(wire) == payload


def test_injected_nonce_source_reproduces_kcp_go() -> None:
    vector = next(v for v in PACKET_VECTORS if v["cipher"] == "aes")
    nonce = bytes.fromhex(vector["nonce_hex"])
    codec = CryptoCodec(
        new_crypt("aes", bytes.fromhex(vector["key_hex"])),
        nonce_source=lambda n: nonce[:n],
    )
    assert codec.seal(bytes.fromhex(vector["payload_hex"])).hex() == vector["wire_hex"]


def test_header_sizes() -> None:
    sizes = {name: (_codec(name).header_size, _codec(name).trailer_size) for name in CIPHER_NAMES}
    assert sizes.pop("null") == (0, 0)
    assert sizes.pop("aes-128-gcm") == (12, 16)
    assert set(sizes.values()) == {(20, 0)}


@pytest.mark.parametrize("name", CIPHER_NAMES)
@pytest.mark.parametrize("size", [0, 1, 24, 100, 1372])
def test_round_trip(name: str, size: int) -> None:
    codec = _codec(name)
    payload = os.urandom(size)
    datagram = codec.seal(payload)
    assert len(datagram) == size + codec.overhead
    assert codec.open(datagram) == payload
    assert codec.open(bytearray(datagram)) == payload
    assert codec.open(memoryview(datagram)) == payload
    if name != "null":
        assert codec.seal(payload) != datagram  # fresh nonce every time


def test_null_crypt_is_the_payload_itself() -> None:
    codec = CryptoCodec(None)
    assert codec.seal(b"kcp") == b"kcp" and codec.open(b"kcp") == b"kcp"
    assert codec.overhead == 0


def test_cfb_layout_is_nonce_crc_payload() -> None:
    codec = _codec("none")
    payload = b"hello kcp"
    datagram = codec.seal(payload)
    assert datagram[16:20] == zlib.crc32(payload).to_bytes(4, "little")
    assert datagram[20:] == payload
    assert codec.seal(payload)[:16] != datagram[:16]  # fresh nonce


def test_checksum_matches_zlib_at_every_length() -> None:
    # The compiled build computes the CRC in C (carry-less folding over 64-byte blocks, then
    # slicing by 8, then byte by byte): every length around those step sizes must agree.
    codec = _codec("none")
    for size in [*range(0, 300), 511, 512, 513, 1023, 1024, 1025, 1400, 1479]:
        payload = os.urandom(size)
        datagram = codec.seal(payload)
        assert datagram[16:20] == zlib.crc32(payload).to_bytes(4, "little"), size
        assert codec.open(datagram) == payload


def test_aead_layout_matches_cryptography() -> None:
    codec = _codec("aes-128-gcm")
    key = MASTER[:16]
    payload = os.urandom(77)
    nonce = os.urandom(12)
    datagram = codec.seal(payload, nonce=nonce)
    assert datagram == nonce + AESGCM(key).encrypt(nonce, payload, None)
    other = os.urandom(12)
    assert codec.open(other + AESGCM(key).encrypt(other, payload, None)) == payload
    fresh = codec.seal(payload)
    assert AESGCM(key).decrypt(fresh[:12], fresh[12:], None) == payload


@pytest.mark.parametrize("name", FRAMED_NAMES)
def test_every_single_byte_flip(name: str) -> None:
    snmp = Snmp()
    codec = _codec(name, snmp)
    payload = bytes(range(40))
    datagram = codec.seal(payload)
    unprotected = UNPROTECTED.get(name, range(0))
    for position in range(len(datagram)):
        for bit in (0x01, 0x80):
            tampered = bytearray(datagram)
            tampered[position] ^= bit
            before = _counts(snmp)
            result = codec.open(bytes(tampered))
            if position in unprotected:
                assert result == payload, (position, bit)
                assert _counts(snmp) == before
            else:
                assert result is None, (position, bit)
                assert _counts(snmp) == (before[0], before[1] + 1)


@pytest.mark.parametrize("name", FRAMED_NAMES)
def test_truncated_datagrams_are_dropped(name: str) -> None:
    snmp = Snmp()
    codec = _codec(name, snmp)
    datagram = codec.seal(bytes(range(30)))
    minimum = codec.overhead
    for length in range(41):
        before = _counts(snmp)
        assert codec.open(datagram[:length]) is None
        short, corrupt = _counts(snmp)
        if length < minimum:
            assert (short, corrupt) == (before[0] + 1, before[1])
        else:
            assert (short, corrupt) == (before[0], before[1] + 1)


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from([n for n in FRAMED_NAMES if n not in SLOW]),
    garbage=st.binary(max_size=300),
)
def test_random_garbage_is_dropped_and_counted(name: str, garbage: bytes) -> None:
    snmp = Snmp()
    assert _codec(name, snmp).open(garbage) is None
    assert sum(_counts(snmp)) == 1


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(sorted(SLOW)), garbage=st.binary(max_size=60))
def test_random_garbage_is_dropped_by_python_ciphers(name: str, garbage: bytes) -> None:
    snmp = Snmp()
    assert _codec(name, snmp).open(garbage) is None
    assert sum(_counts(snmp)) == 1


def test_wrong_key_is_a_checksum_error() -> None:
    snmp = Snmp()
    datagram = _codec("aes").seal(b"x" * 50)
    receiver = CryptoCodec(new_crypt("aes", derive_key("other")), snmp=snmp)
    assert receiver.open(datagram) is None
    assert snmp.InCsumErrors == 1


def test_codec_has_private_counters_by_default() -> None:
    codec = _codec("aes")
    assert codec.open(b"short") is None
    assert codec.snmp.InErrs == 1


def test_pinned_nonce_length_is_checked() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        _codec("aes").seal(b"x", nonce=bytes(12))
    with pytest.raises(ValueError, match="12 bytes"):
        _codec("aes-128-gcm").seal(b"x", nonce=bytes(16))


def test_nonce_source_never_repeats_across_threads() -> None:
    source = NonceSource(16, batch=8)
    seen: list[bytes] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [source() for _ in range(2000)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8000 and len(set(seen)) == 8000
    assert {len(n) for n in seen} == {16}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_reuse_buffered_nonces() -> None:
    # In a fresh interpreter: forking this (possibly multi-threaded) test process is unsafe.
    script = """
import os
from pykcp.core.packet import NonceSource
source = NonceSource(16)
source()  # fill the buffer in the parent
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    os.write(write_end, source())
    os._exit(0)
child_nonce = os.read(read_end, 16)
os.waitpid(pid, 0)
assert len(child_nonce) == 16, child_nonce
print("same" if child_nonce == source() else "different")
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "different"


def test_aead_crypt_is_selected_by_type() -> None:
    crypt = new_crypt("aes-128-gcm", MASTER)
    assert isinstance(crypt, AEADCrypt)
    assert CryptoCodec(crypt).header_size == 12
