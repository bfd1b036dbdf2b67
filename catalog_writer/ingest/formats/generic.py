"""Any CSV/TSV/XLSX table, with a column mapping.

Mapping (from `--map FIELD=COLUMN` items or a YAML file, see data/column-map.example.yaml):

    id, title, description, brand, category, price, group   one column each
    attr:NAME=COLUMN      attribute NAME read from COLUMN   (YAML: `attributes: {NAME: COLUMN}` or a list
                                                            of columns, named after themselves)
    option:NAME=COLUMN    variant option NAME: rows sharing an id are one product, their values collected
                          (YAML: `options:` like attributes)

Fields left unmapped are guessed from common header names (Title/Name/Product name, Description/Body/
Copy, SKU/ID/Handle, Brand/Vendor, Category, Price). Without any attr:/option: entries every other
column (except images, links, stock and the like) becomes an attribute. Category paths split on `>`
or `/`. A table without a title column is an error that says how to map one.
"""

from __future__ import annotations

import re

from catalog_writer.core.product import Problem
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.ingest.formats import Columns, Parsed, add_value, blank, cell, make_product, norm, split_path
from catalog_writer.ingest.formats.reading import RawTable

GUESSES = {
    "title": ("title", "name", "product name", "product title", "product", "item name", "titel"),
    "description": ("description", "body (html)", "body", "body html", "long description",
                    "product description", "copy", "description html", "beschreibung"),
    "id": ("id", "sku", "handle", "product id", "item id", "article", "article number", "code"),
    "brand": ("brand", "vendor", "manufacturer", "maker", "marke"),
    "category": ("category", "categories", "section", "product type", "product_type", "type", "kategorie"),
    "price": ("price", "regular price", "sale price", "preis"),
    "group": ("group", "item_group_id", "parent", "parent sku"),
}
NOT_ATTRIBUTES = re.compile(r"image|img|photo|picture|url|link|stock|qty|quantity|inventory|weight|barcode|gtin|ean|"
                            r"upc|status|published|date|created|updated|seo|meta|tax|cost|position|visib", re.IGNORECASE)


def parse(table: RawTable, mapping: dict[str, str] | None = None) -> Parsed:
    c = Columns(table.header)
    mapping = dict(mapping or {})
    cols: dict[str, int | None] = {}
    for key, column in mapping.items():
        i = c.find(norm(column))
        if i is None:
            shown = ", ".join(repr(h) for h in table.header[:12]) + (" ..." if len(table.header) > 12 else "")
            raise CatalogWriterError(f"--map {key}={column}: no such column (columns: {shown})", row=1,
                                     column=column)
        cols[key] = i
    for fld, names in GUESSES.items():
        if fld not in cols:
            cols[fld] = c.find(*names)
    if cols["title"] is None:
        raise CatalogWriterError(
            "no title column found (looked for Title, Name, Product name...): pass --map title=COLUMN",
            row=1,
        )
    attr_cols = {k[5:]: i for k, i in cols.items() if k.startswith("attr:")}
    option_cols = {k[7:]: i for k, i in cols.items() if k.startswith("option:")}
    if not attr_cols and not option_cols:
        used = {i for i in cols.values() if i is not None}
        attr_cols = {h.strip(): i for i, h in enumerate(table.header)
                     if i not in used and h.strip() and not NOT_ATTRIBUTES.search(h)}

    key_col = cols["id"] if option_cols else None  # rows fold into one product only with options mapped
    groups: dict[str, list[int]] = {}
    problems: list[Problem] = []
    for i, r in enumerate(table.rows):
        if blank(r):
            continue
        key = cell(r, key_col) if key_col is not None else ""
        groups.setdefault(key or f"\0{i}", []).append(i)

    products, seen_ids = [], set()
    for key, idxs in groups.items():
        r = table.rows[idxs[0]]
        pid = cell(r, cols["id"]) or f"row-{idxs[0] + 2}"
        if pid in seen_ids:
            problems.append(Problem(f"id {pid!r} used by an earlier row; made unique", row=idxs[0] + 2))
            pid = f"{pid}@row-{idxs[0] + 2}"
        seen_ids.add(pid)
        attributes = {name: v for name, i in attr_cols.items()
                      if (v := cell(r, i)) and not v.startswith(("http://", "https://"))}
        options: dict[str, list[str]] = {}
        for name, i in option_cols.items():
            for k in idxs:
                add_value(options.setdefault(name, []), cell(table.rows[k], i))
            if not options[name]:
                del options[name]
        products.append(make_product(
            pid, cell(r, cols["title"]), cell(r, cols["description"]), brand=cell(r, cols["brand"]),
            category=split_path(cell(r, cols["category"])), attributes=attributes, options=options,
            price=cell(r, cols["price"]) or None, rows=[k + 2 for k in idxs], main_row=idxs[0],
            group=cell(r, cols["group"]) or pid,
        ))
    desc = table.header[cols["description"]] if cols["description"] is not None else "description"
    return Parsed(products, desc, problems)
