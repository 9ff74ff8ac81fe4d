"""``pykcp demo``: server, client and a seeded lossy relay on 127.0.0.1, with and without FEC."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from pykcp.tools.cli import main
from pykcp.tools.demo import _Progress


def _table(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("FEC "))
    assert lines[header].split()[:3] == ["FEC", "sink", "MB/s"]
    return {line.split()[0]: line.split() for line in lines[header + 1 :] if line.strip()}


def test_demo_compares_fec_settings(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["demo", "--bytes", "200000", "--messages", "10", "--loss", "0.08", "--delay", "2",
         "--jitter", "4", "--seed", "3"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith("pykcp demo: KCP server and client on 127.0.0.1")
    rows = _table(out)
    assert set(rows) == {"off", "10/3"}
    for row in rows.values():
        mbps, seconds, rtt_median = float(row[1]), float(row[2]), float(row[3])
        assert mbps > 0 and seconds > 0 and rtt_median >= 4.0  # two one-way delays of >= 2 ms
        assert int(row[-1]) > 0  # the relay dropped something
    # Not a terminal: plain progress lines, no carriage returns.
    assert "FEC 10/3: sink: started" in out and "\r" not in out


def test_demo_other_settings(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["demo", "--bytes", "50000", "--messages", "3", "--loss", "0", "--delay", "0",
         "--jitter", "0", "--fec", "4/2", "--crypt", "salsa20", "--mode", "fast3"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = _table(out)
    assert set(rows) == {"4/2"} and rows["4/2"][-1] == "0"  # nothing dropped at loss 0


def test_progress_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = _Progress(stream, tty=True)
    progress.begin("FEC off: sink", 1000)
    progress.update(500)
    progress.update(1000)
    progress.end("done")
    text = stream.getvalue()
    assert "\r  FEC off: sink" in text and "[###" in text and "100%" in text
    assert text.endswith("FEC off: sink: done\n")


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pykcp", "demo", "--bytes", "30000", "--messages", "3",
         "--delay", "1", "--jitter", "1", "--fec", "off"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].split()[0] == "off"
