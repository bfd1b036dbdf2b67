"""File output every stage shares: atomic writes and spreadsheet formula escaping.

Atomic: write a temp file in the target folder, then os.replace, so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _dangerous(cell: str) -> bool:
    if cell[:1] in _TRIGGERS:
        return True
    return any(line.lstrip(" ")[:1] in _TRIGGERS[:5] for line in cell.split("\n"))


def escape_formula(cell: str) -> str:
    """Prefix `'` to a cell a spreadsheet would execute (any line starting with = + - @ tab CR LF)."""
    if not cell or not isinstance(cell, str):
        return cell
    return "'" + cell if _dangerous(cell) else cell


def unescape_formula(cell: str) -> str:
    """Undo escape_formula: strip a leading `'` only where escape_formula would have added it."""
    if cell.startswith("'") and len(cell) > 1 and _dangerous(cell[1:]):
        return cell[1:]
    return cell


def atomic_write(out: Path, write, encoding: str = "utf-8", binary: bool = False) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        if binary:
            with os.fdopen(fd, "wb") as f:
                write(f)
        else:
            with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
                write(f)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
