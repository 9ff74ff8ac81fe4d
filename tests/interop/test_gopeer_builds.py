from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop


def test_gopeer_builds_against_debian_kcp_go(gopeer: Path) -> None:
    out = subprocess.run(
        [gopeer, "version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert "kcp-go" in out.stdout
