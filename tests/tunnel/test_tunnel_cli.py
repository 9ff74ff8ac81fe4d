"""``python -m pykcp.tunnel``: kcptun's flags, the -c JSON file, exit codes, and a clean
shutdown on SIGTERM/SIGINT of real processes."""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pykcp.tunnel import ClientConfig, ServerConfig
from pykcp.tunnel.cli import add_subcommands, build_config, main, parse_config
from tests.conftest import ROOT

# -- flags ------------------------------------------------------------------------------------


def test_client_flags_long_short_and_go_style() -> None:
    config = parse_config(
        [
            "client",
            "-l",
            "127.0.0.1:7000",
            "--remoteaddr",
            "10.1.1.1:4000",
            "-mode",  # Go accepts one dash for long flags
            "fast2",
            "--ds",
            "5",
            "-parityshard=2",
            "--conn",
            "3",
            "--nocomp",
            "-quiet",
            "--smuxver",
            "2",
            "--streambuf",
            "1048576",
        ]
    )
    assert isinstance(config, ClientConfig)
    assert (config.localaddr, config.remoteaddr, config.mode) == (
        "127.0.0.1:7000",
        "10.1.1.1:4000",
        "fast2",
    )
    assert (config.datashard, config.parityshard, config.conn) == (5, 2, 3)
    assert config.nocomp and config.quiet and not config.acknodelay
    assert (config.smuxver, config.streambuf) == (2, 1048576)
    assert config.timing() == (1, 20, 2, 1)


def test_todays_kcptun_flags() -> None:
    config = parse_config(
        ["client", "--crypt", "aes-128-gcm", "-QPP", "--QPPCount", "13", "--ratelimit",
         "4000000", "-closewait", "5", "--framesize", "4096", "--pprof", "--smuxver", "1"]
    )  # fmt: skip
    assert isinstance(config, ClientConfig)
    assert (config.crypt, config.qpp, config.qppcount) == ("aes-128-gcm", True, 13)
    assert (config.ratelimit, config.closewait, config.framesize) == (4000000, 5, 4096)
    assert config.pprof and config.smuxver == 1
    assert config.kcp_config().rate_limit == 4000000
    assert config.smux_config().max_frame_size == 4096
    server = parse_config(["server", "--crypt", "null", "--QPP"])
    assert (server.crypt, server.qpp, server.qppcount, server.closewait) == ("null", True, 61, 30)


def test_server_flags_and_hidden_manual_flags() -> None:
    config = parse_config(
        [
            "server",
            "-t",
            "127.0.0.1:22",
            "--mode",
            "manual",
            "--nodelay",
            "1",
            "--interval",
            "12",
            "--resend",
            "3",
            "--nc",
            "1",
            "--acknodelay",
        ]
    )
    assert isinstance(config, ServerConfig)
    assert config.target == "127.0.0.1:22" and config.listen == ":29900"
    assert config.timing() == (1, 12, 3, 1) and config.acknodelay


def test_defaults_without_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KCPTUN_KEY", raising=False)
    assert parse_config(["client"]) == ClientConfig()
    assert parse_config(["server"]) == ServerConfig()


def test_key_from_environment_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCPTUN_KEY", "from env")
    assert parse_config(["client"]).key == "from env"
    assert parse_config(["client", "--key", "from flag"]).key == "from flag"


def test_json_file_overrides_flags(tmp_path: Path) -> None:
    path = tmp_path / "server.json"
    path.write_text('{"listen": ":4000", "target": "127.0.0.1:80", "smuxver": 2, "Quiet": true}')
    config = parse_config(
        ["server", "-l", ":5000", "--smuxver", "1", "--mtu", "1000", "-c", str(path)]
    )
    assert isinstance(config, ServerConfig)
    assert (config.listen, config.smuxver, config.mtu, config.quiet) == (":4000", 2, 1000, True)


def test_mode_from_json_wins_over_manual_flags(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text('{"mode": "normal"}')
    config = parse_config(["client", "--mode", "manual", "--interval", "11", "-c", str(path)])
    assert config.timing() == (0, 40, 2, 1)


@pytest.mark.parametrize(
    "argv",
    [
        ["client", "--bogus"],
        ["client", "--mtu", "big"],
        ["server", "--conn", "2"],  # a client-only flag
        ["server", "--smuxver", "3"],
        ["client", "--keepalive", "60"],
        ["client", "--crypt", "aes-256"],  # kcptun would fall back to aes
        ["server", "--crypt", ""],
        ["client", "--ratelimit", "-1"],
        ["client", "--ratelimit", "lots"],
        ["client", "--ratelimit", str(1 << 32)],
        ["server", "--closewait", "-1"],
        ["server", "--closewait", "1.5"],
        ["client", "--QPP", "--QPPCount", "0"],
        ["client", "--QPP", "--QPPCount", "70000"],
        ["client", "--qpp"],  # Go's flags are case-sensitive
        ["client", "--framesize", "65536"],
        ["client", "--mtu", "52"],  # aes + FEC headers + 25 is 53
        ["server", "--crypt", "aes-128-gcm", "--mtu", "60"],
        ["client", "-r", "vps:29900-29910"],
        ["client", "--tcp"],
        ["client", "-l", "no-port"],
        ["client", "-c", "/nonexistent/kcptun.json"],
        ["tunnel"],
        [],
    ],
)
def test_bad_flags_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and len(err.strip()) > 10


def test_unknown_crypt_message_lists_the_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "--crypt", "aes256"]) == 2
    err = capsys.readouterr().err
    assert "unknown crypt 'aes256'" in err
    assert "aes, aes-128, aes-128-gcm, aes-192, salsa20" in err and "none, null" in err


def test_small_mtu_message_gives_the_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--crypt", "aes-128-gcm", "--ds", "0", "--mtu", "40"]) == 2
    assert "mtu must be an integer in [53, 1500], got 40" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["client", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--remoteaddr" in out and "--autoexpire" in out and "--nodelay" not in out
    for flag in ("--QPP", "--QPPCount", "--ratelimit", "--closewait", "--framesize"):
        assert flag in out, flag
    assert "(default: 2)" in out and "aes-128-gcm" in out
    assert main(["server", "-v"]) == 0
    assert "kcptun 20251205" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv", [["tunnel", "--help"], ["tunnel", "client", "--help"], ["tunnel", "server", "--help"]]
)
def test_pykcp_tunnel_help_lists_every_flag_with_its_default(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from pykcp.tools.cli import main as pykcp_main
    from pykcp.tunnel.cli import _options

    with pytest.raises(SystemExit) as exc_info:
        pykcp_main(argv)
    assert exc_info.value.code == 0
    out = capsys.readouterr().out
    kind = argv[1] if len(argv) > 2 else None
    for side in ("client", "server"):
        if kind not in (None, side):
            continue
        defaults: Any = ClientConfig() if side == "client" else ServerConfig()
        for names, dest, kind_type, help_text in _options(side):
            if kind is not None and help_text is None:
                assert names[0] not in out  # hidden, as in kcptun
                continue
            assert names[0] in out, names
            if kind_type is not bool and dest != "c":
                assert (
                    repr(getattr(defaults, dest)) in out or str(getattr(defaults, dest)) in out
                ), dest
    if kind is None:
        table = out[out.index("Flags and defaults") :]
        assert re.search(r"--closewait\s+0\s+30\n", table)
        assert re.search(r"--smuxver\s+2\s+2\n", table)
        assert re.search(r"--QPPCount\s+61\s+61\n", table)
        assert "--smuxver 1" in table


def test_add_subcommands_plugs_into_another_parser() -> None:
    parser = argparse.ArgumentParser(prog="pykcp")
    commands = parser.add_subparsers(dest="command")
    tunnel = commands.add_parser("tunnel").add_subparsers(dest="side")
    add_subcommands(tunnel)
    args = parser.parse_args(["tunnel", "server", "-t", "127.0.0.1:9"])
    assert callable(args.func)
    config = build_config(args)
    assert isinstance(config, ServerConfig) and config.target == "127.0.0.1:9"


# -- processes --------------------------------------------------------------------------------


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _Process:
    """``python -m pykcp.tunnel ...`` with its stderr lines collected by a thread."""

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), KCPTUN_KEY="cli test")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pykcp.tunnel", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_line(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line matching {pattern!r} in:\n{''.join(self.log)}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.log.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(20)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _echo_through(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(data)
        received = bytearray()
        while len(received) < len(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return bytes(received)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_processes_tunnel_then_exit_0_on_signal(echo_port: int, signum: int) -> None:
    server = _Process("server", "-l", "127.0.0.1:0", "-t", f"127.0.0.1:{echo_port}", "--quiet")
    client: _Process | None = None
    try:
        udp_port = server.wait_line(r"listening on: 127\.0\.0\.1:(\d+)").group(1)
        client = _Process("client", "-l", "127.0.0.1:0", "-r", f"127.0.0.1:{udp_port}")
        tcp_port = int(client.wait_line(r"listening on: 127\.0\.0\.1:(\d+)").group(1))
        data = os.urandom(300_000)
        assert _echo_through(tcp_port, data) == data
        client.wait_line(r"stream opened in: 127\.0\.0\.1:\d+ out: 127\.0\.0\.1:\d+\(3\)")
        server.proc.send_signal(signal.SIGUSR1)  # kcptun's SNMP dump
        server.wait_line(r"KCP SNMP:&\{BytesSent:\d+ BytesReceived:\d+ ")
        assert client.stop(signum) == 0
        assert server.stop(signum) == 0
        client.wait_line(f"{signal.Signals(signum).name} received, shutting down")
    finally:
        server.kill()
        if client is not None:
            client.kill()


def test_log_file_gets_go_style_lines(tmp_path: Path, echo_port: int) -> None:
    log = tmp_path / "tunnel.log"
    log.write_text("earlier line\n")
    process = _Process(
        "server", "-l", "127.0.0.1:0", "-t", f"127.0.0.1:{echo_port}", "--log", str(log)
    )
    try:
        deadline = time.monotonic() + 20
        while "listening on: 127.0.0.1:" not in log.read_text():
            assert time.monotonic() < deadline and process.proc.poll() is None
            time.sleep(0.05)
        assert process.stop(signal.SIGTERM) == 0
    finally:
        process.kill()
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier line"  # appended, as kcptun opens it with O_APPEND
    assert all(re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \S", line) for line in lines[1:])
    assert any(line.endswith("SIGTERM received, shutting down") for line in lines)


def test_process_cannot_bind_exits_1() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _Process("client", "-l", f"127.0.0.1:{port}", "-r", "127.0.0.1:9")
        try:
            assert process.proc.wait(20) == 1
        finally:
            process.kill()


def test_readme_lists_every_flag_with_its_default() -> None:
    from pykcp.tunnel.cli import _options

    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## The kcptun-compatible tunnel") :]
    rows = [line.split("|")[1:-1] for line in table.splitlines() if line.startswith("| `")]
    for column, config in ((1, ClientConfig()), (2, ServerConfig())):
        side = "client" if column == 1 else "server"
        for names, dest, kind_type, _ in _options(side):
            (cells,) = [c for c in rows if f"`{names[0]}`" in c[0]]
            flags = re.findall(r"`([^`]+)`", cells[0])
            cell = cells[column].strip()
            values = [v.strip(" `") for v in (cells[1] if cell == "same" else cell).split(",")]
            shown = values[0] if len(values) == 1 else values[flags.index(names[0])]
            if dest == "c":
                continue
            value = getattr(config, dest)
            expected = "off" if kind_type is bool else (str(value) if value != "" else "empty")
            assert shown == expected, (side, names, shown, expected)
