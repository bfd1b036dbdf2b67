"""File I/O every stage shares: atomic writes (files, JSON, JSONL, whole folders), JSONL reading, and
spreadsheet formula escaping.

Atomic: write a temp file in the target folder, then os.replace, so a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from catalog_writer.core.errors import CatalogWriterError

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


def atomic_write(out: Path, write: Callable[[IO], Any], encoding: str = "utf-8",
                 binary: bool = False) -> Path:
    """Call write(f) on a temp file next to `out`, then move it over `out` (removed again on any error)."""
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


def write_json_atomic(out: Path, data: Any, indent: int | None = 2) -> Path:
    """`data` as UTF-8 JSON (non-ASCII kept), newline-terminated, atomically."""
    text = json.dumps(data, indent=indent, ensure_ascii=False) + "\n"
    return atomic_write(out, lambda f: f.write(text))


def write_jsonl_atomic(out: Path, records: Iterable[dict]) -> Path:
    """One JSON object per line, atomically."""
    lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    return atomic_write(out, lambda f: f.writelines(lines))


def append_jsonl(path: Path, records: Iterable[dict]) -> None:
    """Append records as JSON lines and fsync, so a kill after this returns loses none of them (a kill during
    it can leave a cut last line: read such files with `skip_broken`)."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """Yield an empty staging folder next to `out`; when the block ends without error it replaces `out`
    (an earlier folder there is removed). On an error the staging folder goes and `out` stays as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.tmp-") as tmp:
        staging = Path(tmp) / out.name
        staging.mkdir()
        yield staging
        if out.exists():
            os.replace(out, Path(tmp) / ".old")  # removed with tmp; renames within one folder are atomic
        os.replace(staging, out)


def read_yaml_mapping(path: Path, what: str, sections: Iterable[str]) -> dict:
    """A YAML file of named sections (a recipe); missing, not YAML or not a mapping: one line naming it."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise CatalogWriterError(f"{what} not found", file=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CatalogWriterError(f"not valid YAML: {' '.join(str(e).split())}", file=path) from None
    if not isinstance(data, dict):
        raise CatalogWriterError(f"{what} must be a mapping of sections ({', '.join(sections)})", file=path)
    return data


def _kind(value: Any) -> str:
    """JSON's own name for a decoded value's type (for error messages)."""
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def read_json_object(path: Path, what: str = "JSON file") -> dict:
    """A JSON file that must hold an object; a missing, broken or non-object file is a one-line
    CatalogWriterError naming it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogWriterError(f"{what} not found", file=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CatalogWriterError(f"not a valid {what} ({getattr(e, 'msg', e)})", file=path,
                                 row=getattr(e, "lineno", None)) from None
    if not isinstance(data, dict):
        raise CatalogWriterError(f"not a valid {what} (holds {_kind(data)}, not a JSON object)", file=path)
    return data


def iter_jsonl(path: Path, *, skip_broken: bool = False) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file.

    Strict by default: a missing file, a line that is not JSON or a line that is not a JSON object raises
    a one-line CatalogWriterError naming the file and line. `skip_broken` is for journals appended to by a
    process that may have been killed mid-line: such lines are skipped, and a missing file is empty.
    """
    path = Path(path)
    try:
        f = path.open(encoding="utf-8")
    except FileNotFoundError:
        if skip_broken:
            return
        raise CatalogWriterError("file not found", file=path) from None
    with f:
        for n, line in enumerate(_lines(f, path), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                if skip_broken:
                    continue
                raise CatalogWriterError(f"invalid JSON ({e.msg})", file=path, row=n) from None
            if not isinstance(rec, dict):
                if skip_broken:
                    continue
                raise CatalogWriterError(f"line holds {_kind(rec)}, not a JSON object", file=path, row=n)
            yield n, rec


def _lines(f: IO[str], path: Path) -> Iterator[str]:
    try:
        yield from f
    except UnicodeDecodeError:
        raise CatalogWriterError("not UTF-8 text (is this a JSONL file?)", file=path) from None


def read_jsonl(path: Path, *, skip_broken: bool = False) -> list[dict]:
    """The objects of a JSONL file (see iter_jsonl for errors and `skip_broken`)."""
    return [rec for _, rec in iter_jsonl(path, skip_broken=skip_broken)]
