"""Small helpers shared by the asyncio-based tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from pykcp.core.errors import KCPError

T = TypeVar("T")


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
