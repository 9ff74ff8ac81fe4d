"""Sphinx configuration of pykcp's documentation site (built by scripts/docs.sh).

Sphinx with autodoc imports the real package, so the API reference is the docstrings as they
are, and its object inventory (objects.inv) lets tests/test_docs.py check that every public
name is documented. MyST-Parser reads the Markdown pages in docs/ as they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Document the checkout being built, even where another pykcp is installed.
sys.path.insert(0, str(ROOT / "src"))

import pykcp  # noqa: E402

project = "pykcp"
author = "the pykcp authors"
copyright = "the pykcp authors, MIT licence"  # noqa: A001 (Sphinx's name)
release = pykcp.__version__
version = release

extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Docstrings of builtin bases (ValueError, ...) say nothing about pykcp.
autodoc_inherit_docstrings = False

html_theme = "furo"
html_title = f"pykcp {release}"
html_static_path = ["_static"]
html_show_sourcelink = False
