"""Side-by-side throughput: kcp-go <-> kcp-go, pykcp <-> pykcp and the mixed pairs, one run.

Every pair runs the same workload through the real command lines (``pykcp serve/client`` and
the Go peer's ``wl-serve/wl-client`` built from Debian's kcp-go 5.6.1), one server process and
one client process per run, over UDP on 127.0.0.1:

* workloads: sink and echo (see ``pykcp client --help``);
* crypto/FEC: {none, no FEC}, {aes, 10/3}, {salsa20, 10/3} by default; ``--crypto
  NAME-10/3`` picks any other kcptun cipher with FEC 10/3 (``--crypto all`` runs them all);
* kcptun presets fast, fast2, fast3; windows 1024, MTU 1350, 1 MiB writes.

Each cell is the median MB/s (10^6 bytes) of ``--runs`` runs; the last column is
pykcp<->pykcp divided by kcp-go<->kcp-go. The pairs take turns (run 1 of every pair, then
run 2 of every pair...), so a slow minute on a shared machine hits them alike.

Run: ``.venv/bin/python benchmarks/runner.py [--bytes N] [--runs N] [--workload sink] ...``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pykcp.core.crypt import CIPHER_NAMES

ROOT = Path(__file__).resolve().parent.parent
GOPEER_SRC = ROOT / "tests" / "interop" / "gopeer"
BUILD_DIR = ROOT / ".gobuild"
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}

# Every kcptun cipher kcp-go 5.6.1 has (no AES-GCM); "none" has its own row without FEC.
CIPHERS = [c for c in CIPHER_NAMES if c not in ("null", "none", "aes-128-gcm")]
CRYPTOS = {"none": ("none", 0, 0), **{f"{c}-10/3": (c, 10, 3) for c in CIPHERS}}
DEFAULT_CRYPTOS = ["none", "aes-10/3", "salsa20-10/3"]
MODES = ("fast", "fast2", "fast3")
WORKLOADS = ("sink", "echo")
# (client, server): "go" or "py"
PAIRS = {"go-go": ("go", "go"), "py-py": ("py", "py"), "py>go": ("py", "go"), "go>py": ("go", "py")}


def build_gopeer() -> Path:
    """The Go peer binary, rebuilt when a .go file is newer (like the tests' fixture)."""
    binary = BUILD_DIR / "gopeer"
    newest = max(p.stat().st_mtime for p in GOPEER_SRC.glob("*.go"))
    if not binary.exists() or binary.stat().st_mtime < newest:
        BUILD_DIR.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "GO111MODULE": "off",
            "GOPATH": "/usr/share/gocode",
            "GOCACHE": str(BUILD_DIR / "cache"),
            "CGO_ENABLED": "0",
        }
        subprocess.run(["go", "build", "-o", str(binary), "."], cwd=GOPEER_SRC, env=env, check=True)
    return binary


def _command(impl: str, role: str, gopeer: Path) -> list[str]:
    if impl == "go":
        return [str(gopeer), "wl-serve" if role == "server" else "wl-client"]
    return [sys.executable, "-m", "pykcp", "serve" if role == "server" else "client"]


@contextmanager
def server(argv: list[str]) -> Iterator[str]:
    """A server process; yields its address once it printed 'LISTEN host:port'."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("LISTEN "):
            raise RuntimeError(f"server did not start: {argv} {line!r}")
        yield line.split()[1]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def session_flags(crypto: str, mode: str) -> list[str]:
    crypt, ds, ps = CRYPTOS[crypto]
    return ["--crypt", crypt, "--key", "bench", "--datashard", str(ds), "--parityshard", str(ps),
            "--mode", mode, "--sndwnd", "1024", "--rcvwnd", "1024", "--mtu", "1350"]  # fmt: skip


def run_cell(
    gopeer: Path, pairs: list[str], workload: str, crypto: str, mode: str, total: int,
    size: int, runs: int, timeout: float,
) -> dict[str, list[float | None]]:  # fmt: skip
    """MB/s of each run of each pair (None for a failed run), the pairs taking turns."""
    flags = session_flags(crypto, mode)
    results: dict[str, list[float | None]] = {pair: [] for pair in pairs}
    with ExitStack() as stack:
        addresses = {}
        for pair in pairs:
            argv = [*_command(PAIRS[pair][1], "server", gopeer), "--listen", "127.0.0.1:0",
                    "--workload", workload, *flags]  # fmt: skip
            addresses[pair] = stack.enter_context(server(argv))
        for _ in range(runs):
            for pair in pairs:
                argv = [*_command(PAIRS[pair][0], "client", gopeer), "--remote",
                        addresses[pair], "--workload", workload, "--bytes", str(total),
                        "--size", str(size), "--timeout", str(timeout), *flags]  # fmt: skip
                results[pair].append(_one_run(argv, timeout, f"{pair} {workload} {crypto} {mode}"))
    return results


def _one_run(argv: list[str], timeout: float, label: str) -> float | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, env=ENV)
        out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, IndexError, json.JSONDecodeError) as exc:
        out = {"ok": False, "error": repr(exc)}
    if out.get("ok"):
        return float(out["MBps"])
    print(f"    failed: {label}: {out}", file=sys.stderr)
    return None


def median(values: list[float | None]) -> float | None:
    ok = [v for v in values if v is not None]
    return statistics.median(ok) if ok else None


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=64 << 20, help="bytes per run (64 MiB)")
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes per write (1 MiB)")
    parser.add_argument("--runs", type=int, default=3, help="runs per cell (3)")
    parser.add_argument("--workload", action="append", choices=WORKLOADS)
    parser.add_argument("--crypto", action="append", choices=[*CRYPTOS, "all"])
    parser.add_argument("--mode", action="append", choices=MODES)
    parser.add_argument("--pair", action="append", choices=list(PAIRS))
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run (300)")
    parser.add_argument("--json", type=Path, help="also write every run's numbers here")
    args = parser.parse_args(argv)
    gopeer = build_gopeer()
    pairs = args.pair or list(PAIRS)
    print(
        f"# {machine()}; {args.bytes} bytes per run in {args.size}-byte writes, "
        f"median of {args.runs} runs, MB/s (10^6 bytes)",
        flush=True,
    )
    header = f"{'workload':<8} {'crypto':<13} {'mode':<6} " + " ".join(f"{p:>8}" for p in pairs)
    if "go-go" in pairs and "py-py" in pairs:
        header += f" {'py/go':>6}"
    print(header, flush=True)
    record: list[dict[str, Any]] = []
    started = time.monotonic()
    cryptos = args.crypto or DEFAULT_CRYPTOS
    if "all" in cryptos:
        cryptos = list(CRYPTOS)
    for workload in args.workload or WORKLOADS:
        for crypto in cryptos:
            for mode in args.mode or MODES:
                cell = run_cell(
                    gopeer, pairs, workload, crypto, mode, args.bytes, args.size, args.runs,
                    args.timeout,
                )  # fmt: skip
                medians: dict[str, float | None] = {}
                for pair, values in cell.items():
                    medians[pair] = median(values)
                    record.append({"workload": workload, "crypto": crypto, "mode": mode,
                                   "pair": pair, "MBps": values})  # fmt: skip
                cells = " ".join(
                    f"{m:8.2f}" if m is not None else f"{'fail':>8}" for m in medians.values()
                )
                line = f"{workload:<8} {crypto:<13} {mode:<6} {cells}"
                go, py = medians.get("go-go"), medians.get("py-py")
                if "go-go" in medians and "py-py" in medians:
                    line += f" {py / go:6.2f}" if go and py else f" {'-':>6}"
                print(line, flush=True)
    print(f"# {time.monotonic() - started:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
