"""Golden vectors produced by real kcp-go 5.6.1 (copied from the project's shared material).

Some fields hold Python-list literals of hex strings (``"['00ab', ...]"``); :func:`hex_list`
decodes them.
"""

from __future__ import annotations

import ast
import json
from functools import cache
from pathlib import Path
from typing import Any

VECTOR_FILE = Path(__file__).with_name("kcpgo-5.6.1.jsonl")


@cache
def _all() -> tuple[dict[str, Any], ...]:
    with VECTOR_FILE.open() as f:
        return tuple(json.loads(line) for line in f if line.strip())


def load(kind: str) -> list[dict[str, Any]]:
    """Every vector whose ``type`` is *kind* (cipher, packet, rs, fec, wire, kdf)."""
    return [dict(v) for v in _all() if v.get("type") == kind]


def hex_list(field: str | list[str]) -> list[bytes]:
    items = ast.literal_eval(field) if isinstance(field, str) else field
    return [bytes.fromhex(x) for x in items]
