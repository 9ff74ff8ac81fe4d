"""pykcp.core.packet against a running kcp-go 5.6.1 (the gopeer's crypt-* commands), both ways.

AES-GCM is not here: kcp-go 5.6.1 has no AEAD mode (tests/test_packet.py checks it against
``cryptography``'s own AESGCM instead).
"""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from pykcp.core.crypt import CIPHER_NAMES, derive_key, new_crypt
from pykcp.core.packet import CryptoCodec

pytestmark = pytest.mark.interop

MASTER = derive_key("interop with kcp-go")
# kcptun's key sizes (std/crypt.go): these ciphers get the first N bytes of the master key.
KCPTUN_SIZES = {"aes-128": 16, "aes-192": 24, "sm4": 16, "tea": 16, "xtea": 16, "cast5": 16}
KCPTUN_SIZES["3des"] = 24
NAMES = [n for n in CIPHER_NAMES if n != "aes-128-gcm"]
PAYLOAD_SIZES = [0, 1, 7, 8, 15, 16, 17, 24, 100, 1372]
# Key sizes kcptun never produces but kcp-go's constructors accept.
ODD_KEYS = [
    ("blowfish", 1),
    ("blowfish", 3),
    ("blowfish", 4),
    ("blowfish", 56),
    ("twofish", 16),
    ("twofish", 24),
    ("salsa20", 5),
    ("salsa20", 40),
    ("aes", 16),
    ("aes", 24),
    ("xor", 3),
]


def _key(name: str) -> bytes:
    return MASTER[: KCPTUN_SIZES.get(name, 32)]


def _run(
    gopeer: Path, command: str, name: str, key: bytes, lines: list[bytes], *extra: str
) -> list[str]:
    proc = subprocess.run(
        [str(gopeer), command, "-cipher", name, "-key", key.hex(), *extra],
        input="".join(line.hex() + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # One line per input or output item; an empty line is an empty payload.
    return proc.stdout.split("\n")[:-1]


def _codec(name: str, key: bytes) -> CryptoCodec:
    # new_crypt applies kcptun's truncation, a no-op on keys already of the right size.
    return CryptoCodec(new_crypt(name, key))


def _payloads() -> list[bytes]:
    return [os.urandom(n) for n in PAYLOAD_SIZES]


@pytest.mark.parametrize("name", NAMES)
def test_kcp_go_seals_pykcp_opens(gopeer: Path, name: str) -> None:
    key = _key(name)
    payloads = _payloads()
    datagrams = [bytes.fromhex(h) for h in _run(gopeer, "crypt-seal", name, key, payloads)]
    assert len(datagrams) == len(payloads)
    codec = _codec(name, key)
    assert [codec.open(d) for d in datagrams] == payloads


@pytest.mark.parametrize("name", NAMES)
def test_pykcp_seals_kcp_go_opens(gopeer: Path, name: str) -> None:
    key = _key(name)
    codec = _codec(name, key)
    payloads = _payloads()
    # Both nonce paths: the fast one sessions use and the pinned, exactly kcp-go one.
    datagrams = [codec.seal(p) for p in payloads]
    if codec.header_size:
        datagrams += [codec.seal(p, nonce=os.urandom(16)) for p in payloads]
        payloads = payloads * 2
    opened = _run(gopeer, "crypt-open", name, key, datagrams)
    assert opened == [p.hex() for p in payloads]


@pytest.mark.parametrize(("name", "key_size"), ODD_KEYS)
def test_odd_key_sizes_both_ways(gopeer: Path, name: str, key_size: int) -> None:
    key = os.urandom(key_size)
    codec = _codec(name, key)
    payloads = _payloads()
    sealed_by_go = [bytes.fromhex(h) for h in _run(gopeer, "crypt-seal", name, key, payloads)]
    assert [codec.open(d) for d in sealed_by_go] == payloads
    opened = _run(gopeer, "crypt-open", name, key, [codec.seal(p) for p in payloads])
    assert opened == [p.hex() for p in payloads]


@pytest.mark.parametrize("name", [n for n in NAMES if n != "null"])
def test_tampering_verdicts_match_kcp_go(gopeer: Path, name: str) -> None:
    """Every single-byte flip (and every truncation) is accepted or dropped by pykcp exactly
    when kcp-go accepts or drops it."""
    key = _key(name)
    codec = _codec(name, key)
    payload = bytes(range(40))
    datagram = codec.seal(payload)
    variants = []
    for position in range(len(datagram)):
        tampered = bytearray(datagram)
        tampered[position] ^= 0x01
        variants.append(bytes(tampered))
    variants += [datagram[:n] for n in range(20, len(datagram))]
    expected = []
    for variant in variants:
        opened = codec.open(variant)
        expected.append("DROP" if opened is None else opened.hex())
    assert _run(gopeer, "crypt-open", name, key, variants) == expected


def _push_segment(conv: int, sn: int, data: bytes) -> bytes:
    return struct.pack("<IBBHIIII", conv, 81, 0, 32, 0, sn, 0, len(data)) + data


@pytest.mark.parametrize("name", NAMES)
def test_real_session_output_opens_in_pykcp(gopeer: Path, name: str) -> None:
    key = _key(name)
    message = os.urandom(300)
    datagrams = _run(gopeer, "crypt-session-send", name, key, [message], "-conv", "77")
    assert datagrams  # the first transmission (and maybe retransmissions)
    codec = _codec(name, key)
    expected = _push_segment(77, 0, message)
    for text in datagrams:
        payload = codec.open(bytes.fromhex(text))
        assert payload is not None
        # Everything but the timestamp (bytes 8..11), which depends on the clock.
        assert (payload[:8], payload[12:]) == (expected[:8], expected[12:])


@pytest.mark.parametrize("name", NAMES)
def test_real_session_reads_pykcp_datagrams(gopeer: Path, name: str) -> None:
    key = _key(name)
    codec = _codec(name, key)
    messages = [os.urandom(n) for n in (1, 500, 1300)]
    datagrams = [codec.seal(_push_segment(99, sn, m)) for sn, m in enumerate(messages)]
    # A corrupted datagram in front must be dropped by kcp-go without harm.
    corrupted = bytearray(codec.seal(_push_segment(99, 0, b"evil")))
    corrupted[-1] ^= 0xFF
    lines = ([bytes(corrupted)] if name != "null" else []) + datagrams
    received = _run(gopeer, "crypt-session-recv", name, key, lines, "-conv", "99", "-count", "3")
    assert received == [m.hex() for m in messages]
