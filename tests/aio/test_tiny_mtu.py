"""Tiny MTUs (kcp-go accepts down to 25 since 2026, for DNS and other small carriers): data
moves at the smallest MTU each crypto and FEC choice allows, one payload byte per segment."""

from __future__ import annotations

import asyncio
import os

import pytest

import pykcp
from pykcp import Config, ConfigError
from tests.helpers import echo_handler, run

CRYPTS = [None, "none", "aes", "salsa20", "aes-128-gcm"]


@pytest.mark.parametrize("fec", [False, True], ids=["nofec", "fec"])
@pytest.mark.parametrize("crypt", CRYPTS, ids=[str(c) for c in CRYPTS])
def test_data_moves_at_the_smallest_mtu(crypt: str | None, fec: bool) -> None:
    options = {
        "crypt": crypt,
        "key": "tiny" if crypt else None,
        "data_shards": 2 if fec else 0,
        "parity_shards": 1 if fec else 0,
        "mode": "fast3",
        "sndwnd": 512,
        "rcvwnd": 512,
    }
    smallest = Config(**options).min_mtu  # type: ignore[arg-type]
    config = Config(mtu=smallest, **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Config(mtu=smallest - 1, **options)  # type: ignore[arg-type]

    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=config) as srv:
            port = srv.sockets[0].getsockname()[1]
            reader, writer = await pykcp.open_connection("127.0.0.1", port, config=config)
            session = writer.transport.get_extra_info("kcp_session")
            assert session.mss == 1
            payload = os.urandom(300)
            writer.write(payload)
            assert await asyncio.wait_for(reader.readexactly(len(payload)), 20) == payload
            stats = session.stats()
            assert stats.segments_sent >= len(payload)
            writer.close()

    run(main, timeout=30)
