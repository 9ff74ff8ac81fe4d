"""pykcp.tunnel against Debian's kcptun 20210922 (kcptun-client / kcptun-server on PATH).

Both directions: pykcp tunnel client -> kcptun-server -> TCP echo target, and kcptun-client ->
pykcp tunnel server -> target. Every case runs 50 TCP connections at once through one
session and checks the echo byte for byte (odd connections random, even ones compressible).
Each connection moves 512 KiB each way rather than several MiB: eight cases at 2 MiB took
about two minutes on the 2-core CI machine; 512 KiB keeps the file near 30 s.

pykcp's defaults are today's kcptun's, whose smux version is 2; kcptun 20210922 speaks 1, so
every case passes ``--smuxver`` to both sides, as a user talking to it has to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pykcp.tunnel import ClientConfig, ServerConfig, TunnelClient, TunnelServer
from tests.conftest import require_executable
from tests.helpers import run
from tests.tunnel.test_tunnel import echo_server, exchange_many

pytestmark = pytest.mark.interop

CONNECTIONS = 50
SIZE = 512 * 1024
KEY = "interop secret"

# (direction, compression, smux version, cipher): both directions see every compression x
# smux version pair, and each with both ciphers across the set.
CASES = [
    ("pykcp-client", True, 1, "aes"),
    ("pykcp-client", True, 2, "salsa20"),
    ("pykcp-client", False, 1, "salsa20"),
    ("pykcp-client", False, 2, "aes"),
    ("kcptun-client", True, 1, "salsa20"),
    ("kcptun-client", True, 2, "aes"),
    ("kcptun-client", False, 1, "aes"),
    ("kcptun-client", False, 2, "salsa20"),
]


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _kcptun_flags(compress: bool, smuxver: int, crypt: str) -> list[str]:
    flags = ["--key", KEY, "--crypt", crypt, "--ds", "10", "--ps", "3"]
    flags += ["--smuxver", str(smuxver), "--quiet"]
    return flags if compress else [*flags, "--nocomp"]


@contextlib.asynccontextmanager
async def _kcptun(argv: list[str]) -> AsyncIterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


async def _wait_tcp(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert time.monotonic() < deadline, "kcptun-client did not start listening"
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("direction", "compress", "smuxver", "crypt"),
    CASES,
    ids=[f"{d}-{'snappy' if c else 'nocomp'}-v{v}-{k}" for d, c, v, k in CASES],
)
def test_tunnel_with_kcptun(direction: str, compress: bool, smuxver: int, crypt: str) -> None:
    options: dict[str, Any] = {
        "key": KEY,
        "crypt": crypt,
        "nocomp": not compress,
        "smuxver": smuxver,
        "quiet": True,
    }
    flags = _kcptun_flags(compress, smuxver, crypt)
    kcptun = require_executable(f"kcptun-{'server' if direction == 'pykcp-client' else 'client'}")

    async def pykcp_client(target: int) -> None:
        kcp_port = _free_port(socket.SOCK_DGRAM)
        argv = [kcptun, "-l", f"127.0.0.1:{kcp_port}", "-t", f"127.0.0.1:{target}", *flags]
        async with _kcptun(argv) as proc:
            client = TunnelClient(
                ClientConfig(localaddr="127.0.0.1:0", remoteaddr=f"127.0.0.1:{kcp_port}", **options)
            )
            await client.start()
            try:
                # KCP has no handshake: data sent before kcptun binds is retransmitted.
                await exchange_many(client.local_address[1], CONNECTIONS, SIZE)
                assert proc.poll() is None
            finally:
                await client.close()

    async def kcptun_client(target: int) -> None:
        server = TunnelServer(
            ServerConfig(listen="127.0.0.1:0", target=f"127.0.0.1:{target}", **options)
        )
        await server.start()
        try:
            tcp_port = _free_port(socket.SOCK_STREAM)
            remote = f"127.0.0.1:{server.local_address[1]}"
            argv = [kcptun, "-l", f"127.0.0.1:{tcp_port}", "-r", remote, *flags]
            async with _kcptun(argv) as proc:
                await _wait_tcp(tcp_port)
                await exchange_many(tcp_port, CONNECTIONS, SIZE)
                assert len(server.sessions) == 1
                assert proc.poll() is None
        finally:
            await server.close()

    async def main() -> None:
        async with echo_server() as target:
            if direction == "pykcp-client":
                await pykcp_client(target)
            else:
                await kcptun_client(target)

    run(main, timeout=100)


def test_default_smux_version_mismatch_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """kcptun-client 20210922 with its defaults (smux 1) against a pykcp server with today's
    defaults (smux 2): nothing gets through, and the server says why."""
    kcptun = require_executable("kcptun-client")

    async def main() -> None:
        async with echo_server() as target:
            server = TunnelServer(
                ServerConfig(listen="127.0.0.1:0", target=f"127.0.0.1:{target}", key=KEY)
            )
            await server.start()
            try:
                tcp_port = _free_port(socket.SOCK_STREAM)
                remote = f"127.0.0.1:{server.local_address[1]}"
                argv = [kcptun, "-l", f"127.0.0.1:{tcp_port}", "-r", remote, "--key", KEY]
                async with _kcptun(argv):
                    await _wait_tcp(tcp_port)
                    reader, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
                    writer.write(b"hello")
                    try:
                        echoed = await asyncio.wait_for(reader.read(5), 3)
                    except (TimeoutError, ConnectionError):
                        echoed = b""
                    assert echoed == b""
                    writer.close()
            finally:
                await server.close()

    with caplog.at_level(logging.INFO, logger="pykcp.tunnel"):
        run(main, timeout=30)
    assert "the client uses another --smuxver" in caplog.text


def _kcptun_defaults(program: str) -> dict[str, str]:
    path = require_executable(program)
    text = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=20).stdout
    defaults = {}
    for match in re.finditer(r"^\s+--(\w+)[^\n]*?\(default: \"?(.*?)\"?\)", text, re.M):
        defaults[match.group(1)] = match.group(2)
    return defaults


# Defaults today's kcptun changed since 20210922 (pykcp follows today's).
CHANGED_SINCE_20210922 = {"smuxver": ("1", "2")}


@pytest.mark.parametrize(
    ("program", "config"),
    [("kcptun-client", ClientConfig()), ("kcptun-server", ServerConfig())],
    ids=["client", "server"],
)
def test_defaults_match_kcptun_help(program: str, config: ClientConfig | ServerConfig) -> None:
    """Every default kcptun 20210922 lists is pykcp's, but for those today's kcptun changed."""
    defaults = _kcptun_defaults(program)
    assert len(defaults) >= 17  # every valued flag kcptun lists
    assert set(CHANGED_SINCE_20210922) <= set(defaults)
    for name, value in defaults.items():
        old, new = CHANGED_SINCE_20210922.get(name, (value, value))
        assert value == old, name
        assert str(getattr(config, name)) == new, name
