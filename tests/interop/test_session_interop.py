"""pykcp.aio sessions against live kcp-go 5.6.1 sessions (gopeer serve / client), both ways."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from pathlib import Path
from typing import Any

import pytest

import pykcp
from pykcp import Config, PeerGoneError
from pykcp.tools.relay import LossyRelay
from tests.helpers import echo_handler, go_process, run

pytestmark = pytest.mark.interop

PASSWORD = "pykcp interop"
CASES = {
    "aes-fec-10-3": ("aes", 10, 3),
    "null-nofec": ("null", 0, 0),
}
CASE_IDS = list(CASES)


def config_for(case: str) -> tuple[Config, list[str]]:
    """The same settings for pykcp and for the Go peer's flags (fast2, windows 1024)."""
    crypt, ds, ps = CASES[case]
    config = Config.preset(
        "fast2",
        crypt=crypt,
        key=PASSWORD if crypt != "null" else None,
        data_shards=ds,
        parity_shards=ps,
        sndwnd=1024,
        rcvwnd=1024,
        stream=True,
    )
    flags = ["-crypt", crypt, "-key", PASSWORD, "-ds", str(ds), "-ps", str(ps),
             "-nodelay", "1", "-interval", "20", "-resend", "2", "-nc", "1",
             "-sndwnd", "1024", "-rcvwnd", "1024", "-mtu", "1400"]  # fmt: skip
    return config, flags


@pytest.mark.parametrize("case", CASE_IDS)
def test_go_client_to_pykcp_server(gopeer: Path, case: str) -> None:
    config, flags = config_for(case)

    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=config) as srv:
            port = srv.sockets[0].getsockname()[1]
            size = 2_000_000
            async with go_process(
                gopeer, "client", "-addr", f"127.0.0.1:{port}", "-size", str(size), *flags
            ) as proc:
                out, err = await asyncio.wait_for(proc.communicate(), 45)
            assert proc.returncode == 0, err.decode()
            words = out.decode().split()
            assert words[:2] == ["OK", str(size)], out
            (session,) = srv.listener.sessions
            assert session.snmp.BytesReceived == size
            # The listener opens the crypto layer, so checksum failures would be its own.
            assert srv.listener.snmp.InCsumErrors == 0 and session.snmp.KCPInErrors == 0
            if CASES[case][1]:
                assert session.snmp.FECParityShards > 0  # Go's parity reached the decoder

    run(main)


@pytest.mark.parametrize("case", CASE_IDS)
def test_pykcp_client_to_go_server(gopeer: Path, case: str) -> None:
    config, flags = config_for(case)

    async def main() -> None:
        async with go_process(gopeer, "serve", "-idle", "3s", *flags) as proc:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()
            assert line[0] == "LISTEN", line
            host, _, port = line[1].rpartition(":")
            reader, writer = await pykcp.open_connection(host, int(port), config=config)
            payload = random.Random(5).randbytes(2_000_000)
            received = bytearray()

            async def read_all() -> None:
                while len(received) < len(payload):
                    received.extend(await reader.read(1 << 20))

            reading = asyncio.create_task(read_all())
            for start in range(0, len(payload), 50_000):
                writer.write(payload[start : start + 50_000])
                await writer.drain()
            await asyncio.wait_for(reading, 45)
            assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()
            snmp: Any = writer.get_extra_info("kcp_session").snmp
            assert snmp.InCsumErrors == 0 and snmp.KCPInErrors == 0
            writer.close()

    run(main)


def test_many_pykcp_clients_to_one_go_server(gopeer: Path) -> None:
    config, flags = config_for("aes-fec-10-3")

    async def main() -> None:
        async with go_process(gopeer, "serve", "-idle", "3s", *flags) as proc:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()
            host, _, port = line[1].rpartition(":")

            async def client(index: int) -> None:
                reader, writer = await pykcp.open_connection(host, int(port), config=config)
                message = os.urandom(1000 + index)
                for _ in range(5):
                    writer.write(message)
                    assert await reader.readexactly(len(message)) == message
                writer.close()

            await asyncio.gather(*(client(i) for i in range(16)))

    run(main)


def test_killed_go_server_ends_the_pykcp_session_with_peer_gone(gopeer: Path) -> None:
    config, flags = config_for("null-nofec")
    config = config.replace(dead_link_timeout=1.0)

    async def main() -> None:
        async with go_process(gopeer, "serve", "-idle", "3s", *flags) as proc:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().split()
            host, _, port = line[1].rpartition(":")
            client = await pykcp.dial((host, int(port)), config)
            await client.write(b"are you there")
            assert await client.readexactly(13) == b"are you there"
            proc.kill()
            await proc.wait()
            await client.write(b"hello?")
            with pytest.raises(PeerGoneError):
                await client.read()

    run(main)


def test_go_client_through_a_lossy_link_with_fec(gopeer: Path) -> None:
    """kcp-go's parity shards rebuild what the relay drops, in pykcp's FEC decoder."""
    config, flags = config_for("aes-fec-10-3")

    async def main() -> None:
        async with await pykcp.start_server(echo_handler, "127.0.0.1", 0, config=config) as srv:
            relay = await LossyRelay.start(srv.sockets[0].getsockname(), loss=0.05, seed=11)
            host, port = relay.address
            size = 1_000_000
            async with go_process(
                gopeer, "client", "-addr", f"{host}:{port}", "-size", str(size), *flags
            ) as proc:
                out, err = await asyncio.wait_for(proc.communicate(), 45)
            assert proc.returncode == 0, err.decode()
            assert out.decode().split()[:2] == ["OK", str(size)]
            assert relay.dropped > 0
            (session,) = srv.listener.sessions
            assert session.snmp.FECRecovered > 0
            relay.close()

    run(main)
