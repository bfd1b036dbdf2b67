"""Write a catalog back with new descriptions, safely.

- `same`: the platform's own file again. Every row and column stays in order and byte-for-byte as read;
  only the description cell of each product's main row changes (plus rows of dropped duplicates and, for
  Merchant feeds, the other items of the same item group). Delimiter and line ending are kept; the
  encoding is UTF-8 (a UTF-8 BOM or UTF-16 input is written back the same way). Flags and model version
  go to a side file `OUT.flags.csv`, so the platform file re-imports cleanly.
- `csv` / `jsonl`: one record per product (id, title, brand, category, price, rows, description,
  reference_description) plus the `extra` columns.

Formula injection: cells we write (descriptions, extra columns, and every cell of a `csv` export) that
start with = + - @ tab CR LF (after leading spaces, on any line) get a leading `'`. Untouched cells of a
platform file are left exactly as the user gave them. Reading strips our prefix (`unescape_formula`).
All writes go to a temp file in the target folder, then `os.replace`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from catalog_writer.ingest.catalog import Catalog, Product
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import atomic_write, escape_formula, write_jsonl_atomic


def _platform_cell(cat: Catalog, html: str) -> str:
    if cat.format == "woocommerce":
        # WooCommerce's exporter writes newlines in descriptions as a literal \n; its importer undoes it.
        html = html.replace("\r\n", "\n").replace("\n", "\\n")
    return escape_formula(html)


def _target_rows(cat: Catalog, product: Product) -> list[int]:
    rows = [product.main_row]
    rows += [r for r, pid in cat.duplicate_of.items() if pid == product.id]
    if cat.format == "merchant":
        rows += [r - 2 for r in product.rows if r - 2 != product.main_row]
    return rows


def write_catalog(cat: Catalog, texts: dict[str, str], out: Path, out_format: str = "same",
                  extra: dict[str, dict[str, str]] | None = None) -> Path:
    """Write `cat` with `texts` (product id -> description HTML) to `out`; returns `out`."""
    out = Path(out)
    if out_format == "same":
        _write_same(cat, texts, out)
        if extra:
            _write_flags(cat, extra, out.with_name(out.name + ".flags.csv"))
        return out
    if out_format == "csv":
        return _write_records_csv(cat, texts, out, extra or {})
    if out_format == "jsonl":
        return _write_jsonl(cat, texts, out, extra or {})
    raise CatalogWriterError(f"unknown output format {out_format!r}: use same, csv or jsonl")


def _filled_table(cat: Catalog, texts: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    header = list(cat.header)
    try:
        col = header.index(cat.description_column) if cat.description_column else -1
    except ValueError:
        col = -1
    rows = [list(r) for r in cat.table]
    if col < 0:  # generic file without a description column: add one at the end, to every record
        header.append(cat.description_column or "description")
        col = len(header) - 1
        for r in rows:
            if r:
                r.extend([""] * (len(header) - len(r)))
    by_id = {p.id: p for p in cat.products}
    for pid, html in texts.items():
        product = by_id.get(pid)
        if product is None:
            raise CatalogWriterError(f"no product with id {pid!r} in the catalog", file=cat.path)
        for i in _target_rows(cat, product):
            row = rows[i]
            if len(row) <= col:
                row.extend([""] * (col + 1 - len(row)))
            row[col] = _platform_cell(cat, html)
    return header, rows


def _write_same(cat: Catalog, texts: dict[str, str], out: Path) -> None:
    header, rows = _filled_table(cat, texts)
    if cat.encoding == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("catalog")
        for r in [header, *rows]:
            ws.append(r)
        atomic_write(out, wb.save, binary=True)
        return
    encoding = cat.encoding if cat.encoding in ("utf-8-sig", "utf-16") else "utf-8"

    def write(f) -> None:
        w = csv.writer(f, delimiter=cat.delimiter, lineterminator=cat.line_terminator)
        w.writerow(header)
        w.writerows(rows)

    atomic_write(out, write, encoding=encoding)


def _extra_keys(extra: dict[str, dict[str, str]]) -> list[str]:
    keys: list[str] = []
    for d in extra.values():
        keys += [k for k in d if k not in keys]
    return keys


def _write_flags(cat: Catalog, extra: dict[str, dict[str, str]], out: Path) -> Path:
    rows_of = {p.id: p.main_row + 2 for p in cat.products}
    keys = _extra_keys(extra)

    def write(f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "row", *keys])
        for pid, d in extra.items():
            w.writerow([escape_formula(str(x)) for x in [pid, rows_of.get(pid, ""), *(d.get(k, "") for k in keys)]])

    return atomic_write(out, write)


def _record(p: Product, texts: dict[str, str]) -> dict:
    return {"id": p.id, "title": p.title, "brand": p.brand, "category": p.category, "price": p.price or "",
            "rows": p.rows, "description": texts.get(p.id, ""), "reference_description": p.description_html}


def _write_records_csv(cat: Catalog, texts, out: Path, extra) -> Path:
    keys = _extra_keys(extra)
    base = ["id", "title", "brand", "category", "price", "rows", "description", "reference_description"]

    def write(f) -> None:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(base + [k for k in keys if k not in base])
        for p in cat.products:
            rec = _record(p, texts)
            rec["category"] = " > ".join(p.category)
            rec["rows"] = ";".join(map(str, p.rows))
            values = [rec[k] for k in base] + [extra.get(p.id, {}).get(k, "") for k in keys if k not in base]
            w.writerow([escape_formula(str(v)) for v in values])

    return atomic_write(out, write, encoding="utf-8")


def _write_jsonl(cat: Catalog, texts, out: Path, extra) -> Path:
    records = [_record(p, texts) | {"attributes": p.attributes, "options": p.options} | extra.get(p.id, {})
               for p in cat.products]
    return write_jsonl_atomic(out, records)
