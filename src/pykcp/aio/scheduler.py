"""One timer for every session of an event loop.

kcp-go runs a pool of heap-based timer workers; the asyncio equivalent is a single min-heap of
(deadline, session) per loop with one ``loop.call_at`` handle armed at the earliest deadline.
Scheduling is lazy: a session whose deadline moves later keeps its earlier heap entry (firing
early is harmless, the session just reports its real deadline), and an entry whose deadline no
longer matches the session's is skipped. An idle session has no entry at all, so it costs
nothing between deadlines.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import weakref
from typing import Protocol

__all__ = ["Scheduler", "Timed", "get_scheduler", "now_ms"]

logger = logging.getLogger(__name__)

# Sessions one timer callback runs at most. When many are due at once (thousands of
# retransmission timers after a stall), the rest run in the next callback, after the loop has
# polled the sockets: a listener keeps draining its socket instead of letting it overflow
# (protocol.md §6.3).
_MAX_PER_CALLBACK = 256


class Timed(Protocol):
    """Something the scheduler can wake: a session adapter."""

    def on_timer(self, now: int) -> int | None:
        """Run due work at *now* (ms); return the next deadline in ms, or None for none."""


def now_ms(loop: asyncio.AbstractEventLoop) -> int:
    """The loop's monotonic clock in whole milliseconds (the time base of every session)."""
    return int(loop.time() * 1000.0)


class Scheduler:
    """A deadline heap driving :meth:`Timed.on_timer` calls on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[int, int, Timed]] = []
        self._scheduled: dict[int, int] = {}  # id(item) -> the deadline its live entry holds
        self._counter = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at: int | None = None
        self._firing = False

    def __len__(self) -> int:
        return len(self._scheduled)

    def earliest(self) -> int | None:
        """The earliest deadline of any scheduled item (ms), or None when none is scheduled."""
        return min(self._scheduled.values(), default=None)

    def schedule(self, item: Timed, deadline: int | None) -> None:
        """Make sure *item* runs no later than *deadline* (ms); None is a no-op."""
        if deadline is None:
            return
        key = id(item)
        current = self._scheduled.get(key)
        if current is not None and current <= deadline:
            return
        self._scheduled[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._counter), item))
        armed = self._armed_at
        if not self._firing and (armed is None or deadline < armed):
            self._arm(deadline)

    def cancel(self, item: Timed) -> None:
        """Forget *item* (its heap entry is skipped when it surfaces)."""
        self._scheduled.pop(id(item), None)

    def _arm(self, deadline: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._armed_at = deadline
        self._handle = self._loop.call_at(deadline / 1000.0, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self._armed_at = None
        heap = self._heap
        now = now_ms(self._loop)
        self._firing = True
        try:
            self._run_due(now)
        finally:
            self._firing = False
            if heap:
                self._arm(heap[0][0])

    def _run_due(self, now: int) -> None:
        heap = self._heap
        scheduled = self._scheduled
        budget = _MAX_PER_CALLBACK
        while heap and heap[0][0] <= now and budget:
            deadline, _, item = heapq.heappop(heap)
            key = id(item)
            if scheduled.get(key) != deadline:
                continue  # superseded by an earlier entry, or cancelled
            del scheduled[key]
            budget -= 1
            try:
                following = item.on_timer(now)
            except Exception:  # one broken session must not stop every other session's timer
                logger.exception("pykcp: session timer failed")
                continue
            if following is not None:
                self.schedule(item, max(following, now + 1))


_schedulers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Scheduler] = (
    weakref.WeakKeyDictionary()
)


def get_scheduler(loop: asyncio.AbstractEventLoop | None = None) -> Scheduler:
    """The scheduler of *loop* (default: the running loop), created on first use."""
    if loop is None:
        loop = asyncio.get_running_loop()
    scheduler = _schedulers.get(loop)
    if scheduler is None:
        scheduler = _schedulers[loop] = Scheduler(loop)
    return scheduler
