"""Robust reading of a catalog file into a raw table of strings.

Order of attempts for text: a UTF-16/UTF-8 byte-order mark, strict `utf-8`, then `cp1252`, and only then
charset-normalizer (detectors misread short cp1252 text). The delimiter is sniffed from the header line
(`,` `;` tab `|`). XLSX workbooks are read with openpyxl, also when they carry a `.csv` name. Anything
that cannot be read becomes a one-line CatalogWriterError naming the file (and row when known).
Row numbers are 1-based records of the file: the header is row 1, the first data record row 2.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from catalog_writer.core.product import Problem
from catalog_writer.core.errors import CatalogWriterError

LONG_CELL = 100_000
"""Cells longer than this are reported (a 10 MB cell is usually a broken export)."""
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls / .doc
_DELIMITERS = (",", ";", "\t", "|")

csv.field_size_limit(2**31 - 1)  # real exports carry multi-MB HTML cells


@dataclass
class RawTable:
    """Header plus every data record as strings, with how the file was encoded."""

    header: list[str]
    rows: list[list[str]]
    encoding: str = "utf-8"
    delimiter: str = ","
    line_terminator: str = "\r\n"
    problems: list[Problem] = field(default_factory=list)


def read_table(path: Path) -> RawTable:
    """Read a CSV/TSV/XLSX file; raise CatalogWriterError for anything that is not a table."""
    path = Path(path)
    if not path.exists():
        raise CatalogWriterError("file not found", file=path)
    if path.is_dir():
        raise CatalogWriterError("is a folder, not a catalog file", file=path)
    data = path.read_bytes()
    if not data.strip():
        raise CatalogWriterError("file is empty", file=path)
    if data.startswith(_ZIP):
        table = _read_xlsx(data, path)
    elif data.startswith(_OLE):
        raise CatalogWriterError("legacy Excel .xls workbook: save it as CSV or XLSX", file=path)
    else:
        text, encoding, problems = decode(data, path)
        table = parse_text(text, path, suffix=path.suffix.lower())
        table.encoding = encoding
        table.problems[:0] = problems
    if not any(h.strip() for h in table.header):
        raise CatalogWriterError("no header row (the first row is empty)", file=path, row=1)
    _check_shape(table)
    return table


def decode(data: bytes, path: Path) -> tuple[str, str, list[Problem]]:
    """Bytes -> (text, encoding name, problems)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16", [Problem("UTF-16 text (read with its byte-order mark)",
                                                             kind="info")]
        except UnicodeDecodeError as e:
            raise CatalogWriterError(f"UTF-16 text with an invalid byte at offset {e.start}", file=path) from None
    if b"\x00" in data[:8192]:
        return _decode_nul_text(data, path)
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig", []
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
        _reject_binary(text, path)
        return text, "cp1252", [Problem("not UTF-8: read as Windows-1252 (cp1252)", kind="info")]
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise CatalogWriterError("cannot detect the text encoding (binary file?)", file=path)
    text = str(best)
    _reject_binary(text, path)
    return text, best.encoding, [Problem(f"not UTF-8: encoding detected as {best.encoding}", kind="info")]


def _decode_nul_text(data: bytes, path: Path) -> tuple[str, str, list[Problem]]:
    """NUL bytes: UTF-16 without a byte-order mark, or a binary file."""
    head = data[:8192]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if max(even, odd) > len(head) // 4 and min(even, odd) < len(head) // 50:
        encoding = "utf-16-le" if odd > even else "utf-16-be"
        try:
            text = data.decode(encoding)
            _reject_binary(text, path)
            return text, encoding, [Problem(f"{encoding.upper()} text without a byte-order mark", kind="info")]
        except UnicodeDecodeError:
            pass
    raise CatalogWriterError("binary file, not CSV/TSV text (contains NUL bytes)", file=path)


def _reject_binary(text: str, path: Path) -> None:
    sample = text[:65536]
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n\f")
    if controls > max(8, len(sample) // 100):
        raise CatalogWriterError("binary file, not CSV/TSV text", file=path)


def sniff_delimiter(text: str, suffix: str = "") -> str:
    """Pick the delimiter that splits the header line most often (ties: comma; .tsv prefers tab)."""
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in _DELIMITERS}
    if suffix == ".tsv" and counts["\t"]:
        return "\t"
    best = max(_DELIMITERS, key=lambda d: counts[d])  # max keeps the first on ties: comma
    return best if counts[best] else ","


def parse_text(text: str, path: Path, suffix: str = "") -> RawTable:
    """Split decoded text into records; an unterminated quote is an error, other bad quoting a problem."""
    text = text.lstrip("\ufeff")
    delimiter = sniff_delimiter(text, suffix)
    terminator = "\r\n" if "\r\n" in text[:65536] else "\n"
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error as e:
        row = len(records) + 1
        if "unexpected end of data" in str(e):
            raise CatalogWriterError(
                "unterminated quoted field: a quote opened here is never closed", file=path, row=row
            ) from None
        # Stray quotes inside fields: re-read leniently, as spreadsheet programs do, and say so.
        lenient = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
        records = list(lenient)
        problems.append(Problem(f"malformed quoting ({e}); read leniently", row=row))
    if not records:
        raise CatalogWriterError("file is empty", file=path)
    header, rows = records[0], records[1:]
    return RawTable(header, rows, delimiter=delimiter, line_terminator=terminator, problems=problems)


def _read_xlsx(data: bytes, path: Path) -> RawTable:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        records = [[_cell_str(v) for v in row] for row in ws.iter_rows(values_only=True)]
        sheets, title = len(wb.sheetnames), ws.title
        wb.close()
    except Exception as e:  # noqa: BLE001 - openpyxl raises many types for a ZIP that is not a workbook
        kind = "a ZIP archive" if isinstance(e, (KeyError, InvalidFileException)) else "damaged"
        raise CatalogWriterError(f"not a readable XLSX workbook or CSV file ({kind}: {type(e).__name__})",
                                 file=path) from None
    while records and not any(records[-1]):
        records.pop()
    if not records:
        raise CatalogWriterError("the workbook's first sheet is empty", file=path)
    header = records[0]
    while header and not header[-1]:
        header.pop()
    rows = [r[: max(len(header), _last_filled(r))] for r in records[1:]]
    problems = []
    if path.suffix.lower() not in {".xlsx", ".xlsm"}:
        problems.append(Problem(f"file is an XLSX workbook despite its {path.suffix or 'missing'} extension",
                                kind="info"))
    if sheets > 1:
        problems.append(Problem(f"workbook has {sheets} sheets; read only {title!r}",
                                kind="info"))
    return RawTable(header, rows, encoding="xlsx", delimiter=",", problems=problems)


def _last_filled(row: list[str]) -> int:
    for i in range(len(row) - 1, -1, -1):
        if row[i]:
            return i + 1
    return 0


def _cell_str(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)


def _check_shape(table: RawTable) -> None:
    """Report ragged records, huge cells and a header without data (parsing goes on)."""
    width = len(table.header)
    if not any(any(c.strip() for c in r) for r in table.rows):
        table.problems.append(Problem("header only: the file has no data rows", row=1, kind="error"))
    for i, r in enumerate(table.rows):
        if not r or not any(r):
            continue
        if len(r) > width and any(c.strip() for c in r[width:]):
            table.problems.append(Problem(f"ragged row: {len(r)} cells but the header has {width}; "
                                          "extra cells ignored", row=i + 2))
        elif len(r) < width:
            table.problems.append(Problem(f"ragged row: {len(r)} cells but the header has {width}; "
                                          "missing cells read as empty", row=i + 2))
        for j, c in enumerate(r):
            if len(c) > LONG_CELL:
                col = table.header[j] if j < width else f"#{j + 1}"
                table.problems.append(Problem(f"very long cell ({len(c):,} characters)", row=i + 2, column=col))
