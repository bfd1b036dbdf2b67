"""Catalog files (Shopify, WooCommerce, Magento 2, Google Merchant, generic) -> normalised Products.

INTERFACE FROZEN BY THE LEAD: the dataclasses below are used by every other module. Add fields only
with defaults; do not rename. Parsing lives in catalog_writer/ingest/formats/ (one module per platform).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.product import USABLE_WORDS, Problem, Product, has_reference  # noqa: F401  (re-exported)
from catalog_writer.ingest.formats import FORMATS



@dataclass
class Catalog:
    """A parsed catalog file: raw table (for writing back) plus normalised products."""

    path: Path
    format: str
    header: list[str]
    table: list[list[str]]
    """Every data row as read (strings), so a write-back can keep every row and column."""
    products: list[Product]
    description_column: str
    """The column a write-back fills (Body (HTML) / Description / description ...)."""
    problems: list[Problem] = field(default_factory=list)
    duplicates: int = 0
    encoding: str = "utf-8"
    delimiter: str = ","
    line_terminator: str = "\r\n"
    """Record separator of the source file, reused by a `same` write-back."""
    duplicate_of: dict[int, str] = field(default_factory=dict)
    """main_row of each dropped duplicate product -> id of the product kept (write-back fills both)."""


# ----------------------------------------------------------------------------------------------- reading
MAPPING_FIELDS = ("id", "title", "description", "brand", "category", "price", "group")


def read_catalog(path: str | Path, format: str | None = None, mapping: dict[str, str] | None = None) -> Catalog:
    """Read a catalog file (format detected from the header unless given) into normalised products."""
    import csv
    import zipfile

    from catalog_writer.ingest import formats  # noqa: F811
    from catalog_writer.ingest.formats.reading import read_table

    path = Path(path)
    fmt = (format or "").strip().lower() or None
    try:
        if fmt is not None and fmt not in FORMATS:
            raise CatalogWriterError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        if mapping and fmt not in (None, "generic"):
            raise CatalogWriterError("--map only applies to generic files (--format generic)")
        table = read_table(path)
        fmt = fmt or ("generic" if mapping else formats.detect(table.header))
        parsed = formats.parse(fmt, table, mapping)
    except CatalogWriterError as e:
        e.file = e.file or str(path)
        raise
    except (csv.Error, zipfile.BadZipFile, OSError, UnicodeError, ValueError) as e:
        raise CatalogWriterError(f"cannot read catalog ({type(e).__name__}: {e})", file=path) from None
    problems = table.problems + parsed.problems
    for p in parsed.products:
        if not p.title:
            problems.append(Problem("product without a title", row=p.main_row + 2, column="title"))
    products, duplicate_of = dedupe(parsed.products, problems)
    return Catalog(
        path=path, format=fmt, header=table.header, table=table.rows, products=products,
        description_column=parsed.description_column, problems=problems, duplicates=len(duplicate_of),
        encoding=table.encoding, delimiter=table.delimiter, line_terminator=table.line_terminator,
        duplicate_of=duplicate_of,
    )


def dedupe(products: list[Product], problems: list[Problem]) -> tuple[list[Product], dict[int, str]]:
    """Drop products identical in every field except id/rows (the same product listed twice)."""
    import json

    seen: dict[str, Product] = {}
    kept, duplicate_of = [], {}
    for p in products:
        key = json.dumps([p.title, p.brand, p.category, sorted(p.attributes.items()), p.options, p.price,
                          p.description_html], ensure_ascii=False)
        first = seen.get(key)
        if first is None or not (p.title or p.description_html):
            seen.setdefault(key, p)
            kept.append(p)
            continue
        duplicate_of[p.main_row] = first.id
        problems.append(Problem(f"duplicate of product {first.id!r} (row {first.main_row + 2}); counted once",
                                row=p.main_row + 2, kind="info"))
    return kept, duplicate_of


def parse_mapping(values: list[str] | None) -> dict[str, str] | None:
    """`--map` items (FIELD=COLUMN, attr:NAME=COLUMN, option:NAME=COLUMN) and/or YAML files -> mapping."""
    if not values:
        return None
    mapping: dict[str, str] = {}
    for item in values:
        if "=" not in item or Path(item).suffix.lower() in {".yaml", ".yml", ".json"} and Path(item).is_file():
            mapping.update(_load_mapping_file(Path(item)))
            continue
        key, _, column = item.partition("=")
        mapping[_mapping_key(key, item)] = column.strip()
    return mapping


def _mapping_key(key: str, item: str) -> str:
    key = key.strip()
    kind, sep, name = key.partition(":")
    if sep and kind.strip().lower() in ("attr", "option") and name.strip():
        return f"{kind.strip().lower()}:{name.strip()}"
    if key.lower() in MAPPING_FIELDS:
        return key.lower()
    raise CatalogWriterError(
        f"bad --map item {item!r}: use FIELD=COLUMN with FIELD one of {', '.join(MAPPING_FIELDS)}, "
        "attr:NAME or option:NAME, or a YAML file"
    )


def _load_mapping_file(path: Path) -> dict[str, str]:
    import yaml

    if not path.is_file():
        raise CatalogWriterError("mapping file not found (expected FIELD=COLUMN or a YAML file)", file=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise CatalogWriterError(f"invalid YAML mapping: {str(e).splitlines()[0]}", file=path) from None
    if not isinstance(data, dict):
        raise CatalogWriterError("mapping file must be a YAML mapping of FIELD: COLUMN", file=path)
    out: dict[str, str] = {}
    for key, value in data.items():
        if key in ("attributes", "options"):
            prefix = "attr" if key == "attributes" else "option"
            items = value.items() if isinstance(value, dict) else ((v, v) for v in (value or []))
            for name, column in items:
                out[f"{prefix}:{name}"] = str(column)
        elif isinstance(value, (str, int, float)):
            out[_mapping_key(str(key), f"{key}: {value}")] = str(value)
        else:
            raise CatalogWriterError(f"mapping field {key!r} must name one column", file=path)
    return out


def html_to_text(html: str) -> str:
    """Description HTML (or plain text) -> clean text: paragraphs split by a blank line, list items as
    '- item' lines, entities decoded, whitespace normalised (see formats/text.py)."""
    from catalog_writer.ingest.formats.text import html_to_text as convert

    return convert(html)


# --------------------------------------------------------------------------------------------- reporting
def inspect_report(cat: Catalog, max_problems: int = 200) -> dict:
    """Summary of a parsed catalog (what `catalog-writer inspect` prints)."""
    n = len(cat.products)
    attrs = Counter(k for p in cat.products for k, v in p.attributes.items() if v)
    opts = Counter(k for p in cat.products for k, v in p.options.items() if v)
    cover = lambda c: {k: round(v / n, 3) for k, v in c.most_common()}
    return {
        "file": str(cat.path),
        "format": cat.format,
        "encoding": cat.encoding,
        "delimiter": cat.delimiter,
        "rows": len(cat.table),
        "columns": len(cat.header),
        "products": n,
        "with_description": sum(has_reference(p) for p in cat.products),
        "usable_words": USABLE_WORDS,
        "duplicates": cat.duplicates,
        "empty_titles": sum(not p.title for p in cat.products),
        "description_column": cat.description_column,
        "attributes": cover(attrs) if n else {},
        "options": cover(opts) if n else {},
        "problems": [
            {"row": p.row, "column": p.column, "message": p.message, "kind": p.kind}
            for p in cat.problems[:max_problems]
        ],
        "problems_total": len(cat.problems),
    }


def print_report(report: dict) -> None:
    """Human-readable report with rich."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title=f"Catalog {report['file']}", show_header=False)
    delim = {"\t": "tab"}.get(report["delimiter"], report["delimiter"])
    for label, value in [
        ("format", report["format"]), ("encoding / delimiter", f"{report['encoding']} / {delim}"),
        ("rows read", report["rows"]), ("products", report["products"]),
        (f"with a usable description (>= {report['usable_words']} words)", report["with_description"]),
        ("duplicates (counted once)", report["duplicates"]), ("empty titles", report["empty_titles"]),
        ("description column", report["description_column"] or "-"),
    ]:
        summary.add_row(label, str(value))
    console.print(summary)
    for key, title in (("attributes", "Attributes"), ("options", "Variant options")):
        if report[key]:
            t = Table(title=f"{title} (coverage of products)")
            t.add_column("name")
            t.add_column("coverage", justify="right")
            for name, cov in list(report[key].items())[:30]:
                t.add_row(name, f"{cov:.0%}")
            console.print(t)
    problems = report["problems"]
    if problems:
        t = Table(title=f"Problems ({report['problems_total']})")
        for col in ("row", "column", "kind", "message"):
            t.add_column(col)
        for p in problems[:40]:
            t.add_row(str(p["row"] or "-"), p["column"] or "-", p["kind"], p["message"])
        console.print(t)
        if report["problems_total"] > 40:
            console.print(f"... and {report['problems_total'] - 40} more (use --json for the list)")
    else:
        console.print("No problems found.")
