"""Shopify product CSV (old and new header names).

One product spans several rows (variants, extra images) sharing a Handle (`URL handle` in newer
exports); the row carrying the Title holds the description (`Body (HTML)`, newer: `Description`).
Options: `Option1 Name`/`Option1 Value` (newer: `Option1 name`/`Option1 value`); Shopify's placeholder
option `Title = Default Title` is dropped. Metafield columns `Fabric (product.metafields.custom.fabric)`
become attribute `Fabric`; Type and Tags become attributes; `Product Category` (`A > B > C`) is the
category path, falling back to Type.
"""

from __future__ import annotations

import re

from catalog_writer.core.product import Problem
from catalog_writer.ingest.formats import Columns, Parsed, add_value, blank, cell, make_product, require, split_path
from catalog_writer.ingest.formats.reading import RawTable

_METAFIELD = re.compile(r"^(.+?)\s*\(\s*product\.metafields\.[^)]*\)\s*$", re.IGNORECASE)
_GOOGLE = {"google shopping / gender": "Gender", "google shopping / age group": "Age group",
           "google shopping / condition": "Condition"}


def parse(table: RawTable, mapping: dict | None = None) -> Parsed:
    c = Columns(table.header)
    require(c, "Shopify", ("handle", "url handle"), ("title",))
    handle_i = c.find("handle", "url handle")
    groups: dict[str, list[int]] = {}
    problems: list[Problem] = []
    for i, row in enumerate(table.rows):
        if blank(row):
            continue
        handle = cell(row, handle_i)
        if not handle:
            problems.append(Problem("row without a Handle: not part of any product", row=i + 2,
                                    column=c.name("handle", "url handle")))
            continue
        groups.setdefault(handle, []).append(i)

    extra_attrs = [(i, m.group(1).strip()) for i, h in enumerate(table.header) if (m := _METAFIELD.match(h))]
    extra_attrs += [(c.index[k], label) for k, label in _GOOGLE.items() if k in c.index]
    products = []
    for handle, idxs in groups.items():
        rows = [table.rows[i] for i in idxs]
        main = next((i for i in idxs if c.get(table.rows[i], "title")), idxs[0])
        r = table.rows[main]
        if not c.get(r, "title"):
            problems.append(Problem(f"product {handle!r} has no row with a Title", row=main + 2, column="Title"))
        attributes: dict[str, str] = {}
        ptype = c.get(r, "type")
        if ptype:
            attributes["Type"] = ptype
        if tags := c.get(r, "tags"):
            attributes["Tags"] = tags
        for col, label in extra_attrs:
            value = next((v for row in rows if (v := cell(row, col))), "")
            if value:
                attributes[label] = _list_value(value)
        products.append(make_product(
            handle, c.get(r, "title"), c.get(r, "body (html)", "description"),
            brand=c.get(r, "vendor"),
            category=split_path(c.get(r, "product category"), (">",)) or ([ptype] if ptype else []),
            attributes=attributes, options=_options(c, rows),
            price=next((v for row in rows if (v := c.get(row, "variant price", "price"))), None),
            rows=[i + 2 for i in idxs], main_row=main,
        ))
    return Parsed(products, c.name("body (html)", "description") or "Body (HTML)", problems)


def _options(c: Columns, rows: list[list[str]]) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    for n in (1, 2, 3):
        name = next((v for row in rows if (v := c.get(row, f"option{n} name"))), "")
        if not name:
            continue
        values: list[str] = []
        for row in rows:
            add_value(values, c.get(row, f"option{n} value"))
        if values and not (name == "Title" and values == ["Default Title"]):
            options[name] = values
    return options


def _list_value(value: str) -> str:
    """List metafields export as `["a","b"]` or `a; b`: show them as 'a, b'."""
    if value.startswith("[") and value.endswith("]"):
        import json

        try:
            items = json.loads(value)
            if isinstance(items, list):
                return ", ".join(str(x) for x in items)
        except ValueError:
            pass
    return value
