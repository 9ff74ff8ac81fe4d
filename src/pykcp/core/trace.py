"""Trace events: what a session does, segment by segment, for reading a stall after the fact.

Like kcp-go's ``SetLogger``, but structured: a tracer is any callable taking the event's name
and a dict of its fields (all ints or strs). ``KCPSession.set_trace()`` installs one; with
none installed, a session whose ``pykcp.trace`` logger is enabled for DEBUG when it starts
logs its events there; otherwise tracing costs one comparison where an event would be.
``pykcp client/serve --trace FILE`` writes them as JSON lines.

Events and their fields (times in ms, on the session's clock):

* ``sent`` sn, size, now: a segment's first transmission;
* ``retransmit`` sn, why (``rto``, ``fast``, ``early``), now;
* ``acked`` sn, xmit (transmissions it took), by (``ack`` or ``una``);
* ``rto`` rtt, srtt, rttvar, rto: the RTT estimate moved the retransmission timeout;
* ``window_full`` remote_wnd, probe_wait, now: the peer's window is closed, a probe is due;
  or waiting, snd_wnd, now: a write filled the send window;
* ``fec_recovered`` group, count: segments rebuilt from parity;
* ``fec_lost`` group, data: a group dropped with data packets FEC could not protect;
* ``replaced`` conv: the listener replaced the session (a new conversation, protocol.md §6.4);
* ``liveness_expired`` silent_ms, reason: the peer was gone for too long (protocol.md §6.5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = [
    "ACKED",
    "FEC_LOST",
    "FEC_RECOVERED",
    "LIVENESS_EXPIRED",
    "REPLACED",
    "RETRANSMIT",
    "RTO",
    "SENT",
    "WINDOW_FULL",
    "Tracer",
]

Tracer = Callable[[str, dict[str, int | str]], None]

SENT: Final = "sent"
RETRANSMIT: Final = "retransmit"
ACKED: Final = "acked"
RTO: Final = "rto"
WINDOW_FULL: Final = "window_full"
FEC_RECOVERED: Final = "fec_recovered"
FEC_LOST: Final = "fec_lost"
REPLACED: Final = "replaced"
LIVENESS_EXPIRED: Final = "liveness_expired"
