"""Wire constants shared by the layers of a datagram, and u32 sequence arithmetic.

Every size and type code that more than one layer needs is defined here once (protocol.md §1.2,
§1.3); each layer keeps only what is its own.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "AEAD_NONCE_SIZE",
    "AEAD_TAG_SIZE",
    "CFB_HEADER_SIZE",
    "CRC_SIZE",
    "FEC_HEADER_SIZE",
    "FEC_OVERHEAD",
    "KCP_OVERHEAD",
    "MIN_PAYLOAD",
    "MTU_LIMIT",
    "NONCE_SIZE",
    "OOB_HEADER_SIZE",
    "OOB_SEQID",
    "TYPE_DATA",
    "TYPE_OOB",
    "TYPE_PARITY",
    "diff32",
]

MTU_LIMIT: Final = 1500
"""kcp-go's receive buffer: a longer datagram would be truncated, so no MTU may exceed it."""

# crypto layer (protocol.md §2.2, §2.5)
NONCE_SIZE: Final = 16
"""Random bytes in front of every CFB-family datagram."""
CRC_SIZE: Final = 4
"""The CRC-32 of the payload, after the nonce."""
CFB_HEADER_SIZE: Final = NONCE_SIZE + CRC_SIZE
AEAD_NONCE_SIZE: Final = 12
"""AES-GCM's nonce, in clear in front of the ciphertext."""
AEAD_TAG_SIZE: Final = 16
"""AES-GCM's authentication tag, after the ciphertext."""

# FEC layer (protocol.md §3.1, §4)
FEC_HEADER_SIZE: Final = 6
"""seqid u32, type u16: what precedes the shard bytes Reed-Solomon codes."""
FEC_OVERHEAD: Final = 8
"""The FEC header plus the u16 size field of a data packet: what FEC adds to a KCP datagram."""
TYPE_DATA: Final = 0xF1
"""An FEC data packet: the u16 at offset 4 of a decrypted datagram."""
TYPE_PARITY: Final = 0xF2
"""An FEC parity packet."""
TYPE_OOB: Final = 0xF3
"""An out-of-band datagram (latest kcp-go)."""
OOB_SEQID: Final = 0xFFFFFFFF
"""The seqid every OOB datagram carries (outside the FEC numbering)."""
OOB_HEADER_SIZE: Final = FEC_OVERHEAD + 4
"""An OOB packet's header: seqid, type, size and the conv."""

# KCP (protocol.md §5.1)
KCP_OVERHEAD: Final = 24
"""One KCP segment header."""

MIN_PAYLOAD: Final = OOB_HEADER_SIZE
"""The shortest decrypted payload worth looking at (the header of an empty OOB packet)."""

_M32: Final = 0xFFFFFFFF
_HALF: Final = 0x80000000


def diff32(later: int, earlier: int) -> int:
    """The signed 32-bit difference ``later - earlier`` of two wrapping u32 values.

    Sequence numbers, timestamps and seqids all wrap at 2**32; "a is after b" is
    ``diff32(a, b) > 0`` whenever the two are less than 2**31 apart. (The KCP core's hot paths
    inline the equivalent ``(a - b) & 0xFFFFFFFF < 0x80000000``.)
    """
    return ((later - earlier + _HALF) & _M32) - _HALF
