"""The documentation site documents every public name: each name in ``pykcp.__all__`` is in
the built API reference (Sphinx's object inventory) with a description of its own.

scripts/test.sh builds the site (scripts/docs.sh) right before pytest; run alone, this test
builds it into a temporary directory when the build is missing or older than its sources.
"""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

import pykcp
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(300)

BUILT = ROOT / "docs" / "_build" / "html"
PAGES = (
    "index", "quickstart", "kcp-go", "tuning", "security", "tunnel", "metrics", "api",
    "protocol", "ciphers", "interfaces", "benchmarks", "changelog",
)  # fmt: skip


def _newest_source() -> float:
    sources = [
        *(ROOT / "src" / "pykcp").rglob("*.py"),
        *(ROOT / "docs").glob("*.md"),
        ROOT / "docs" / "conf.py",
        ROOT / "CHANGELOG.md",
        ROOT / "benchmarks" / "README.md",
    ]
    return max(path.stat().st_mtime for path in sources)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inventory = BUILT / "objects.inv"
    if inventory.exists() and inventory.stat().st_mtime >= _newest_source():
        return BUILT
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         ROOT / "docs", out],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _inventory(site: Path) -> dict[str, str]:
    """``{full name: page#anchor}`` of every Python object in the site's inventory."""
    from sphinx.util.inventory import InventoryFile

    with (site / "objects.inv").open("rb") as stream:
        inventory = InventoryFile.load(stream, "", lambda base, uri: uri)
    data = getattr(inventory, "data", inventory)  # Sphinx 8.2+ wraps the mapping
    found: dict[str, str] = {}
    for kind, entries in data.items():
        if kind.startswith("py:"):
            for name, entry in entries.items():
                found[name] = entry[2] if isinstance(entry, tuple) else entry.uri
    return found


_PARAGRAPH = "\x00"


class _Descriptions(HTMLParser):
    """The text of each described object's own description: the ``<dd>`` after its
    ``<dt id=...>``, without nested member descriptions and without the "Bases:" line."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self._pending: str | None = None
        self._stack: list[tuple[str, str | None]] = []  # (tag, id of the object it describes)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "dt" and attributes.get("id"):
            self._pending = attributes["id"]
        if tag in ("dd", "dl", "p"):
            owner = None
            if tag == "dd" and self._pending is not None:
                owner, self._pending = self._pending, None
                self.text[owner] = ""
            elif tag == "p" and (current := self._current()) is not None:
                self.text[current] += _PARAGRAPH
            self._stack.append((tag, owner))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dd", "dl", "p") and self._stack:
            self._stack.pop()

    def _current(self) -> str | None:
        # The innermost dd owner, unless a nested dl (members) lies between it and here.
        for tag, owner in reversed(self._stack):
            if tag == "dl":
                return None
            if tag == "dd":
                return owner
        return None

    def handle_data(self, data: str) -> None:
        owner = self._current()
        if owner is not None:
            self.text[owner] += data


def _descriptions(page: Path) -> dict[str, str]:
    parser = _Descriptions()
    parser.feed(page.read_text())
    out = {}
    for name, text in parser.text.items():
        paragraphs = [" ".join(part.split()) for part in text.split(_PARAGRAPH)]
        out[name] = " ".join(p for p in paragraphs if p and not p.startswith("Bases:"))
    return out


def test_every_public_name_is_in_the_api_reference(site: Path) -> None:
    inventory = _inventory(site)
    missing = [name for name in pykcp.__all__ if f"pykcp.{name}" not in inventory]
    assert not missing, f"not in the API reference: {missing}"
    assert {inventory[f"pykcp.{name}"].split("#")[0] for name in pykcp.__all__} == {"api.html"}


def test_every_public_name_has_a_description(site: Path) -> None:
    descriptions = _descriptions(site / "api.html")
    empty = []
    for name in pykcp.__all__:
        text = descriptions.get(f"pykcp.{name}", "")
        if len(text.split()) < 3:
            empty.append((name, text))
    assert not empty, f"documented without a description: {empty}"


def test_the_metrics_helper_is_documented(site: Path) -> None:
    inventory = _inventory(site)
    for name in ("serve_metrics", "KCPCollector", "MetricsServer"):
        assert f"pykcp.metrics.{name}" in inventory


def test_every_page_is_built(site: Path) -> None:
    for page in PAGES:
        assert (site / f"{page}.html").is_file(), page
    tuning = (site / "tuning.html").read_text()
    assert "demo.png" in tuning  # the FEC picture rendered by `pykcp demo --plot`
    images = list(site.glob("_images/demo*.png")) + list(site.glob("_static/demo.png"))
    assert images and images[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
