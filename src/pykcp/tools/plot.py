"""``pykcp demo --plot``: a picture of what the demo measured (needs ``pykcp[plot]``).

Left, the distribution of ping-pong round-trip times for each FEC setting (an empirical CDF:
the further left and the steeper, the better; the tail shows the retransmissions FEC saves).
Right, the sink's throughput over time. Drawn with matplotlib's Agg canvas directly, without
pyplot, so it neither needs a display nor changes the process's matplotlib backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

MISSING_EXTRA: Final = "plotting needs the matplotlib package: pip install 'pykcp[plot]'"

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter
except ImportError as exc:  # an optional extra: say which one to install
    raise ImportError(MISSING_EXTRA, name=exc.name) from exc

if TYPE_CHECKING:
    from pykcp.tools.demo import DemoRow

__all__ = ["MISSING_EXTRA", "plot_demo", "throughput_series"]


def throughput_series(
    samples: Sequence[tuple[float, int]], bins: int = 16
) -> tuple[list[float], list[float]]:
    """``(times, MB/s)`` of cumulative ``(seconds, bytes)`` samples, in *bins* equal steps
    (at least 100 ms each, as writes come in bursts whenever the window opens); each value is
    the rate over the step that ends at its time."""
    if not samples:
        return [], []
    end = samples[-1][0]
    width = max(end / bins, 0.1)
    times: list[float] = []
    rates: list[float] = []
    index, done_before, edge = 0, 0, width
    while True:
        done = done_before
        while index < len(samples) and samples[index][0] <= edge:
            done = samples[index][1]
            index += 1
        times.append(edge)
        rates.append((done - done_before) / width / 1e6)
        done_before = done
        if index >= len(samples):
            return times, rates
        edge += width


def plot_demo(rows: Sequence[DemoRow], path: str | Path, *, title: str = "") -> None:
    """Draw the demo's results into the PNG file *path*."""
    figure = Figure(figsize=(10, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    rtt_axes, rate_axes = figure.subplots(1, 2)
    for row in rows:
        label = "FEC off" if row.fec == (0, 0) else f"FEC {row.fec[0]}/{row.fec[1]}"
        rtts = sorted(row.pingpong.rtts_ms)
        if rtts:
            fractions = [(i + 1) / len(rtts) for i in range(len(rtts))]
            rtt_axes.step(rtts, fractions, where="post", label=label)
        times, rates = throughput_series(row.sink_samples)
        if times:
            rate_axes.step(
                times, rates, where="pre", label=f"{label} ({row.sink.mbps:.2f} MB/s overall)"
            )
    rtt_axes.set_xscale("log")
    rtt_axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    rtt_axes.xaxis.set_major_formatter(ScalarFormatter())
    rtt_axes.xaxis.set_minor_formatter(NullFormatter())
    rtt_axes.set_xlabel("ping-pong round-trip time (ms, log scale)")
    rtt_axes.set_ylabel("fraction of messages at or below")
    rtt_axes.set_ylim(0, 1.02)
    rtt_axes.set_title("Round-trip times through the lossy relay")
    rtt_axes.grid(True, which="both", alpha=0.3)
    rtt_axes.legend(loc="lower right")
    rate_axes.set_xlabel("time since the sink started (s)")
    rate_axes.set_ylabel("MB/s written (10^6 bytes)")
    rate_axes.set_ylim(bottom=0)
    rate_axes.set_title("Sink throughput over time")
    rate_axes.grid(True, alpha=0.3)
    rate_axes.legend(loc="best")
    if title:
        figure.suptitle(title, fontsize=9)
    figure.savefig(Path(path), format="png")
