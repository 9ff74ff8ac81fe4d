"""The layers stay layered: the sans-IO core imports no I/O, reads no clock, and nothing in a
lower layer imports a higher one."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "pykcp"
# Lower layers first; a module may import its own layer and the ones before it.
LAYERS = ["core", "aio", "blocking", "smux", "metrics", "tunnel", "tools"]
FORBIDDEN_IN_CORE = {"asyncio", "socket", "threading", "selectors", "time", "datetime"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "pykcp" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def _modules(layer: str) -> list[Path]:
    base = PACKAGE / layer
    return sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_core_imports_no_io_and_no_clock(path: Path) -> None:
    roots = {name.split(".")[0] for name in _imports(path)}
    assert not roots & FORBIDDEN_IN_CORE


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_imports_a_layer_above_it(layer: str) -> None:
    own = LAYERS.index(layer)
    for path in _modules(layer):
        for name in _imports(path):
            other = _layer(name)
            assert other is None or other <= own, f"{path.name} imports {name}"


def test_the_package_face_loads_no_asyncio() -> None:
    code = (
        "import sys\n"
        "from pykcp import KCP, Config, Session, ListenerCore\n"
        "import pykcp.core.kcp, pykcp.core.session, pykcp.core.listener\n"
        "bad = {'asyncio', 'socket', 'pykcp.aio'} & set(sys.modules)\n"
        "print(sorted(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_asyncio_names_are_there_on_first_use() -> None:
    import pykcp

    assert pykcp.open_connection.__module__ == "pykcp.aio.client"
    assert pykcp.SmuxConfig.__module__ == "pykcp.smux.frame"
    assert set(pykcp.__all__) <= set(dir(pykcp))
    with pytest.raises(AttributeError):
        pykcp.no_such_name  # noqa: B018
