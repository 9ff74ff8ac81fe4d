"""xtaci/smux v1 and v2 stream multiplexing over any asyncio byte stream.

``frame`` holds the wire format (frames, window updates), the configuration and the errors,
with no asyncio; ``session`` runs a :class:`MuxSession` and its streams on a loop.
"""

from pykcp.smux.frame import (
    ACCEPT_BACKLOG,
    CMD_FIN,
    CMD_NOP,
    CMD_PSH,
    CMD_SYN,
    CMD_UPD,
    HEADER_SIZE,
    INITIAL_PEER_WINDOW,
    UPDATE_SIZE,
    FrameHeader,
    SmuxConfig,
    SmuxGoAwayError,
    SmuxKeepAliveTimeoutError,
    SmuxProtocolError,
    StreamResetError,
    decode_header,
    decode_update,
    encode_frame,
    encode_update,
)
from pykcp.smux.session import MuxSession

__all__ = [
    "ACCEPT_BACKLOG",
    "CMD_FIN",
    "CMD_NOP",
    "CMD_PSH",
    "CMD_SYN",
    "CMD_UPD",
    "HEADER_SIZE",
    "INITIAL_PEER_WINDOW",
    "UPDATE_SIZE",
    "FrameHeader",
    "MuxSession",
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
