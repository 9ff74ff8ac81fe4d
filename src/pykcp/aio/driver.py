"""The one piece of asyncio code that drives a sans-IO :class:`~pykcp.core.session.Session`.

A :class:`SessionDriver` feeds its session what the socket and the loop's clock bring, sends
what the session produces, keeps the session's timer in the loop's scheduler, and turns the
session's events into calls on the faces above it:

* the :class:`~pykcp.aio.session.KCPSession` (kcp-go style ``read``/``write``) is always
  there, and
* a :class:`~pykcp.aio.transport.KCPTransport` may take over reading for asyncio streams.

That is the whole way up from the socket: Endpoint -> (listener) -> driver -> session ->
events -> one face. Faces talk to the driver only through its public methods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from pykcp.aio.endpoint import Batch, Endpoint
from pykcp.aio.scheduler import get_scheduler, now_ms
from pykcp.core.errors import KCPError, SessionClosedError
from pykcp.core.events import DataReadable, OOBReceived, SessionClosed, Writable
from pykcp.core.session import Buffer, Session
from pykcp.core.snmp import DEFAULT_SNMP
from pykcp.core.trace import Tracer

__all__ = ["SessionConsumer", "SessionDriver", "logging_tracer", "trace_logger"]

logger = logging.getLogger("pykcp")
trace_logger = logging.getLogger("pykcp.trace")
"""Where sessions log their trace events at DEBUG when no tracer was set (see
:mod:`pykcp.core.trace`); checked once, when a session starts."""


def logging_tracer(conv: int) -> Tracer:
    """A tracer that logs each event of session *conv* to :data:`trace_logger` at DEBUG."""

    def trace(event: str, fields: dict[str, int | str]) -> None:
        trace_logger.debug("conv=%#010x %s %s", conv, event, fields, extra={"trace": fields})

    return trace


class SessionConsumer(Protocol):
    """What a face above the driver is told."""

    def data_readable(self) -> None:
        """Data waits: take it with :meth:`SessionDriver.read` until that returns b""."""

    def writable(self) -> None:
        """The send queue fell below the session's write threshold."""

    def session_closed(self, error: KCPError | None) -> None:
        """The session ended (*error* None after a local close)."""


class SessionDriver:
    """Runs one session on a loop; see the module docstring."""

    def __init__(
        self,
        session: Session,
        endpoint: Endpoint,
        loop: asyncio.AbstractEventLoop,
        *,
        owns_endpoint: bool,
        on_finished: Callable[[SessionDriver], None] | None = None,
    ) -> None:
        self.session = session
        self.endpoint = endpoint
        self.loop = loop
        self.owns_endpoint = owns_endpoint
        """True for a client session with a socket of its own (closed with the session)."""
        self._scheduler = get_scheduler(loop)
        self._on_finished = on_finished
        self.face: SessionConsumer | None = None
        self.transport: SessionConsumer | None = None
        self.oob_handler: Callable[[bytes], None] | None = None
        self._leftover = b""
        self.finished = False
        if trace_logger.isEnabledFor(logging.DEBUG):
            session.set_trace(logging_tracer(session.conv))
        DEFAULT_SNMP.attach(session.snmp)
        self._scheduler.schedule(self, session.get_timer())

    # -- wiring ----------------------------------------------------------------------------

    def attach_face(self, face: SessionConsumer) -> None:
        """The kcp-go style face; it reads unless a transport is attached."""
        self.face = face

    def attach_transport(self, transport: SessionConsumer) -> None:
        """Hand reading over to an asyncio transport (from now on the only reader)."""
        self.transport = transport

    # -- input from below ------------------------------------------------------------------

    def datagrams_received(self, batch: Batch, now: int) -> None:
        """A batch of datagrams for this session (the client endpoint's receiver)."""
        try:
            self.session.receive_datagrams([data for data, _ in batch], now)
            self.pump(now)
        except Exception as exc:
            self.fail(exc)

    def on_timer(self, now: int) -> int | None:
        """Scheduler callback: the session's timer is due."""
        try:
            self.session.handle_timer(now)
            self.pump(now)
        except Exception as exc:
            self.fail(exc)
        return None if self.finished else self.session.get_timer()

    def pump(self, now: int) -> None:
        """Dispatch the session's events, send what it produced, re-arm its timer."""
        session = self.session
        while (event := session.next_event()) is not None:
            if isinstance(event, DataReadable):
                reader = self.transport or self.face
                if reader is not None:
                    reader.data_readable()
            elif isinstance(event, Writable):
                if self.face is not None:
                    self.face.writable()
                if self.transport is not None:
                    self.transport.writable()
            elif isinstance(event, SessionClosed):
                self._finish(event.error, now)
                return
            elif isinstance(event, OOBReceived):
                handler = self.oob_handler
                if handler is not None:
                    try:
                        handler(event.data)
                    except Exception:  # a user callback must not break the receive path
                        session.snmp.InErrs += 1
                        logger.exception("pykcp: OOB handler failed")
        datagrams = session.datagrams_to_send(now)
        if datagrams:
            self.endpoint.send(datagrams, session.remote, session.snmp)
        self._scheduler.schedule(self, session.get_timer())

    # -- calls from the faces --------------------------------------------------------------

    def now(self) -> int:
        return now_ms(self.loop)

    @property
    def has_leftover(self) -> bool:
        """Part of a message a short read left behind waits."""
        return bool(self._leftover)

    def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes of received data (one message at most when *n* < 0); b"" if none."""
        leftover = self._leftover
        if not leftover:
            now = now_ms(self.loop)
            leftover = self.session.recv(now) or b""
            if not leftover:
                return b""
            # Taking data may reopen the receive window: the session's timer tells the peer.
            self._scheduler.schedule(self, self.session.get_timer())
        if 0 <= n < len(leftover):
            self._leftover = leftover[n:]
            return leftover[:n]
        self._leftover = b""
        return leftover

    def write(self, data: Buffer) -> int:
        """Queue *data* regardless of the window; raises the session's error once closed."""
        now = now_ms(self.loop)
        size = self.session.send(data, now)
        self._pump_guarded(now)
        return size

    def send_oob(self, payload: bytes) -> None:
        now = now_ms(self.loop)
        self.session.send_oob(payload, now)
        self._pump_guarded(now)

    def _pump_guarded(self, now: int) -> None:
        """pump() on behalf of an API call: a failure ends the session, and the call raises
        the session's error (not the internal one) like every later call will."""
        try:
            self.pump(now)
        except Exception as exc:
            self.fail(exc)
            raise self.session.error or SessionClosedError("session failed") from exc

    def close(self) -> bool:
        """[Close]: False if the session had already ended."""
        now = now_ms(self.loop)
        if not self.session.close(now):
            return False
        self.pump(now)
        return True

    def fail(self, exc: BaseException) -> None:
        """End the session with *exc*: a socket error, or a bug in a callback above or below.

        The session ends with the error visible to its reader and writer; other sessions of
        the loop are untouched.
        """
        if self.finished:
            return
        if isinstance(exc, KCPError):
            error: KCPError = exc
        else:
            if not isinstance(exc, OSError):
                logger.error("pykcp: session %#010x failed", self.session.conv, exc_info=exc)
            error = SessionClosedError(f"session failed: {exc!r}")
            error.__cause__ = exc
        session = self.session
        session.abort(error)
        while session.next_event() is not None:
            pass  # the faces hear of the end below; the broken pipeline is not run again
        self._finish(error, now_ms(self.loop), flush=False)

    # -- the end ---------------------------------------------------------------------------

    def _finish(self, error: KCPError | None, now: int, *, flush: bool = True) -> None:
        if self.finished:
            return
        self.finished = True
        session = self.session
        if flush:
            datagrams = session.datagrams_to_send(now)  # what the closing flush produced
            if datagrams:
                self.endpoint.send(datagrams, session.remote, session.snmp)
        self._scheduler.cancel(self)
        DEFAULT_SNMP.detach(session.snmp)
        if self.owns_endpoint:
            self.endpoint.close()
        if self._on_finished is not None:
            self._on_finished(self)
        for consumer in (self.transport, self.face):
            if consumer is not None:
                try:
                    consumer.session_closed(error)
                except Exception:
                    logger.exception("pykcp: close notification failed")
