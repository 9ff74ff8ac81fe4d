"""Prometheus metrics (pykcp.metrics): scraped over HTTP on 127.0.0.1 while data moves, from the
library helper, ``pykcp serve --metrics`` and ``pykcp tunnel server|client --metrics``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import pykcp
from pykcp.core.stats import ListenerStats, SessionStats
from pykcp.metrics import (
    LISTENER_GAUGES,
    MISSING_EXTRA,
    SESSION_GAUGES,
    KCPCollector,
    serve_metrics,
    snake_case,
)
from pykcp.tools.cli import main
from tests.conftest import ROOT

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "src")}
CONFIG = pykcp.Config(crypt="aes", key="metrics", data_shards=4, parity_shards=2, mode="fast")


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of a scrape, parsed by prometheus_client."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    values = [value for (sample, _), value in samples.items() if sample == name]
    assert len(values) == 1, (name, values)
    return values[0]


async def _scrape(address: tuple[str, int], path: str = "/metrics", method: str = "GET") -> str:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    response = (await asyncio.wait_for(reader.read(), 10)).decode()
    writer.close()
    return response


def _scrape_blocking(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return str(response.read().decode())


def test_every_stats_field_has_a_kind() -> None:
    listener_fields = {field.name for field in dataclasses.fields(ListenerStats)}
    session_fields = {field.name for field in dataclasses.fields(SessionStats)}
    assert listener_fields > LISTENER_GAUGES
    assert session_fields > SESSION_GAUGES
    assert "conv" not in SESSION_GAUGES  # a label
    assert snake_case("InCsumErrors") == "in_csum_errors"
    assert snake_case("FECFullShardSet") == "fec_full_shard_set"
    assert snake_case("OOBPackets") == "oob_packets"
    assert snake_case("KCPInErrors") == "kcp_in_errors"


def test_counters_move_while_a_transfer_runs() -> None:
    async def scenario() -> None:
        listener = await pykcp.listen(("127.0.0.1", 0), CONFIG)
        client = await pykcp.dial(listener.local_address, CONFIG)
        server = await serve_metrics(
            "127.0.0.1", 0, listeners=[listener], sessions=lambda: [client]
        )
        received = 0
        got = asyncio.Event()

        async def sink() -> None:
            nonlocal received
            session = await listener.accept()
            while data := await session.read(65536):
                received += len(data)
                got.set()

        task = asyncio.ensure_future(sink())
        try:
            scrapes = []
            chunk = os.urandom(256 * 1024)
            for _ in range(3):
                target = received + len(chunk)
                await client.write(chunk)
                while received < target:
                    got.clear()
                    await asyncio.wait_for(got.wait(), 20)
                text = await _scrape(server.address)
                head, _, body = text.partition("\r\n\r\n")
                assert head.startswith("HTTP/1.1 200 OK"), head
                scrapes.append(_samples(body))
            listener_label = f"127.0.0.1:{listener.local_address[1]}"
            moved = [_value(s, "pykcp_listener_bytes_received_total") for s in scrapes]
            assert moved == [256 * 1024, 512 * 1024, 768 * 1024]
            for name in (
                "pykcp_snmp_in_pkts_total",
                "pykcp_snmp_out_pkts_total",
                "pykcp_snmp_bytes_sent_total",
                "pykcp_session_bytes_sent_total",
                "pykcp_session_segments_sent_total",
                "pykcp_listener_datagrams_received_total",
            ):
                values = [_value(s, name) for s in scrapes]
                assert values[0] < values[1] < values[2], (name, values)
            last = scrapes[-1]
            key = ("pykcp_listener_sessions", (("listener", listener_label),))
            assert last[key] == 1
            assert _value(last, "pykcp_listener_sessions_created_total") == 1
            conv_labels = (("conv", str(client.conv)), ("remote", listener_label))
            assert last[("pykcp_session_srtt_seconds", conv_labels)] >= 0
            assert last[("pykcp_session_rto_seconds", conv_labels)] > 0
            assert last[("pykcp_session_snd_wnd", conv_labels)] == CONFIG.sndwnd
            assert _value(last, "pykcp_snmp_curr_estab") >= 2
        finally:
            task.cancel()
            client.close()
            listener.close()
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_http_answers_only_metrics() -> None:
    async def scenario() -> None:
        async with await serve_metrics("127.0.0.1", 0, totals=None) as server:
            assert server.url == f"http://127.0.0.1:{server.address[1]}/metrics"
            assert (await _scrape(server.address, "/nope")).startswith("HTTP/1.1 404")
            assert (await _scrape(server.address, method="POST")).startswith("HTTP/1.1 405")
            head = await _scrape(server.address, method="HEAD")
            assert head.startswith("HTTP/1.1 200") and head.endswith("\r\n\r\n")
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"garbage\r\n\r\n")
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 400")
            writer.close()
            # A request line that never ends is cut off by the size limit, not held forever.
            reader, writer = await asyncio.open_connection(*server.address)
            writer.write(b"GET /" + b"a" * 20000)
            assert await asyncio.wait_for(reader.read(), 10) == b""
            writer.close()

    asyncio.run(scenario())


def test_bad_port_and_busy_address() -> None:
    async def scenario() -> None:
        with pytest.raises(ValueError, match="metrics port"):
            await serve_metrics("127.0.0.1", 70000)
        with pytest.raises(ValueError, match="metrics port"):
            await serve_metrics("127.0.0.1", True)  # type: ignore[arg-type]
        async with await serve_metrics("127.0.0.1", 0) as server:
            with pytest.raises(OSError):
                await serve_metrics("127.0.0.1", server.address[1])

    asyncio.run(scenario())


def test_collector_works_in_any_registry() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(KCPCollector())  # the process totals only: safe from any thread
    text = generate_latest(registry).decode()
    assert re.search(r"^# TYPE pykcp_snmp_in_pkts(_total)? counter$", text, re.M)
    assert re.search(r"^# TYPE pykcp_snmp_curr_estab gauge$", text, re.M)


def test_missing_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == "prometheus_client"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "pykcp.metrics")
    with pytest.raises(ImportError, match=re.escape("pip install 'pykcp[metrics]'")):
        import pykcp.metrics  # noqa: F401
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
    assert exited.value.code == 2
    assert MISSING_EXTRA.endswith("pip install 'pykcp[metrics]'")


@pytest.mark.parametrize(
    ("value", "message"),
    [("nonsense", "expected HOST:PORT"), ("127.0.0.1:99999", "port out of range")],
)
def test_serve_rejects_a_bad_metrics_address(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--metrics", value])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


class _Process:
    """A subprocess whose stderr (or stdout) lines a thread reads; stopped with SIGTERM."""

    def __init__(self, *args: str, stdout: bool = False) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**ENV, "KCPTUN_KEY": "metrics test"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        stream = self.proc.stdout if stdout else self.proc.stderr
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_line(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def _serving(*flags: str) -> Iterator[_Process]:
    proc = _Process("pykcp", "serve", "--listen", "127.0.0.1:0", *flags, stdout=True)
    try:
        yield proc
    finally:
        proc.stop()


def test_pykcp_serve_metrics_follow_a_client() -> None:
    with _serving("--workload", "sink", "--metrics", "127.0.0.1:0") as proc:
        listen_port = int(proc.wait_line(r"^LISTEN 127\.0\.0\.1:(\d+)$").group(1))
        metrics_port = int(proc.wait_line(r"^METRICS 127\.0\.0\.1:(\d+)$").group(1))
        before = _samples(_scrape_blocking(metrics_port))
        assert _value(before, "pykcp_listener_sessions_created_total") == 0
        client = subprocess.run(
            [sys.executable, "-m", "pykcp", "client", "--remote", f"127.0.0.1:{listen_port}",
             "--workload", "sink", "--bytes", str(1 << 20), "--size", "65536"],
            capture_output=True, text=True, timeout=60, env=ENV, check=False,
        )  # fmt: skip
        assert client.returncode == 0, client.stdout + client.stderr
        # The client's JSON line carries the same SessionStats the metrics are made of.
        result = json.loads(client.stdout)
        assert set(result["stats"]) == {f.name for f in dataclasses.fields(SessionStats)}
        assert result["stats"]["bytes_sent"] >= 1 << 20
        assert result["retrans"] == result["stats"]["retransmitted"]
        after = _samples(_scrape_blocking(metrics_port))
        assert _value(after, "pykcp_listener_sessions_created_total") == 1
        assert _value(after, "pykcp_listener_bytes_received_total") >= 1 << 20
        assert _value(after, "pykcp_snmp_in_pkts_total") > _value(
            before, "pykcp_snmp_in_pkts_total"
        )
        assert _value(after, "pykcp_snmp_passive_opens_total") == 1


def test_pykcp_serve_reports_a_busy_metrics_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with _serving("--metrics", f"127.0.0.1:{port}") as proc:
            assert proc.proc.wait(20) == 1
            assert proc.proc.stderr is not None
            assert f"--metrics 127.0.0.1:{port}" in proc.proc.stderr.read()


@pytest.fixture
def echo_port() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_tunnel_metrics_on_both_ends(echo_port: int) -> None:
    metrics_line = r"metrics on: http://127\.0\.0\.1:(\d+)/metrics"
    server = _Process(
        "pykcp.tunnel", "server", "-l", "127.0.0.1:0", "-t", f"127.0.0.1:{echo_port}", "--quiet",
        "--metrics", "127.0.0.1:0",
    )  # fmt: skip
    client: _Process | None = None
    try:
        udp_port = int(server.wait_line(r"listening on: 127\.0\.0\.1:(\d+)").group(1))
        server_metrics = int(server.wait_line(metrics_line).group(1))
        client = _Process(
            "pykcp.tunnel", "client", "-l", "127.0.0.1:0", "-r", f"127.0.0.1:{udp_port}", "--quiet",
            "-metrics", "127.0.0.1:0",
        )  # fmt: skip
        tcp_port = int(client.wait_line(r"listening on: 127\.0\.0\.1:(\d+)").group(1))
        client_metrics = int(client.wait_line(metrics_line).group(1))
        data = os.urandom(200_000)
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=20) as sock:
            sock.sendall(data)
            received = bytearray()
            while len(received) < len(data) and (chunk := sock.recv(65536)):
                received += chunk
            assert received == data
            at_server = _samples(_scrape_blocking(server_metrics))
            at_client = _samples(_scrape_blocking(client_metrics))
        label = (("listener", f"127.0.0.1:{udp_port}"),)
        assert at_server[("pykcp_listener_sessions", label)] == 1
        assert at_server[("pykcp_listener_bytes_received_total", label)] > 0
        assert _value(at_client, "pykcp_session_bytes_sent_total") > 0
        assert _value(at_client, "pykcp_snmp_active_opens_total") == 1
    finally:
        server.stop()
        if client is not None:
            client.stop()


@pytest.mark.parametrize("value", ["127.0.0.1:abc", "127.0.0.1:70000"])
def test_tunnel_rejects_a_bad_metrics_address(value: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pykcp.tunnel", "server", "--metrics", value],
        capture_output=True, text=True, timeout=30, env=ENV, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--metrics" in proc.stderr and "invalid port" in proc.stderr


def test_scrape_of_a_stopped_endpoint_fails_cleanly() -> None:
    async def scenario() -> int:
        server = await serve_metrics("127.0.0.1", 0)
        port = server.address[1]
        server.close()
        await server.wait_closed()
        return port

    port = asyncio.run(scenario())
    with pytest.raises(urllib.error.URLError):
        _scrape_blocking(port)
