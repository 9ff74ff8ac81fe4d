"""pykcp's PEP 517 build backend: setuptools, plus the optional compiled fast path.

The hot modules of the sans-IO core are compiled by Cython in pure-Python mode: the ``.py``
files are the source, the ``.pxd`` files beside them declare C types, and a small C kernel
(GF(2^8) arithmetic) is compiled where Cython cannot reach. Compiling is optional:

* ``PYKCP_NO_EXTENSIONS=1`` in the environment builds pure Python;
* without Cython or a working C compiler, or if any module fails to compile, the build
  warns and installs pure Python (never a mix: the compiled modules use each other's C
  types, so they come all together or not at all).

Everything else is plain ``setuptools.build_meta``, configured by pyproject.toml.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import build_meta as _meta
from setuptools import setup
from setuptools.command.build_ext import build_ext

# The compiled modules, as paths under src/ without ".py" (each has a .pxd beside it).
COMPILED = [
    "pykcp/core/snmp",
    "pykcp/core/kcp",
    "pykcp/core/fec",
    "pykcp/core/packet",
    "pykcp/core/session",
    "pykcp/core/listener",
]
# C files a compiled module links (through the C inlines of a .pxd it cimports).
C_HELPERS = {"pykcp/core/packet": ["src/pykcp/core/crc32.c"]}
# C extensions written as .pyx (thin typed wrappers over a C kernel; no pure twin needed,
# the modules above fall back to pure Python when these are absent).
KERNELS = {
    "pykcp/core/_gf256": ["src/pykcp/core/_gf256.pyx", "src/pykcp/core/gf256.c"],
    "pykcp/core/crypt/_legacy": [
        "src/pykcp/core/crypt/_legacy.pyx",
        "src/pykcp/core/crypt/legacy.c",
    ],
    "pykcp/core/crypt/_evp": ["src/pykcp/core/crypt/_evp.pyx"],
    "pykcp/core/crypt/_stream": [
        "src/pykcp/core/crypt/_stream.pyx",
        "src/pykcp/core/crypt/salsa20.c",
    ],
}
# Kernels that need more than a C compiler (here OpenSSL's headers and libcrypto): one that
# does not build is left out alone, and its users keep their pure-Python path.
OPTIONAL = {"pykcp.core.crypt._evp"}
LIBRARIES = {"pykcp/core/crypt/_evp": ["crypto"]}

DIRECTIVES = {
    "language_level": 3,
    "annotation_typing": False,  # the .pxd files hold the C types; annotations are for mypy
    "boundscheck": False,
    "wraparound": True,
    "cdivision": False,  # Python's // and % on negative numbers, as the pure source expects
    "binding": False,
    "embedsignature": False,
}


def _disabled() -> bool:
    return os.environ.get("PYKCP_NO_EXTENSIONS", "").strip() not in ("", "0")


def _extensions() -> list[Any]:
    """The Extension objects to build, or [] when compiling is off or impossible here."""
    if _disabled():
        print("pykcp: PYKCP_NO_EXTENSIONS is set: pure Python build", file=sys.stderr)
        return []
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError as exc:
        print(f"pykcp: Cython unavailable ({exc}): pure Python build", file=sys.stderr)
        return []
    problem = _compiler_problem()
    if problem:
        print(f"pykcp: no working C compiler ({problem}): pure Python build", file=sys.stderr)
        return []
    # Cython's C is mostly calls into the CPython API: -O1 runs as fast and compiles in half
    # the time of -O2. The kernel's loops get -O2 (its SIMD paths are chosen at run time).
    modules = [
        Extension(
            path.replace("/", "."),
            [f"src/{path}.py", *C_HELPERS.get(path, [])],
            include_dirs=["src/pykcp/core"],
            extra_compile_args=["-O1"],
        )
        for path in COMPILED
    ]
    modules += [
        Extension(
            path.replace("/", "."),
            sources,
            libraries=LIBRARIES.get(path, []),
            extra_compile_args=["-O2"],
        )
        for path, sources in KERNELS.items()
    ]
    try:
        return list(cythonize(modules, compiler_directives=DIRECTIVES, quiet=True, nthreads=2))
    except Exception as exc:  # a Cython error must not stop the pure install
        print(f"pykcp: cythonize failed ({exc}): pure Python build", file=sys.stderr)
        return []


def _compiler_problem() -> str:
    """Why the configured C compiler cannot build an extension here ("" when it can).

    Checked before cythonizing, which takes longer than compiling a one-line file.
    """
    import tempfile

    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as handle:
            handle.write("#include <Python.h>\nint pykcp_probe(void) { return 0; }\n")
        try:
            from sysconfig import get_paths

            compiler.compile([source], output_dir=tmp, include_dirs=[get_paths()["include"]])
        except Exception as exc:
            return str(exc) or type(exc).__name__
    return ""


class OptionalBuildExt(build_ext):
    """build_ext that falls back to pure Python instead of failing the install."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._give_up(exc)

    def build_extensions(self) -> None:
        try:
            super().build_extensions()
        except Exception as exc:
            self._give_up(exc)

    def build_extension(self, ext: Any) -> None:
        if ext.name not in OPTIONAL:
            super().build_extension(ext)
            return
        try:
            super().build_extension(ext)
        except Exception as exc:
            print(f"pykcp: optional {ext.name} not built ({exc})", file=sys.stderr)

    def _give_up(self, exc: BaseException) -> None:
        print(f"pykcp: compiling failed ({exc}): pure Python build", file=sys.stderr)
        for ext in self.extensions:  # all or nothing: remove what did build
            for name in (self.get_ext_fullpath(ext.name),):
                if os.path.exists(name):
                    os.remove(name)
        self.extensions = []


# setuptools commands that compile; metadata and sdist runs need no Cython.
_BUILDING = ("build_ext", "bdist_wheel", "editable_wheel", "build", "develop")


class _Backend(_meta._BuildMetaBackend):  # type: ignore[misc]
    def run_setup(self, setup_script: str = "setup.py") -> None:
        building = any(command in sys.argv for command in _BUILDING)
        setup(
            ext_modules=_extensions() if building else [],
            cmdclass={"build_ext": OptionalBuildExt},
        )


_backend = _Backend()
get_requires_for_build_wheel = _backend.get_requires_for_build_wheel
get_requires_for_build_sdist = _backend.get_requires_for_build_sdist
get_requires_for_build_editable = _backend.get_requires_for_build_editable
prepare_metadata_for_build_wheel = _backend.prepare_metadata_for_build_wheel
prepare_metadata_for_build_editable = _backend.prepare_metadata_for_build_editable
build_wheel = _backend.build_wheel
build_sdist = _backend.build_sdist
build_editable = _backend.build_editable
