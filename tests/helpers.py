"""Small helpers shared by the asyncio-based tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pykcp.core.errors import KCPError

T = TypeVar("T")

KCPTUN_TIMINGS = [
    ("normal", (0, 40, 2, 1)),
    ("fast", (0, 30, 2, 1)),
    ("fast2", (1, 20, 2, 1)),
    ("fast3", (1, 10, 2, 1)),
]
"""kcptun's modes and their (nodelay, interval, resend, nc)."""


def run(make: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    """Run a coroutine on a fresh loop, failing it after *timeout* seconds (never a hang)."""

    async def bounded() -> T:
        return await asyncio.wait_for(make(), timeout)

    return asyncio.run(bounded())


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A stream server callback that writes back everything it reads."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, KCPError):
        pass


@contextlib.asynccontextmanager
async def go_process(gopeer: Path, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """The Go peer running ``gopeer ARGS...`` with piped output, killed on exit."""
    proc = await asyncio.create_subprocess_exec(
        str(gopeer), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def ipv6_loopback() -> bool:
    """Whether this machine can bind a UDP socket on ::1."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def stop_process(proc: subprocess.Popen[str], wait: float = 5) -> None:
    """Stop a background process: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def deliver_due(
    in_flight: list[tuple[int, bool, bytes]], now: int, client: Any, listener: Any, source: Any
) -> None:
    """The in-memory link of the sans-IO pair tests: deliver the datagrams of *in_flight*
    ((arrival ms, to the server?, bytes)) due by *now* in arrival order, the server's from
    *source*, then run every session timer that is due. *in_flight* keeps the rest."""
    due = sorted((a for a in in_flight if a[0] <= now), key=lambda a: a[0])
    in_flight[:] = [a for a in in_flight if a[0] > now]
    for _, to_server, data in due:
        if to_server:
            listener.receive_datagrams([(bytearray(data), source)], now)
        else:
            client.receive_datagrams([bytearray(data)], now)
    for session in [client, *listener.sessions.values()]:
        deadline = session.get_timer()
        if deadline is not None and deadline <= now:
            session.handle_timer(now)
