"""Builds the project's Go peer (tests/interop/gopeer) against Debian's kcp-go 5.6.1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, missing_tool, require_executable

KCPGO_SRC = Path("/usr/share/gocode/src/github.com/xtaci/kcp-go")
GOPEER_SRC = Path(__file__).resolve().parent / "gopeer"
BUILD_DIR = ROOT / ".gobuild"


@pytest.fixture(scope="session")
def gopeer() -> Path:
    """Path of the built gopeer binary (rebuilt when a .go file is newer)."""
    go = require_executable("go")
    if not KCPGO_SRC.is_dir():
        missing_tool(f"{KCPGO_SRC} missing (Debian package golang-github-xtaci-kcp-dev)")
    BUILD_DIR.mkdir(exist_ok=True)
    binary = BUILD_DIR / "gopeer"
    sources = list(GOPEER_SRC.glob("*.go"))
    newest = max(p.stat().st_mtime for p in sources)
    if not binary.exists() or binary.stat().st_mtime < newest:
        env = dict(os.environ)
        env.update(
            GO111MODULE="off",
            GOPATH="/usr/share/gocode",
            GOCACHE=str(BUILD_DIR / "cache"),
            CGO_ENABLED="0",
        )
        proc = subprocess.run(
            [go, "build", "-o", str(binary), "."],
            cwd=GOPEER_SRC,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if proc.returncode != 0:
            pytest.fail(f"building gopeer failed:\n{proc.stderr}", pytrace=False)
    return binary
