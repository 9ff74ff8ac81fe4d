"""Shared test fixtures.

Tools the tests need from outside Python (Go, Debian's kcp-go, kcptun) are installed by
scripts/system-deps.sh. When one is missing, a test fails loudly under CI=true and may only
skip on a developer's machine.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_tool(reason: str) -> None:
    """Fail in CI, skip elsewhere: a test that cannot run must never pass silently in CI."""
    if IN_CI:
        pytest.fail(f"required tool missing in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_tool(f"{name} not found on PATH (run scripts/system-deps.sh)")
        raise AssertionError("unreachable")
    return path
