"""Futures that tasks sleep on until an event (or a deadline) wakes them."""

from __future__ import annotations

import asyncio

from pykcp.core.errors import KCPTimeoutError

__all__ = ["wait_for_wake", "wake_all"]


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def wait_for_wake(
    loop: asyncio.AbstractEventLoop, waiters: list[asyncio.Future[None]], deadline: float | None
) -> None:
    """Sleep until woken through *waiters* or until *deadline* (then KCPTimeoutError).

    Several tasks may wait in one list; :func:`wake_all` wakes them all to re-check.
    """
    if deadline is not None and deadline <= loop.time():
        raise KCPTimeoutError("timeout")
    waiter: asyncio.Future[None] = loop.create_future()
    waiters.append(waiter)
    handle = None if deadline is None else loop.call_at(deadline, _wake, waiter)
    try:
        await waiter
    finally:
        if handle is not None:
            handle.cancel()
        if waiter in waiters:
            waiters.remove(waiter)
    if deadline is not None and loop.time() >= deadline:
        raise KCPTimeoutError("timeout")


def wake_all(waiters: list[asyncio.Future[None]]) -> None:
    """Wake every task waiting in *waiters*."""
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()
