"""A seeded, lossy, in-memory datagram link on a virtual clock, for testing KCP cores.

:class:`Link` is one direction of a path (loss, delay with jitter, duplication, optional
reordering); :class:`Pair` wires two :class:`~pykcp.core.kcp.KCP` cores with two links and runs them
the way a kcp-go session does: a flush at creation, then whenever the delay returned by the
previous flush has elapsed, plus after every application write. Time is a plain ``int`` of
virtual milliseconds that may run past 2**32; the cores see it masked to u32, so starting near
2**32 exercises timestamp wrap-around.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from pykcp.core.kcp import KCP

__all__ = ["Link", "LinkConfig", "Pair"]


@dataclass(frozen=True)
class LinkConfig:
    """Impairments of one direction; delays are one-way milliseconds."""

    loss: float = 0.0
    delay_min: int = 10
    delay_max: int = 10
    duplicate: float = 0.0
    reorder: bool = True  # False: FIFO, a late packet holds back the ones behind it
    corrupt: float = 0.0  # chance a datagram has one random byte flipped


@dataclass
class Link:
    """One direction of a path; ``send`` at a time, ``due`` to collect what has arrived."""

    config: LinkConfig
    rng: random.Random
    sent: int = 0
    dropped: int = 0
    delivered: int = 0
    trace: list[tuple[int, bytes]] | None = None  # set to a list to record every send
    _queue: list[tuple[int, int, bytes]] = field(default_factory=list)
    _seq: int = 0
    _last_delivery: int = 0

    def send(self, now: int, datagram: bytes) -> None:
        cfg = self.config
        self.sent += 1
        if self.trace is not None:
            self.trace.append((now, datagram))
        copies = 2 if cfg.duplicate and self.rng.random() < cfg.duplicate else 1
        for _ in range(copies):
            if cfg.loss and self.rng.random() < cfg.loss:
                self.dropped += 1
                continue
            delay = self.rng.randint(cfg.delay_min, cfg.delay_max)
            at = now + delay
            if not cfg.reorder:
                at = max(at, self._last_delivery)
                self._last_delivery = at
            data = datagram
            if cfg.corrupt and self.rng.random() < cfg.corrupt:
                buf = bytearray(data)
                buf[self.rng.randrange(len(buf))] ^= 1 << self.rng.randrange(8)
                data = bytes(buf)
            self._seq += 1
            heapq.heappush(self._queue, (at, self._seq, data))

    def next_time(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def due(self, now: int) -> list[bytes]:
        out = []
        queue = self._queue
        while queue and queue[0][0] <= now:
            out.append(heapq.heappop(queue)[2])
        self.delivered += len(out)
        return out


class Pair:
    """Two KCP cores joined by a :class:`Link` each way, run on a virtual clock.

    ``flush_at[i]`` is when side i flushes next (kcp-go session style). ``on_time`` callbacks
    registered with :meth:`every` drive the application; :meth:`run` advances the clock from
    event to event until a predicate holds or a time budget is spent.
    """

    def __init__(
        self,
        a: KCP,
        b: KCP,
        *,
        seed: int = 0,
        link: LinkConfig | None = None,
        back: LinkConfig | None = None,
        start_ms: int = 0,
    ) -> None:
        self.kcp = (a, b)
        rng = random.Random(seed)
        forward = link or LinkConfig()
        self.links = (
            Link(forward, random.Random(rng.getrandbits(64))),
            Link(back or forward, random.Random(rng.getrandbits(64))),
        )
        self.now = start_ms
        self.input_errors = [0, 0]
        self.flush_at = [start_ms, start_ms]
        self._timers: list[tuple[int, int, int, Callable[[Pair], None]]] = []
        self._timer_seq = 0
        for side in (0, 1):
            self._flush(side)

    # The side numbering: link 0 carries a -> b, link 1 carries b -> a.
    def _ship(self, side: int) -> None:
        for datagram in self.kcp[side].take_output():
            self.links[side].send(self.now, datagram)

    def _flush(self, side: int) -> None:
        delay = self.kcp[side].flush(self.now)
        self.flush_at[side] = self.now + delay
        self._ship(side)

    def write(self, side: int, data: bytes) -> int:
        """Application write on one side; flushes right away like kcp-go's Write."""
        rc = self.kcp[side].send(data)
        self._flush(side)
        return rc

    def every(
        self, period: int, callback: Callable[[Pair], None], start: int | None = None
    ) -> None:
        """Call ``callback(pair)`` every ``period`` ms of virtual time."""
        self._timer_seq += 1
        at = self.now if start is None else start
        heapq.heappush(self._timers, (at, self._timer_seq, period, callback))

    def step(self) -> None:
        """Advance the clock to the next event and process everything due at that time."""
        candidates = [self.flush_at[0], self.flush_at[1]]
        for link in self.links:
            t = link.next_time()
            if t is not None:
                candidates.append(t)
        if self._timers:
            candidates.append(self._timers[0][0])
        self.now = max(self.now, min(candidates))
        now = self.now
        for side in (0, 1):
            receiver = 1 - side
            core = self.kcp[receiver]
            for datagram in self.links[side].due(now):
                if core.input(datagram, now) < 0:
                    self.input_errors[receiver] += 1
            self._ship(receiver)
        while self._timers and self._timers[0][0] <= now:
            _, seq, period, callback = heapq.heappop(self._timers)
            callback(self)
            heapq.heappush(self._timers, (now + period, seq, period, callback))
        for side in (0, 1):
            if self.flush_at[side] <= now:
                self._flush(side)

    def run(self, until: Callable[[Pair], bool], budget_ms: int) -> bool:
        """Step until ``until(pair)`` is true (returns True) or ``budget_ms`` pass (False)."""
        deadline = self.now + budget_ms
        while not until(self):
            if self.now >= deadline:
                return False
            self.step()
        return True
