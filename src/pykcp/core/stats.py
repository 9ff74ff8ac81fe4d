"""A typed snapshot of one session's state and counters (what ``KCPSession.stats()`` returns).

One definition serves every reader: tools print it, the metrics exporter reads it, tests
assert on it. Counters come from the session's :class:`~pykcp.core.snmp.Snmp`; levels come
from its KCP state at the moment of the snapshot.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ListenerStats", "SessionStats"]


@dataclass(frozen=True, slots=True)
class SessionStats:
    """One session at one moment. Times are milliseconds, windows and queues segments."""

    conv: int
    """The conversation id."""
    srtt: int
    """Smoothed round-trip time."""
    rttvar: int
    """Round-trip time variation."""
    rto: int
    """Current retransmission timeout."""
    snd_wnd: int
    """Our send window."""
    rcv_wnd: int
    """Our receive window."""
    remote_wnd: int
    """The receive window the peer advertised last."""
    cwnd: int
    """Congestion window (unused with ``nc=1``)."""
    mss: int
    """Largest payload of one segment."""
    in_flight: int
    """Segments sent and not yet acknowledged by una (the send buffer)."""
    send_queue: int
    """Segments written and not yet in the window."""
    recv_queue: int
    """In-order segments waiting for the application."""
    recv_buffer: int
    """Out-of-order segments waiting for a gap to fill."""
    bytes_sent: int
    """Application bytes written."""
    bytes_received: int
    """Application bytes read."""
    segments_sent: int
    """KCP segments sent, ACKs and retransmissions included."""
    segments_received: int
    """KCP segments accepted."""
    datagrams_sent: int
    """UDP datagrams that left the socket."""
    datagrams_received: int
    """UDP datagrams that reached the session."""
    retransmitted: int
    """Segments sent again, every kind together."""
    retransmitted_rto: int
    """... because their timer expired (kcp-go's LostSegs)."""
    retransmitted_fast: int
    """... after duplicate ACKs (fast retransmit)."""
    retransmitted_early: int
    """... after duplicate ACKs with no new data flowing (early retransmit)."""
    duplicate_segments: int
    """Segments received twice."""
    fec_recovered: int
    """Segments rebuilt from parity."""
    fec_unrecoverable: int
    """Data packets held by FEC groups that were dropped before they could be decoded
    (FECShortShards): a count of packets, not of groups."""
    fec_errors: int
    """Rebuilds that failed or gave an invalid size field."""
    crypto_failures: int
    """Datagrams whose checksum or authentication tag failed (for a listener's sessions
    the listener checks first and counts them in its own counters)."""
    input_errors: int
    """Datagrams KCP rejected (wrong conv, bad header) or too short to parse."""
    last_heard: int
    """Milliseconds since the peer was last heard from (an accepted datagram)."""

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain ``dict`` (for JSON)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ListenerStats:
    """A listener at one moment: its bounds, what it dropped, and its sessions summed.

    The session counters include the sessions that ended, so they only ever grow.
    """

    sessions: int
    """Live sessions."""
    backlog: int
    """New sessions not yet accepted or not yet established."""
    pending_accept: int
    """New sessions not yet accepted."""
    sessions_created: int
    """Sessions the listener created since it started."""
    dropped_full: int
    """New peers turned away because the backlog or ``max_sessions`` was full."""
    dropped_invalid: int
    """Datagrams the listener could not attribute or that carried no usable conversation."""
    crypto_failures: int
    """Datagrams whose checksum or authentication tag failed."""
    bytes_sent: int
    """Application bytes written by the sessions."""
    bytes_received: int
    """Application bytes read by the sessions."""
    datagrams_sent: int
    """UDP datagrams that left the listener's socket."""
    datagrams_received: int
    """UDP datagrams that reached a session (those the listener dropped are not counted)."""
    retransmitted: int
    """Segments the sessions sent again, every kind together."""
    fec_recovered: int
    """Segments the sessions rebuilt from parity."""

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain ``dict`` (for JSON)."""
        return asdict(self)
