"""The ``pykcp demo`` loopback demo (real UDP sockets on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pykcp.cli import main, run_demo


def test_demo_prints_one_row_per_mode(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["demo", "--size", "24", "--modes", "default,fast", "--timeout", "8", "--seed", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("pykcp demo: 24 KiB")
    assert lines[1].split()[:4] == ["mode", "bytes", "time", "s"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"default", "fast"}
    assert rows["fast"][1] == str(24 * 1024) and rows["fast"][-1] == "ok"


def test_demo_result_counts_and_integrity() -> None:
    result = run_demo("fast3", size=40_000, loss=0.2, delay_ms=2, seed=5, timeout_s=10)
    assert result.complete and result.intact
    assert result.relay_dropped > 0 and result.retrans > 0
    assert result.out_segs >= 40_000 // 1376
    assert result.srtt > 0 and result.kib_per_s > 0


def test_unknown_mode_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--modes", "warp"]) == 2
    assert "unknown mode" in capsys.readouterr().err


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pykcp", "demo", "--size", "8", "--modes", "fast", "--seed", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].split()[0] == "fast"
    assert proc.stdout.splitlines()[-1].endswith("ok")
