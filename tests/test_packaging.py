"""Release packaging: ``python -m build`` makes an sdist and, from it, a wheel that ``twine
check`` accepts, that installs into a fresh venv and works there (import, a loopback echo,
the console script). One build for the whole module, bounded by the timeout below.

The build runs with a C compiler that fails (``CC=/bin/false``): the compiled fast path is
optional, so the result must be a working pure-Python wheel. (The editable install of the
test command itself proves the compiled build.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

import pykcp
from tests.conftest import ROOT

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(300)]

SMOKE = """
import asyncio, sys
import pykcp
assert pykcp.__file__.startswith(sys.prefix), pykcp.__file__

async def main():
    config = pykcp.Config(crypt="aes", key="smoke", data_shards=4, parity_shards=2)

    async def echo(reader, writer):
        writer.write(await reader.readexactly(5))
        await writer.drain()

    server = await pykcp.start_server(echo, "127.0.0.1", 0, config=config)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await pykcp.open_connection("127.0.0.1", port, config=config)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(5), 10) == b"hello"
        writer.close()

asyncio.run(main())
import pykcp.metrics, pykcp.tunnel, pykcp.smux, pykcp.blocking
print("smoke ok", pykcp.__version__)
"""


def _run(*args: str | Path, timeout: float = 240, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, f"{args}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # The default build: an sdist, then the wheel built from the unpacked sdist, each in an
    # isolated environment, so a file missing from the sdist breaks the wheel here.
    no_compiler = {**os.environ, "CC": "/bin/false"}
    no_compiler.pop("PYKCP_NO_EXTENSIONS", None)
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT, env=no_compiler)
    return out


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_version_has_one_source(dist: Path) -> None:
    wheel = _one(dist, "pykcp-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")  # no compiler: the pure wheel
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"pykcp-{pykcp.__version__}.dist-info/METADATA").decode()
        names = set(archive.namelist())
    assert not any(name.endswith((".so", ".html")) for name in names)
    c_files = sorted(name for name in names if name.endswith(".c"))
    kernels = [
        "pykcp/core/crc32.c",
        "pykcp/core/crypt/legacy.c",
        "pykcp/core/crypt/salsa20.c",
        "pykcp/core/gf256.c",
    ]
    assert c_files == kernels  # the C kernels, not what Cython generates
    assert f"\nVersion: {pykcp.__version__}\n" in metadata
    assert "pykcp/py.typed" in names
    assert "Provides-Extra: metrics" in metadata and "Provides-Extra: plot" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert not re.search(r'^version\s*=\s*"', pyproject, re.M)  # only pykcp.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(pykcp.__version__)}\]", changelog, re.M)


def test_sdist_carries_docs_tests_and_changelog(dist: Path) -> None:
    sdist = _one(dist, "pykcp-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for needed in (
        "CHANGELOG.md",
        "LICENSE",
        "README.md",
        "docs/conf.py",
        "docs/protocol.md",
        "tests/conftest.py",
        "src/pykcp/py.typed",
        "src/pykcp/metrics.py",
        "build_backend/pykcp_build.py",
        "src/pykcp/core/kcp.pxd",
        "src/pykcp/core/gf256.c",
        "src/pykcp/core/crc32.c",
        "src/pykcp/core/crc32.h",
        "src/pykcp/core/_bytes.pxd",
        "src/pykcp/core/_gf256.pyx",
        "src/pykcp/core/crypt/_legacy.pyx",
        "src/pykcp/core/crypt/legacy.c",
        "src/pykcp/core/crypt/legacy.h",
        "src/pykcp/core/crypt/_stream.pyx",
        "src/pykcp/core/crypt/salsa20.c",
        "src/pykcp/core/crypt/salsa20.h",
    ):
        assert needed in names, needed
    assert not any(name.startswith("docs/_build") for name in names)
    generated = [n for n in names if n.endswith((".so", ".html")) or n == "src/pykcp/core/kcp.c"]
    assert generated == []  # what an in-place build leaves in a working tree stays out


def test_twine_check_passes(dist: Path) -> None:
    out = _run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir()))
    assert out.count("PASSED") == 2, out


def test_wheel_installs_and_runs_in_a_fresh_venv(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    wheel = _one(dist, "pykcp-*.whl")
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", "--disable-pip-version-check", wheel,
    )  # fmt: skip
    # The dependencies come from the test venv, without its (editable) pykcp: a path in a
    # .pth file is appended to sys.path, and the .pth files inside it are not run.
    site_packages = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    deps = sysconfig.get_paths()["purelib"]
    (Path(site_packages.strip()) / "test-deps.pth").write_text(deps + "\n")
    assert f"smoke ok {pykcp.__version__}" in _run(python, "-c", SMOKE, timeout=60)
    implementation = "import pykcp; print(pykcp.implementation)"
    assert _run(python, "-c", implementation, timeout=60).strip() == "python"
    assert _run(venv / "bin" / "pykcp", "--version", timeout=60).strip() == (
        f"pykcp {pykcp.__version__} (python)"
    )
