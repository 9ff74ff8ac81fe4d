"""Which implementation runs: the compiled fast path or pure Python.

``PYKCP_NO_EXTENSIONS=1`` forces pure Python at run time even where compiled modules are
installed: :func:`install_source_finder` (run by ``pykcp/__init__.py`` before any other pykcp
module loads) makes every ``pykcp.*`` import load the ``.py`` source, so the ``.so`` files
beside them are never used, and the C kernels (which have no source twin) fail to import
and their users fall back to pure Python.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

__all__ = ["disabled", "install_source_finder", "running"]


def disabled() -> bool:
    """True when ``PYKCP_NO_EXTENSIONS`` asks for pure Python."""
    return os.environ.get("PYKCP_NO_EXTENSIONS", "").strip() not in ("", "0")


class _SourceOnlyFinder:
    """A meta path finder that finds pykcp's modules as source or bytecode only."""

    @staticmethod
    def find_spec(
        fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("pykcp.") or path is None:
            return None
        loaders = [
            (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
            (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
        ]
        for entry in path:
            spec = importlib.machinery.FileFinder(entry, *loaders).find_spec(fullname)
            if spec is not None:
                return spec
        # Not found as source (a C kernel): stop here, so no extension is loaded instead.
        raise ModuleNotFoundError(f"{fullname} is compiled only (PYKCP_NO_EXTENSIONS is set)")


def install_source_finder() -> None:
    if not any(isinstance(f, _SourceOnlyFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceOnlyFinder())


def running(module: ModuleType) -> str:
    """``"compiled"`` if *module* (a core module) is an extension module, else ``"python"``."""
    name = getattr(module, "__file__", "") or ""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return "compiled" if name.endswith(suffixes) else "python"
