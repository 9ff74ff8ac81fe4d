"""What the sans-IO session and listener tell their adapter (``next_event()``).

An adapter feeds the core datagrams, timer expiries and API calls, then drains these events
until ``next_event()`` returns None. Each event is a fact, not a request: the adapter decides
what to wake. Readiness events are edge-triggered (see each class), so an adapter that drains
them after every call never polls the core for state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pykcp.core.errors import KCPError

if TYPE_CHECKING:
    from pykcp.core.session import Session

__all__ = [
    "DataReadable",
    "Event",
    "NewSession",
    "OOBReceived",
    "PeerGone",
    "SessionClosed",
    "SessionReplaced",
    "Writable",
]


class Event:
    """Base class of every event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class DataReadable(Event):
    """Complete data is waiting: call :meth:`Session.recv` until it returns None.

    Raised when data arrives while the previous readiness was consumed (``recv()`` returned
    None since the last one); an adapter that stops reading early gets no new event until it
    reads again and drains the session.
    """


@dataclass(frozen=True, slots=True)
class Writable(Event):
    """The send queue fell below the write threshold after a send found it at or above it."""


@dataclass(frozen=True, slots=True)
class OOBReceived(Event):
    """An out-of-band datagram for this conversation (protocol.md §4)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class SessionClosed(Event):
    """The session ended; the last event it emits.

    ``error`` is None after a local :meth:`Session.close`, otherwise what reads and writes
    should raise from now on.
    """

    error: KCPError | None


@dataclass(frozen=True, slots=True)
class PeerGone(SessionClosed):
    """The session ended because the peer fell silent (idle or dead-link timeout, §6.5)."""


@dataclass(frozen=True, slots=True)
class SessionReplaced(SessionClosed):
    """The peer's address started a new conversation and the listener replaced this session
    with it (protocol.md §6.4)."""


@dataclass(frozen=True, slots=True)
class NewSession(Event):
    """A listener event: a datagram from a new peer created *session* (waiting for accept)."""

    session: Session
