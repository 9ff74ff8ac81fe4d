"""Scale benchmark: thousands of concurrent sessions on one listener.

    .venv/bin/python benchmarks/bench_scale.py [--sessions 5000] [--runs 3] [--clients 1] [--quick]
        [--mode fast2] [--crypt aes --fec 10/3] [--server listen|stream|go|both]

An echo server (``pykcp.listen`` + one task per accepted session, ``pykcp.start_server`` with
``--server stream``, or kcp-go 5.6.1's with ``--server go``: the Go peer's ``wl-serve``, one
goroutine per session, built like ``runner.py``'s; ``--server both`` alternates pykcp's
``listen`` and kcp-go's run by run and prints their CPU ratio) runs in its own process; the
clients run in ``--clients`` other processes (one ``pykcp.dial`` each, so one UDP socket
each -- a socket passed to ``dial(sock=)`` serves one session, its reader is the session's --
all on one event loop per process; the client raises RLIMIT_NOFILE itself). Every run measures:

* idle: after each session has exchanged one 64-byte message, the server's CPU time per wall
  second (from ``/proc/<pid>/stat``; 100 % = one core) over a quiet window;
* memory: the server's RSS with N sessions minus its RSS before the first one, divided by N
  (after a ``gc.collect()`` in the server);
* load: every session sends one 64-byte message per second (starts staggered evenly over the
  first second) and waits for its echo; the client-measured round trips (write to echoed
  read, so the client's own event-loop delays are included) over the window give p50/p99/max,
  and the server's CPU share under that load is reported too.

Config: ``Config.preset("fast")`` (kcptun's default mode: nodelay 0, interval 30 ms, resend 2,
nc 1; ``--mode`` picks another preset), message mode, no crypto, no FEC: what
``pykcp.dial``/``listen`` users get with the kcptun default timing. ``--crypt aes --fec 10/3``
measures the kcptun-like setup instead. The server's ``max_sessions`` is raised to the
session count (its default, 4096, is a bound against floods, not a capacity limit).

The machine's load average is printed: other processes on a 2-core box inflate the latency
(the server, the client and the kernel share two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import resource
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # runner.build_gopeer

import pykcp
from pykcp import Config
from pykcp.core.errors import KCPError
from pykcp.core.snmp import DEFAULT_SNMP

MESSAGE_SIZE = 64
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def default_config(
    crypt: str | None = None, fec: tuple[int, int] = (0, 0), mode: str = "fast", sessions: int = 0
) -> Config:
    """kcptun's default timing ("fast"); optional crypto (password "bench") and FEC."""
    return Config.preset(
        mode,
        crypt=crypt,
        key="bench" if crypt else None,
        data_shards=fec[0],
        parity_shards=fec[1],
        max_sessions=max(4096, sessions),
    )


def _go_server(config: Config) -> tuple[subprocess.Popen[str], int]:
    """kcp-go's echo server with *config*'s settings; the process and its port."""
    from runner import build_gopeer

    assert config.mode is not None
    argv = [str(build_gopeer()), "wl-serve", "-listen", "127.0.0.1:0", "-workload", "echo",
            "-idle", "0", "-buf", "4096", "-mode", config.mode, "-sndwnd", str(config.sndwnd),
            "-rcvwnd", str(config.rcvwnd), "-mtu", str(config.mtu), "-datashard",
            str(config.data_shards), "-parityshard", str(config.parity_shards)]  # fmt: skip
    if isinstance(config.crypt, str):
        argv += ["-crypt", config.crypt, "-key", "bench"]
    else:
        argv += ["-crypt", "null"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("LISTEN "):
        proc.kill()
        raise RuntimeError(f"kcp-go server did not start: {line!r}")
    return proc, int(line.split()[1].rsplit(":", 1)[1])


# -- process probes --------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of *pid* (all threads) in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may contain spaces; the fields after it are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _request(pipe: Connection, message: Any, timeout: float) -> Any:
    pipe.send(message)
    if not pipe.poll(timeout):
        raise RuntimeError(f"no answer to {message!r} within {timeout} s")
    return pipe.recv()


# -- server process ----------------------------------------------------------------------------


def _server_process(config: Config, api: str, pipe: Connection) -> None:
    _raise_fd_limit(1024)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        count = 0

        async def echo(session: pykcp.KCPSession) -> None:
            try:
                while True:
                    await session.write(await session.read())
            except KCPError:
                pass
            finally:
                if not session.closed:
                    session.close()

        async def stream_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal count
            count += 1
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (KCPError, ConnectionError):
                pass
            finally:
                writer.close()

        server: Any
        if api == "listen":
            listener = await pykcp.listen(("127.0.0.1", 0), config)
            port = listener.local_address[1]

            async def accept_forever() -> None:
                nonlocal count
                while True:
                    session = await listener.accept()
                    count += 1
                    task = loop.create_task(echo(session))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)

            acceptor = loop.create_task(accept_forever())
            server = listener
        else:
            server = await pykcp.start_server(stream_echo, "127.0.0.1", 0, config=config)
            port = server.sockets[0].getsockname()[1]
            acceptor = None
        stopped = loop.create_future()

        def on_command() -> None:
            command = pipe.recv()
            if command == "gc":
                gc.collect()
                pipe.send(count)
            elif command == "snmp":
                pipe.send(DEFAULT_SNMP.as_dict())
            elif command == "stop" and not stopped.done():
                stopped.set_result(None)

        loop.add_reader(pipe.fileno(), on_command)
        pipe.send(port)
        await stopped
        loop.remove_reader(pipe.fileno())
        if acceptor is not None:
            acceptor.cancel()
        server.close()
        if api != "listen":
            await server.wait_closed()
        # Let the handlers see their sessions end: asyncio.run would cancel them, and 3.11's
        # start_server callback logs every cancelled handler as an error.
        while tasks or (api != "listen" and len(asyncio.all_tasks()) > 1):
            await asyncio.sleep(0.05)
        pipe.send("stopped")

    asyncio.run(main())


# -- client process ----------------------------------------------------------------------------


def _client_process(config: Config, pipe: Connection) -> None:
    sessions: list[pykcp.KCPSession] = []

    async def exchange(session: pykcp.KCPSession, payload: bytes, timeout: float | None) -> float:
        started = time.perf_counter()
        await session.write(payload)
        # wait_for costs a task per message: under load the parent's deadline bounds the wait.
        read = session.read()
        echoed = await (read if timeout is None else asyncio.wait_for(read, timeout))
        if echoed != payload:
            raise RuntimeError("echo mismatch")
        return time.perf_counter() - started

    async def connect(port: int, count: int) -> tuple[int, float]:
        _raise_fd_limit(count + 256)
        started = time.perf_counter()
        failures = 0

        async def one() -> None:
            nonlocal failures
            session = await pykcp.dial(("127.0.0.1", port), config)
            sessions.append(session)
            try:
                await exchange(session, os.urandom(MESSAGE_SIZE), 30)
            except (KCPError, TimeoutError, RuntimeError):
                failures += 1

        # Batches keep the server's accept backlog (128 by default) from overflowing.
        batch = 100
        for first in range(0, count, batch):
            await asyncio.gather(*(one() for _ in range(min(batch, count - first))))
        return failures, time.perf_counter() - started

    async def load(duration: float, begin: float, offset: int, total: int) -> dict[str, Any]:
        # begin: a time.monotonic() shared by the client processes (loop.time() is the same
        # clock); session i of all *total* starts at begin + i / total.
        loop = asyncio.get_running_loop()
        start = begin
        end = start + duration
        latencies: list[float] = []
        sent_at: list[float] = []
        lost = 0

        async def pace(index: int, session: pykcp.KCPSession) -> None:
            nonlocal lost
            tick = start + (offset + index) / total
            padding = os.urandom(MESSAGE_SIZE - 8)
            sequence = 0
            while tick < end:
                await asyncio.sleep(max(0.0, tick - loop.time()))
                sequence += 1
                sent_at.append(loop.time() - start)
                try:
                    latencies.append(
                        await exchange(session, struct.pack("<Q", sequence) + padding, None)
                    )
                except (KCPError, TimeoutError, RuntimeError):
                    lost += 1
                    return
                tick += 1.0

        cpu = time.process_time()
        await asyncio.gather(*(pace(i, s) for i, s in enumerate(sessions)))
        client_cpu = (time.process_time() - cpu) / (loop.time() - start)
        return {
            "latencies": latencies,
            "sent_at": sent_at,
            "lost": lost,
            "client_cpu": client_cpu,
        }

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        pending: set[asyncio.Task[Any]] = set()

        def on_command() -> None:
            command, *args = pipe.recv()
            if command == "close":
                for session in sessions:
                    session.close()
                sessions.clear()
                done.set_result(None)
                return
            if command == "snmp":
                pipe.send(DEFAULT_SNMP.as_dict())
                return
            work = connect(*args) if command == "connect" else load(*args)
            task = loop.create_task(work)
            pending.add(task)
            task.add_done_callback(answer)

        def answer(task: asyncio.Task[Any]) -> None:
            pending.discard(task)
            pipe.send(task.result())

        loop.add_reader(pipe.fileno(), on_command)
        await done
        loop.remove_reader(pipe.fileno())
        await asyncio.sleep(0.1)

    asyncio.run(main())


# -- one run -----------------------------------------------------------------------------------


@dataclass
class ScaleResult:
    sessions: int
    connect_seconds: float
    connect_failures: int
    idle_server_cpu: float
    """Server CPU seconds per wall second while every session is idle (1.0 = one core)."""
    idle_client_cpu: float
    bytes_per_session: float
    """(server RSS with the sessions - RSS before them) / sessions, after gc."""
    load_server_cpu: float
    load_client_cpu: float
    messages: int
    lost: int
    latencies_ms: list[float] = field(repr=False)
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def scale_run(
    sessions: int = 5000,
    *,
    config: Config | None = None,
    idle_window: float = 10.0,
    load_seconds: float = 25.0,
    server_api: str = "listen",
    client_processes: int = 1,
    counters: bool = False,
) -> ScaleResult:
    """One run: server and client processes, connect, idle window, paced echo load
    (*counters*: print both ends' SNMP counters after the load)."""
    config = config or default_config()
    context = multiprocessing.get_context("spawn")
    server_pipe, server_end = context.Pipe()
    go = server_api == "go"
    server: Any
    if go:
        server, port = _go_server(config)
    else:
        server = context.Process(
            target=_server_process, args=(config, server_api, server_end), daemon=True
        )
    clients = []
    client_pipes = []
    for _ in range(client_processes):
        ours, theirs = context.Pipe()
        clients.append(context.Process(target=_client_process, args=(config, theirs), daemon=True))
        client_pipes.append(ours)
    shares = [sessions // client_processes] * client_processes
    shares[0] += sessions - sum(shares)
    offsets = [sum(shares[:i]) for i in range(client_processes)]
    if not go:
        server.start()
    for client in clients:
        client.start()

    assert server.pid is not None
    server_pid = server.pid

    def cpu_of(processes: list[Any]) -> float:
        return sum(process_cpu_seconds(p.pid) for p in processes)

    try:
        if not go:
            if not server_pipe.poll(30):
                raise RuntimeError("server process did not start")
            port = server_pipe.recv()
        time.sleep(1.0)
        if not go:
            _request(server_pipe, "gc", 30)
        rss_before = process_rss_bytes(server_pid)

        failures = 0
        connect_started = time.perf_counter()
        for pipe, share in zip(client_pipes, shares, strict=True):
            pipe.send(("connect", port, share))
        for pipe in client_pipes:
            if not pipe.poll(600):
                raise RuntimeError("clients did not connect")
            failures += pipe.recv()[0]
        connect_seconds = time.perf_counter() - connect_started
        time.sleep(2.0)  # the last ACKs go out; then nothing is due
        if not go:  # (kcp-go's server cannot be asked; the clients' echoes show it served)
            accepted = _request(server_pipe, "gc", 30)
            if accepted != sessions:
                raise RuntimeError(f"server accepted {accepted} of {sessions} sessions")
        rss_with = process_rss_bytes(server_pid)

        cpu = cpu_of([server])
        client_cpu = cpu_of(clients)
        started = time.monotonic()
        time.sleep(idle_window)
        elapsed = time.monotonic() - started
        idle_server = (cpu_of([server]) - cpu) / elapsed
        idle_client = (cpu_of(clients) - client_cpu) / elapsed

        begin = time.monotonic() + 0.5
        for pipe, offset in zip(client_pipes, offsets, strict=True):
            pipe.send(("load", load_seconds, begin, offset, sessions))
        cpu = cpu_of([server])
        started = time.monotonic()
        outcomes = []
        for pipe in client_pipes:
            if not pipe.poll(max(1.0, started + load_seconds + 120 - time.monotonic())):
                raise RuntimeError("load phase did not finish")
            outcomes.append(pipe.recv())
        elapsed = time.monotonic() - started
        load_server = (cpu_of([server]) - cpu) / elapsed
        load_average = os.getloadavg()
        if counters:
            # Both ends' SNMP counters: datagrams one side sent that the other never read
            # (OutPkts against InPkts) are drops in the kernel's socket buffers.
            if not go:
                snmp = _request(server_pipe, "snmp", 30)
                print("    server", {k: v for k, v in snmp.items() if v}, flush=True)
            for pipe in client_pipes:
                pipe.send(("snmp",))
                print("    client", {k: v for k, v in pipe.recv().items() if v}, flush=True)

        for pipe in client_pipes:
            pipe.send(("close",))
        if go:
            server.terminate()
        else:
            server_pipe.send("stop")
            server_pipe.poll(10)
        latencies = [s * 1000 for outcome in outcomes for s in outcome["latencies"]]
        return ScaleResult(
            sessions=sessions,
            connect_seconds=connect_seconds,
            connect_failures=failures,
            idle_server_cpu=idle_server,
            idle_client_cpu=idle_client,
            bytes_per_session=(rss_with - rss_before) / sessions,
            load_server_cpu=load_server,
            load_client_cpu=sum(outcome["client_cpu"] for outcome in outcomes),
            messages=len(latencies),
            lost=sum(outcome["lost"] for outcome in outcomes),
            latencies_ms=latencies,
            load_average=load_average,
        )
    finally:
        for process in clients if go else [*clients, server]:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)
        if go:
            server.kill()
            server.wait(5)


# -- table -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="idle window, seconds")
    parser.add_argument("--load", type=float, default=25.0, help="load window, seconds")
    parser.add_argument("--server", choices=("listen", "stream", "go", "both"), default="listen")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--mode", default="fast", help="kcptun preset (default fast)")
    parser.add_argument("--crypt", default=None, help="kcptun cipher name (default none)")
    parser.add_argument("--fec", default="0/0", help="data/parity shards, e.g. 10/3")
    parser.add_argument(
        "--counters", action="store_true", help="print both ends' SNMP counters after each load"
    )
    parser.add_argument("--quick", action="store_true", help="500 sessions, 1 run, short")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.runs, args.idle, args.load = 500, 1, 3.0, 5.0
    data, parity = (int(x) for x in args.fec.split("/"))
    config = default_config(args.crypt, (data, parity), args.mode, args.sessions)
    servers = ["listen", "go"] if args.server == "both" else [args.server]

    print(
        f"{args.sessions} sessions, mode {args.mode}, crypt {args.crypt or 'none'},"
        f" FEC {data}/{parity}, server {' and '.join(servers)}, {args.clients} client"
        f" process(es); {args.runs} run(s); load average before"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    results: dict[str, list[ScaleResult]] = {name: [] for name in servers}
    for number in range(1, args.runs + 1):
        for name in servers:  # the servers take turns, run by run
            result = scale_run(
                args.sessions,
                config=config,
                idle_window=args.idle,
                load_seconds=args.load,
                server_api=name,
                client_processes=args.clients,
                counters=args.counters,
            )
            results[name].append(result)
            print(
                f"  run {number} {name}: connect {result.connect_seconds:.1f} s"
                f" ({result.connect_failures} failed); idle CPU server"
                f" {result.idle_server_cpu * 100:.2f} % client"
                f" {result.idle_client_cpu * 100:.2f} %;"
                f" {result.bytes_per_session / 1024:.1f} KiB/session; load: {result.messages}"
                f" echoes ({result.lost} lost) p50 {result.percentile(0.5):.1f} ms"
                f" p99 {result.percentile(0.99):.1f} ms max {max(result.latencies_ms):.1f} ms,"
                f" CPU server {result.load_server_cpu * 100:.0f} %"
                f" client {result.load_client_cpu * 100:.0f} %; load average"
                f" {' '.join(f'{x:.2f}' for x in result.load_average)}",
                flush=True,
            )

    rows: list[tuple[str, Any]] = [
        ("idle server CPU (% of a core)", lambda r: r.idle_server_cpu * 100),
        ("server memory per session (KiB)", lambda r: r.bytes_per_session / 1024),
        ("echo p50 (ms), 1 msg/s/session", lambda r: r.percentile(0.5)),
        ("echo p99 (ms)", lambda r: r.percentile(0.99)),
        ("echo max (ms)", lambda r: max(r.latencies_ms)),
        ("echoes lost", lambda r: r.lost),
        ("server CPU under load (% of a core)", lambda r: r.load_server_cpu * 100),
        ("client CPU under load (% of a core)", lambda r: r.load_client_cpu * 100),
    ]
    names = {"listen": "pykcp", "stream": "pykcp", "go": "kcp-go"}
    header = f"{'median of ' + str(args.runs) + ' run(s)':<40}"
    print("\n" + header + "".join(f" {names[n]:>10}" for n in servers))
    medians: dict[str, dict[str, float]] = {n: {} for n in servers}
    for label, value in rows:
        line = f"{label:<40}"
        for name in servers:
            medians[name][label] = statistics.median([value(r) for r in results[name]])
            line += f" {medians[name][label]:>10.2f}"
        print(line)
    if args.server == "both":
        cpu = "server CPU under load (% of a core)"
        ratio = medians["listen"][cpu] / medians["go"][cpu]
        print(f"{'pykcp / kcp-go server CPU under load':<40} {ratio:>10.2f}")


if __name__ == "__main__":
    main()
