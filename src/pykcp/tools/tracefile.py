"""``--trace FILE``: a session's trace events as JSON lines (see :mod:`pykcp.core.trace`).

One object per line: ``{"t": ms, "conv": conv, "event": name, ...the event's fields}``, where
``t`` counts from when the file was opened, so a stall on a real link can be read (or
plotted) after the fact.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any

from pykcp.aio import KCPSession
from pykcp.core.trace import Tracer

__all__ = ["TraceFile"]


class TraceFile:
    """Writes the trace events of any number of sessions to one file."""

    def __init__(self, path: str) -> None:
        self._file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._start = time.monotonic()
        self.events = 0

    def tracer(self, conv: int) -> Tracer:
        """A tracer that writes session *conv*'s events here."""
        write = self._file.write
        start = self._start

        def trace(event: str, fields: dict[str, int | str]) -> None:
            record: dict[str, Any] = {"t": round((time.monotonic() - start) * 1000, 3)}
            record["conv"] = conv
            record["event"] = event
            record.update(fields)
            write(json.dumps(record) + "\n")
            self.events += 1

        return trace

    def attach(self, session: KCPSession) -> None:
        session.set_trace(self.tracer(session.conv))

    def close(self) -> None:
        self._file.close()
