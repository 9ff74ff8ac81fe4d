"""Byte-level helpers of the datagram codec, as plain Python.

The compiled build replaces them with the C inlines of ``_bytes.pxd`` (cimported by the
modules that use them); these are what the pure build runs. Each reads or writes at an offset
of a buffer, so the codec works inside one buffer per datagram.
"""

from __future__ import annotations

import struct
from zlib import crc32

__all__ = ["crc32", "get_u32", "put_u32"]

_U32 = struct.Struct("<I")


def get_u32(buf: bytes | bytearray | memoryview, offset: int) -> int:
    """The little-endian u32 at *offset*."""
    value: int = _U32.unpack_from(buf, offset)[0]
    return value


def put_u32(buf: bytearray | memoryview, offset: int, value: int) -> None:
    """Write *value* as a little-endian u32 at *offset*."""
    _U32.pack_into(buf, offset, value)
