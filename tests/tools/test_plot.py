"""``pykcp demo --plot``: the picture of the demo is a real PNG; bad paths and a missing
matplotlib are reported before the demo runs."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from pykcp.tools.cli import main
from pykcp.tools.demo import DemoRow
from pykcp.tools.plot import plot_demo, throughput_series
from pykcp.tools.workload import WorkloadResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    assert data.endswith(b"IEND\xaeB`\x82")  # complete: the end chunk and its CRC
    return width, height


def _row(fec: tuple[int, int], rtts: list[float]) -> DemoRow:
    sink = WorkloadResult(workload="sink", bytes=4_000_000, seconds=1.0)
    pingpong = WorkloadResult(workload="echo", bytes=160_000, seconds=1.0, rtts_ms=rtts)
    samples = [(0.05 * i, 100_000 * i) for i in range(1, 41)]
    return DemoRow(fec, sink, pingpong, 10, 3, 5, 100, sink_samples=samples)


def test_plot_demo_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    plot_demo([_row((0, 0), [25.0, 60.0, 210.0]), _row((10, 3), [24.0, 30.0, 40.0])], out)
    assert _png_size(out) == (1000, 400)
    import matplotlib.image

    pixels = matplotlib.image.imread(str(out))
    assert pixels.shape[:2] == (400, 1000)
    assert pixels.std() > 0.05  # something was drawn, not a blank canvas


def test_throughput_series_rates() -> None:
    times, rates = throughput_series([(0.1, 1_000_000), (0.2, 2_000_000), (1.6, 3_000_000)])
    assert times[0] == pytest.approx(0.1) and times[-1] >= 1.6
    assert rates[0] == pytest.approx(10.0)  # 1 MB in the first 100 ms
    assert sum(rate * 0.1 for rate in rates) == pytest.approx(3.0)
    assert throughput_series([]) == ([], [])


def test_demo_plot_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.png"
    rc = main(
        ["demo", "--bytes", "100000", "--messages", "4", "--loss", "0.05", "--delay", "1",
         "--jitter", "1", "--plot", str(out)]
    )  # fmt: skip
    assert rc == 0, capsys.readouterr().out
    assert f"plot written to {out}" in capsys.readouterr().out
    width, height = _png_size(out)
    assert width > 0 and height > 0


@pytest.mark.parametrize(
    ("value", "message"),
    [("demo.jpg", "expected a .png file name"), ("/no/such/dir/demo.png", "no such directory")],
)
def test_demo_plot_rejects_bad_paths(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--plot", value])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_demo_plot_without_matplotlib_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == "matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.delitem(sys.modules, "pykcp.tools.plot")
    assert main(["demo", "--plot", str(tmp_path / "x.png")]) == 2
    assert "pip install 'pykcp[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
