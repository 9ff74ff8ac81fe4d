"""Stream multiplexing over one reliable byte stream, wire-compatible with xtaci/smux 1.5.x.

kcptun (20210922, smux 1.5.16) runs many TCP connections through one KCP session with smux.
This module speaks the same protocol over any asyncio byte stream (a ``StreamReader`` /
``StreamWriter`` pair: TCP, a pykcp session, a socketpair...), so it works on its own.

Wire format: every frame starts with an 8-byte header ``version u8 | cmd u8 | length u16 LE |
stream id u32 LE``. ``PSH`` carries ``length`` bytes of stream data, ``UPD`` (version 2 only)
carries ``consumed u32 LE | window u32 LE``; ``SYN``, ``FIN`` and ``NOP`` carry nothing (smux
reads no payload for them whatever ``length`` says, and so does this module).

Behaviour follows smux 1.5.16 where a peer could notice the difference:

- A client allocates odd stream ids starting at 3, a server even ids starting at 2 (the counter
  starts at 1 / 0 and is bumped before use). When ids run out :class:`SmuxGoAwayError` is raised.
- ``FIN`` means "I will send no more". smux has no half-close call: ``Stream.Close`` sends FIN and
  forgets the stream, so later data for it is dropped. Here ``writer.write_eof()`` sends FIN and
  keeps reading (the peer can still answer), ``writer.close()`` flushes what was written, sends
  FIN and drops whatever arrives afterwards.
- Version 1 bounds the whole session: once ``max_receive_buffer`` bytes wait unread, the session
  stops reading the connection (every stream stalls). Version 2 adds a per-stream window: the
  receiver sends ``UPD(consumed, max_stream_buffer)`` on its first read and then every
  ``max_stream_buffer / 2`` bytes read, and the sender keeps ``written - consumed`` below the
  peer's window (262144 bytes until the first UPD).
- In version 2, when the peer has sent FIN and the window is exhausted, smux gives up on the
  write. So does this module (:class:`StreamResetError`), unless the peer sent an UPD after its
  FIN: this module does that on ``write_eof()`` to say "still reading", which keeps half-closed
  request/response exchanges between two pykcp peers working. smux ignores the extra UPD.
- Keepalive: a NOP every ``keep_alive_interval``; every ``keep_alive_timeout`` the session checks
  that some frame arrived since the last check, and closes with
  :class:`SmuxKeepAliveTimeoutError` if none did (unless it has stopped reading because the
  receive buffer is full).
- A frame with the wrong version or an unknown command is a protocol error. smux stops reading
  and reports the error to every reader; this module closes the session with
  :class:`SmuxProtocolError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from pykcp.core.errors import (
    ConfigError,
    KCPError,
    KCPTimeoutError,
    PeerGoneError,
)

__all__ = [
    "ACCEPT_BACKLOG",
    "CMD_FIN",
    "CMD_NOP",
    "CMD_PSH",
    "CMD_SYN",
    "CMD_UPD",
    "HEADER",
    "HEADER_SIZE",
    "INITIAL_PEER_WINDOW",
    "UPDATE",
    "UPDATE_SIZE",
    "FrameHeader",
    "SmuxConfig",
    "SmuxGoAwayError",
    "SmuxKeepAliveTimeoutError",
    "SmuxProtocolError",
    "StreamResetError",
    "decode_header",
    "decode_update",
    "encode_frame",
    "encode_update",
]

CMD_SYN = 0
"""Open a stream."""
CMD_FIN = 1
"""The sender will send no more data on the stream."""
CMD_PSH = 2
"""Stream data."""
CMD_NOP = 3
"""Keepalive; carries nothing."""
CMD_UPD = 4
"""Version 2 window update: ``consumed u32 | window u32``."""

HEADER_SIZE = 8
UPDATE_SIZE = 8
INITIAL_PEER_WINDOW = 262144
"""smux's guess of the peer's window before its first UPD arrives."""
ACCEPT_BACKLOG = 1024
"""Streams opened by the peer and not yet accepted; beyond it the session stops reading."""

HEADER = struct.Struct("<BBHI")
"""version u8, cmd u8, length u16, stream id u32."""
UPDATE = struct.Struct("<II")
"""An UPD frame's body: consumed u32, window u32."""
_U32 = 0xFFFFFFFF


class SmuxProtocolError(KCPError, ConnectionError):
    """The peer sent something smux does not allow (bad version, unknown command, truncated
    frame, a window update acknowledging unsent data)."""


class SmuxGoAwayError(KCPError, ConnectionError):
    """Stream ids are exhausted on this session; open a new one (smux's ErrGoAway)."""


class SmuxKeepAliveTimeoutError(PeerGoneError, KCPTimeoutError):
    """No frame arrived within ``keep_alive_timeout``."""


class StreamResetError(KCPError, ConnectionResetError):
    """The peer closed the stream while written data was still waiting for window."""


@dataclass
class SmuxConfig:
    """smux's ``Config`` with its defaults; durations are in seconds.

    Both ends must use the same ``version``; the other options are local.
    """

    version: int = 1
    keep_alive_disabled: bool = False
    keep_alive_interval: float = 10.0
    keep_alive_timeout: float = 30.0
    max_frame_size: int = 32768
    max_receive_buffer: int = 4194304
    max_stream_buffer: int = 65536

    def verify(self) -> None:
        """Raise :class:`~pykcp.core.errors.ConfigError` where smux's VerifyConfig would."""
        if self.version not in (1, 2):
            raise ConfigError(f"unsupported smux protocol version {self.version}")
        if not self.keep_alive_disabled:
            if self.keep_alive_interval <= 0:
                raise ConfigError("keep-alive interval must be positive")
            if self.keep_alive_timeout < self.keep_alive_interval:
                raise ConfigError("keep-alive timeout must be larger than keep-alive interval")
        if self.max_frame_size <= 0:
            raise ConfigError("max frame size must be positive")
        if self.max_frame_size > 65535:
            raise ConfigError("max frame size must not be larger than 65535")
        if self.max_receive_buffer <= 0:
            raise ConfigError("max receive buffer must be positive")
        if self.max_stream_buffer <= 0:
            raise ConfigError("max stream buffer must be positive")
        if self.max_stream_buffer > self.max_receive_buffer:
            raise ConfigError("max stream buffer must not be larger than max receive buffer")
        if self.max_stream_buffer > 0x7FFFFFFF:
            raise ConfigError("max stream buffer cannot be larger than 2147483647")


class FrameHeader(NamedTuple):
    """A decoded 8-byte frame header."""

    version: int
    cmd: int
    length: int
    stream_id: int


def encode_frame(version: int, cmd: int, stream_id: int, payload: bytes = b"") -> bytes:
    """One frame: header followed by ``payload`` (at most 65535 bytes)."""
    return HEADER.pack(version, cmd, len(payload), stream_id) + payload


def decode_header(data: bytes | bytearray | memoryview) -> FrameHeader:
    """Decode the first 8 bytes of ``data`` (which must hold at least that many)."""
    return FrameHeader(*HEADER.unpack_from(data))


def encode_update(consumed: int, window: int) -> bytes:
    """Payload of a version 2 UPD frame."""
    return UPDATE.pack(consumed & _U32, window & _U32)


def decode_update(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """``(consumed, window)`` from an UPD payload."""
    consumed, window = UPDATE.unpack_from(data)
    return consumed, window
