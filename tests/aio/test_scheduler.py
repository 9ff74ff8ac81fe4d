"""pykcp.aio.scheduler: one timer heap per loop for every session."""

from __future__ import annotations

import asyncio
import socket

import pykcp
from pykcp import Config
from pykcp.aio.scheduler import Scheduler, get_scheduler, now_ms


async def until(condition: object, limit: float = 5.0) -> None:
    """Poll *condition* (a callable) until true; fail after *limit* seconds."""
    for _ in range(int(limit / 0.01)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


class Recorder:
    def __init__(self, loop: asyncio.AbstractEventLoop, name: str, log: list[str]) -> None:
        self.loop = loop
        self.name = name
        self.log = log
        self.following: int | None = None
        self.fail = False

    def on_timer(self, now: int) -> int | None:
        self.log.append(self.name)
        if self.fail:
            raise RuntimeError("broken session")
        following, self.following = self.following, None
        return following


def test_items_fire_in_deadline_order_and_reschedule() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop)
        log: list[str] = []
        a, b, c = (Recorder(loop, name, log) for name in "abc")
        start = now_ms(loop)
        scheduler.schedule(c, start + 30)
        scheduler.schedule(a, start + 10)
        scheduler.schedule(b, start + 20)
        a.following = start + 40  # a asks to run again
        await until(lambda: len(log) == 4)
        assert log == ["a", "b", "c", "a"]
        assert len(scheduler) == 0

    asyncio.run(main())


def test_earlier_deadline_wins_and_later_one_is_lazy() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop)
        log: list[str] = []
        item = Recorder(loop, "x", log)
        start = now_ms(loop)
        scheduler.schedule(item, start + 50)
        scheduler.schedule(item, start + 5)  # earlier: replaces
        scheduler.schedule(item, start + 200)  # later: ignored, it already runs sooner
        await until(lambda: log == ["x"])
        assert scheduler._heap  # the superseded start+50 entry is still in the heap ...
        await asyncio.sleep(0.3)
        assert log == ["x"]  # ... but skipped when it surfaced
        assert not scheduler._heap

    asyncio.run(main())


def test_cancel_and_failures_do_not_stop_other_items() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop)
        log: list[str] = []
        broken, cancelled, healthy = (Recorder(loop, n, log) for n in ("broken", "gone", "ok"))
        broken.fail = True
        start = now_ms(loop)
        scheduler.schedule(broken, start + 5)
        scheduler.schedule(cancelled, start + 6)
        scheduler.schedule(healthy, start + 7)
        scheduler.cancel(cancelled)
        await until(lambda: "ok" in log)
        await asyncio.sleep(0.02)
        assert log == ["broken", "ok"]

    asyncio.run(main())


def test_one_scheduler_per_loop() -> None:
    async def main() -> Scheduler:
        scheduler = get_scheduler()
        assert get_scheduler(asyncio.get_running_loop()) is scheduler
        return scheduler

    assert asyncio.run(main()) is not asyncio.run(main())


def test_idle_sessions_leave_the_timer_heap() -> None:
    """Once the ACKs are out, quiet sessions have no timer entry at all (without keepalives;
    with them, see the next test)."""

    async def main() -> None:
        config = Config.preset("fast3", keepalive=None, idle_timeout=None)
        listener = await pykcp.listen(("127.0.0.1", 0), config)
        clients = []
        for _ in range(20):
            client = await pykcp.dial(listener.local_address, config)
            await client.write(b"hi")
            clients.append(client)
        for _ in range(20):
            session = await listener.accept()
            assert await session.read() == b"hi"
        for client in clients:  # a second datagram establishes each server session
            await client.write(b"!")
        scheduler = get_scheduler()
        for _ in range(100):
            if len(scheduler) == 0:
                break
            await asyncio.sleep(0.02)
        assert len(scheduler) == 0
        # Activity re-arms exactly the sessions involved.
        await clients[0].write(b"again")
        assert len(scheduler) >= 1
        for client in clients:
            client.close()
        listener.close()

    asyncio.run(main())


def test_idle_sessions_with_keepalives_wake_only_for_them() -> None:
    """The default keepalive: an idle session's only timer is its next probe, seconds away."""

    async def main() -> None:
        config = Config.preset("fast3")
        listener = await pykcp.listen(("127.0.0.1", 0), config)
        clients = []
        for _ in range(10):
            client = await pykcp.dial(listener.local_address, config)
            await client.write(b"hi")
            clients.append(client)
        for _ in range(10):
            session = await listener.accept()
            assert await session.read() == b"hi"
        await asyncio.sleep(0.3)
        scheduler = get_scheduler()
        earliest = scheduler.earliest()
        assert len(scheduler) == 20 and earliest is not None
        assert earliest - now_ms(asyncio.get_running_loop()) > 5000
        for client in clients:
            client.close()
        listener.close()

    asyncio.run(main())


def test_many_due_sessions_share_the_loop_with_the_sockets() -> None:
    # Thousands of timers due at once (retransmissions after a stall) run a bounded number
    # per callback; between callbacks the loop polls its sockets, so a listener keeps
    # reading instead of letting its receive buffer overflow.
    from pykcp.aio.scheduler import _MAX_PER_CALLBACK

    async def main() -> None:
        loop = asyncio.get_running_loop()
        scheduler = Scheduler(loop)
        log: list[str] = []
        marks: list[int] = []
        reader, writer = socket.socketpair()
        reader.setblocking(False)

        class Sender(Recorder):
            def on_timer(self, now: int) -> int | None:
                writer.send(b"x")  # a datagram arrives while the timers run
                return super().on_timer(now)

        items = [Sender(loop, "0", log)]
        items += [Recorder(loop, str(i), log) for i in range(1, 2 * _MAX_PER_CALLBACK + 10)]
        start = now_ms(loop)
        for item in items:
            scheduler.schedule(item, start + 5)

        def on_readable() -> None:
            reader.recv(64)
            marks.append(len(log))

        loop.add_reader(reader.fileno(), on_readable)
        await until(lambda: len(log) == len(items))
        loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()
        assert marks == [_MAX_PER_CALLBACK]  # served right after the first callback's share
        assert sorted(log, key=int) == [str(i) for i in range(len(items))]

    asyncio.run(main())
