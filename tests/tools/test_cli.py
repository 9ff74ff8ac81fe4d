"""The ``pykcp`` command line: serve/client over loopback (real subprocesses), JSON output,
usage errors, help text, bench --quick, and the relay the demo and interop tests use."""

from __future__ import annotations

import asyncio
import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pykcp.tools.cli import build_parser, config_from_args, main
from pykcp.tools.relay import LossyRelay
from tests.helpers import stop_process

KCPTUN_FLAGS = (
    "--crypt",
    "--key",
    "--datashard",
    "--parityshard",
    "--mode",
    "--nodelay",
    "--interval",
    "--resend",
    "--nc",
    "--sndwnd",
    "--rcvwnd",
    "--mtu",
    "--ratelimit",
    "--acknodelay",
    "--sockbuf",
    "--dscp",
)
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"no output within {timeout} s")
    return proc.stdout.readline()


@contextmanager
def serving(*flags: str, host: str = "127.0.0.1") -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A ``pykcp serve`` subprocess on *host* (an IPv6 one in brackets); yields (port, process)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pykcp", "serve", "--listen", f"{host}:0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        line = _read_line(proc, 20)
        assert line.startswith(f"LISTEN {host}:"), line
        yield int(line.rsplit(":", 1)[1]), proc
    finally:
        stop_process(proc, 10)


def run_client(port: int, *flags: str, timeout: float = 60) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "pykcp", "client", "--remote", f"127.0.0.1:{port}", *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        check=False,
    )
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, (proc.stdout, proc.stderr)
    return proc.returncode, json.loads(lines[0])


def test_sink_over_loopback() -> None:
    with serving("--workload", "sink") as (port, _):
        code, out = run_client(
            port, "--workload", "sink", "--bytes", str(1 << 20), "--size", "65536"
        )
    assert code == 0, out
    assert out["ok"] is True and out["workload"] == "sink"
    assert out["bytes"] == 1 << 20
    assert out["seconds"] > 0
    assert out["MBps"] == pytest.approx(out["bytes"] / out["seconds"] / 1e6, rel=0.01)
    assert out["impl"] == "pykcp" and out["crypt"] == "aes"
    assert (out["datashard"], out["parityshard"], out["mode"]) == (10, 3, "fast")


def test_sink_with_ratelimit_takes_the_paced_time() -> None:
    """8 MB under --ratelimit 4000000 (bytes per second, every header included) on both ends.

    The data side sends 8 MB of payload in 1350-byte datagrams of which 20 + 24 bytes are
    headers, i.e. about 8.27 MB at 4 MB/s: 2.07 s, less the 96 kB burst. FEC is off because
    its parity would count against the limit too (10/3 makes it 2.7 s). The send window is
    1024: KCP is held back while datagrams wait for tokens, so none is retransmitted for
    having waited (before that, 2045 spurious copies ate the budget: 2.75 s).
    """
    flags = ("--ratelimit", "4000000", "--datashard", "0", "--parityshard", "0", "--sndwnd", "1024")
    with serving("--workload", "sink", *flags) as (port, _):
        started = time.monotonic()
        code, out = run_client(
            port, "--workload", "sink", "--bytes", "8000000", "--size", "65536", *flags
        )
        elapsed = time.monotonic() - started
    assert code == 0, out
    assert out["bytes"] == 8000000
    assert 1.6 <= out["seconds"] <= 2.6, out
    assert out["seconds"] <= elapsed < 30
    assert out["retrans"] == 0, out


@pytest.mark.parametrize(
    "session_flags",
    [
        ("--crypt", "null", "--datashard", "0", "--parityshard", "0", "--mode", "fast3"),
        ("--crypt", "salsa20", "--key", "k", "--mode", "manual", "--nodelay", "1",
         "--interval", "10", "--resend", "2", "--nc", "1", "--mtu", "1200", "--acknodelay"),
    ],
    ids=["null-nofec-fast3", "salsa20-fec-manual"],
)  # fmt: skip
def test_echo_over_loopback_verifies_bytes(session_flags: tuple[str, ...]) -> None:
    with serving("--workload", "echo", *session_flags) as (port, _):
        code, out = run_client(
            port, "--workload", "echo", "--bytes", "300000", "--size", "50000", *session_flags
        )
    assert code == 0, out
    assert out["ok"] is True and out["workload"] == "echo" and out["bytes"] == 300000
    assert "rtt_median_ms" not in out


def test_pingpong_reports_rtts() -> None:
    with serving("--workload", "echo") as (port, _):
        code, out = run_client(
            port, "--workload", "echo", "--pingpong", "--bytes", "20000", "--size", "3000"
        )
    assert code == 0, out
    assert out["pingpong"] is True
    assert out["messages"] == math.ceil(20000 / 3000)
    assert 0 < out["rtt_min_ms"] <= out["rtt_median_ms"] <= out["rtt_p99_ms"]
    assert out["rtt_p99_ms"] <= out["rtt_max_ms"]
    assert out["rtt_min_ms"] <= out["rtt_mean_ms"] <= out["rtt_max_ms"]


def test_mismatched_cipher_fails_with_json_error() -> None:
    with serving("--workload", "sink", "--crypt", "aes") as (port, _):
        code, out = run_client(
            port, "--workload", "sink", "--bytes", "5000", "--crypt", "salsa20", "--timeout", "1"
        )
    assert code == 1
    assert out["ok"] is False
    assert "Timeout" in out["error"]


def test_serve_exits_cleanly_on_sigterm_and_sigint() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        with serving("--workload", "echo") as (_, proc):
            proc.send_signal(signum)
            assert proc.wait(10) == 0
            assert proc.stderr is not None
            assert "Traceback" not in proc.stderr.read()


def test_serve_binds_ipv6() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    with serving(host="[::1]") as (port, _):
        code = subprocess.run(
            [sys.executable, "-m", "pykcp", "client", "--remote", f"[::1]:{port}",
             "--bytes", "10000", "--size", "1000"],
            capture_output=True, text=True, timeout=60, env=ENV, check=False,
        )  # fmt: skip
        assert code.returncode == 0, code.stdout + code.stderr
        assert json.loads(code.stdout)["ok"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["client"], "--remote"),
        (["client", "--remote", "nowhere"], "HOST:PORT"),
        (["client", "--remote", "h:99999"], "port out of range"),
        (["client", "--remote", "h:1", "--bytes", "-1"], "must be >= 0"),
        (["client", "--remote", "h:1", "--size", "0"], "must be > 0"),
        (["serve", "--mode", "warp"], "invalid choice"),
        (["serve", "--crypt", "rot13"], "invalid choice"),
        (["serve", "--dscp", "64"], "dscp"),
        (["serve", "--mtu", "20"], "mtu"),
        (["serve", "--ratelimit", "-1"], "must be >= 0"),
        (["serve", "--ratelimit", "fast"], "invalid _non_negative value"),
        (["client", "--remote", "h:1", "--ratelimit", str(1 << 41)], "rate_limit"),
        (["serve", "--mode", "manual", "--nodelay", "7"], "nodelay"),
        (["serve", "--datashard", "200", "--parityshard", "100"], "shards"),
        (["serve", "--bogus"], "unrecognized"),
        (["demo", "--fec", "ten"], "DATA/PARITY"),
        (["demo", "--loss", "1.5"], "[0, 1)"),
        (["relay"], "--upstream"),
    ],
)
def test_bad_flags_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc_info:
        main(argv)
    assert exc_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_flags_exit_2_as_a_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pykcp", "client", "--remote", "x:1", "--mode", "warp"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 2
    assert "invalid choice: 'warp'" in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize("command", ["serve", "client"])
def test_help_mentions_every_flag(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc_info:
        main([command, "--help"])
    assert exc_info.value.code == 0
    text = capsys.readouterr().out
    own = ("--listen", "--workload", "--idle") if command == "serve" else (
        "--remote", "--workload", "--bytes", "--size", "--pingpong", "--timeout"
    )  # fmt: skip
    for flag in (*KCPTUN_FLAGS, *own):
        assert flag in text, flag
    # Every option the parser knows is documented with some help text.
    choices: Any = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    sub = choices[command]
    for action in sub._actions:
        assert action.help, action.option_strings


def test_top_level_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("serve", "client", "demo", "bench", "relay"):
        assert command in text


def test_flags_map_to_config() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["serve", "--crypt", "twofish", "--key", "pw", "--datashard", "5", "--parityshard",
         "2", "--mode", "fast2", "--sndwnd", "256", "--rcvwnd", "512", "--mtu", "1200",
         "--acknodelay", "--sockbuf", "1048576", "--dscp", "46", "--ratelimit", "123456"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.rate_limit == 123456
    assert config.timing() == (1, 20, 2, 1)
    assert (config.crypt, config.key) == ("twofish", "pw")
    assert (config.data_shards, config.parity_shards) == (5, 2)
    assert (config.sndwnd, config.rcvwnd, config.mtu) == (256, 512, 1200)
    assert config.ack_nodelay and config.stream and config.dscp == 46
    assert config.read_buffer == config.write_buffer == 1048576
    manual = config_from_args(
        parser.parse_args(
            ["client", "--remote", "h:1", "--mode", "manual", "--nodelay", "1",
             "--interval", "15", "--resend", "3", "--nc", "1"]
        )
    )  # fmt: skip
    assert manual.timing() == (1, 15, 3, 1)
    # Outside manual mode the preset wins over --nodelay & co., as in kcptun.
    preset = config_from_args(
        parser.parse_args(["client", "--remote", "h:1", "--mode", "normal", "--interval", "5"])
    )
    assert preset.timing() == (0, 40, 2, 1)
    assert config_from_args(parser.parse_args(["serve"])).dscp is None
    assert config_from_args(parser.parse_args(["serve"])).rate_limit == 0


def test_bench_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--quick"]) == 0
    out = capsys.readouterr().out
    rows = {line[:30].strip(): line[30:].split() for line in out.splitlines()[2:]}
    for name in (
        "AES256 (aes)",
        "Salsa20 (salsa20)",
        "CRC32",
        "FECEncode 10/3",
        "FECDecode 10/3",
        "Flush (1024 in flight)",
        "EchoSpeed4K",
        "SinkSpeed64K",
    ):
        value, unit = rows[name]
        assert float(value.replace(",", "")) > 0, name
        assert unit in ("MB/s", "us/op")


def test_relay_drops_delays_and_reorders_with_a_seed() -> None:
    async def scenario(seed: int) -> tuple[list[int], int, int]:
        loop = asyncio.get_running_loop()
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.bind(("127.0.0.1", 0))
        upstream.setblocking(False)
        relay = await LossyRelay.start(
            upstream.getsockname(), loss=0.3, delay_ms=5, jitter_ms=20, seed=seed
        )
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            started = time.monotonic()
            for n in range(200):
                client.sendto(n.to_bytes(2, "big"), relay.address)
            got: list[int] = []
            back_address: Any = None
            deadline = loop.time() + 5
            while len(got) < 200 - relay.dropped and loop.time() < deadline:
                data, back_address = await asyncio.wait_for(loop.sock_recvfrom(upstream, 16), 5)
                got.append(int.from_bytes(data, "big"))
                if len(got) == 1:
                    assert time.monotonic() - started >= 0.004  # the configured delay
            counts = relay.dropped, relay.forwarded
            # Replies travel back through the relay to the client.
            for _ in range(20):
                upstream.sendto(b"reply", back_address)
            client.setblocking(False)
            assert await asyncio.wait_for(loop.sock_recv(client, 16), 5) == b"reply"
            return got, *counts
        finally:
            relay.close()
            client.close()
            upstream.close()

    got, dropped, forwarded = asyncio.run(scenario(7))
    assert dropped + forwarded == 200
    assert 30 < dropped < 90
    assert sorted(got) == sorted(set(got)) and len(got) == forwarded
    assert got != sorted(got)  # jitter reordered the stream
    again, dropped_again, _ = asyncio.run(scenario(7))
    assert sorted(again) == sorted(got) and dropped_again == dropped  # same seed, same losses


def test_tunnel_is_mounted_under_pykcp_tunnel(capsys: pytest.CaptureFixture[str]) -> None:
    for kind, flag in (("client", "--remoteaddr"), ("server", "--target")):
        with pytest.raises(SystemExit) as exc_info:
            main(["tunnel", kind, "--help"])
        assert exc_info.value.code == 0
        assert flag in capsys.readouterr().out


def test_version_says_which_implementation_runs() -> None:
    import pykcp

    def run(*args: str, no_extensions: str) -> str:
        env = {**ENV, "PYKCP_NO_EXTENSIONS": no_extensions}
        return subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, timeout=30, env=env,
            check=True,
        ).stdout.strip()  # fmt: skip

    for no_extensions in ("", "1"):
        running = run(
            "-c", "import pykcp; print(pykcp.implementation)", no_extensions=no_extensions
        )
        assert running == "python" or (running == "compiled" and not no_extensions)
        version = run("-m", "pykcp", "--version", no_extensions=no_extensions)
        assert version == f"pykcp {pykcp.__version__} ({running})"


def test_trace_writes_json_lines_on_both_ends(tmp_path: Path) -> None:
    server_trace = tmp_path / "server.jsonl"
    client_trace = tmp_path / "client.jsonl"
    with serving("--workload", "sink", "--trace", str(server_trace)) as (port, proc):
        code, out = run_client(
            port, "--workload", "sink", "--bytes", "200000", "--size", "50000",
            "--trace", str(client_trace),
        )  # fmt: skip
        assert code == 0, out
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    client = [json.loads(line) for line in client_trace.read_text().splitlines()]
    assert len(client) == out["trace_events"] > 0
    sent = [e for e in client if e["event"] == "sent"]
    acked = {e["sn"] for e in client if e["event"] == "acked"}
    assert sent and {e["sn"] for e in sent} <= acked
    assert all({"t", "conv", "event"} <= set(e) for e in client)
    assert {e["conv"] for e in client} == {sent[0]["conv"]}
    server = [json.loads(line) for line in server_trace.read_text().splitlines()]
    assert any(e["event"] == "sent" for e in server)  # the sink's reply


def test_trace_to_an_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    code, out = run_client(1, "--trace", str(tmp_path / "missing" / "dir" / "t.jsonl"))
    assert code != 0
    assert "trace" in json.dumps(out).lower() or "no such file" in json.dumps(out).lower()
