"""WooCommerce product CSV (built-in exporter / importer columns).

Rows with Type `variation` are folded into their parent (`Parent` = `id:N` or the parent's SKU). For a
variable product, attributes that its variations set (`Attribute N name` / `Attribute N value(s)`)
become variant options; the other attributes become attributes. `Categories` is `A > B, C` (the first
path is the category). The exporter writes newlines inside descriptions as a literal `\\n`; it is
decoded here and written back the same way. Brand: a `Brands`/`Brand` column or a `Brand` attribute.
"""

from __future__ import annotations

import re

from catalog_writer.core.product import Problem
from catalog_writer.ingest.formats import Columns, Parsed, add_value, blank, cell, make_product, require, split_path
from catalog_writer.ingest.formats.reading import RawTable

_ATTR = re.compile(r"^attribute (\d+) name$")
_LITERAL_NL = re.compile(r"(?<!\\)\\n")
_CATEGORY_SPLIT = re.compile(r"(?<!\\),")


def decode_newlines(text: str) -> str:
    r"""Undo the exporter's escaping: literal \n -> newline, \\n -> literal \n."""
    return _LITERAL_NL.sub("\n", text).replace("\\\\n", "\\n")


def parse(table: RawTable, mapping: dict | None = None) -> Parsed:
    c = Columns(table.header)
    require(c, "WooCommerce", ("name",), ("type",))
    attr_cols = sorted(
        (int(m.group(1)), c.index[k], c.find(f"attribute {m.group(1)} value(s)", f"attribute {m.group(1)} values"))
        for k in c.index if (m := _ATTR.match(k))
    )
    problems: list[Problem] = []
    parents: list[int] = []
    children: dict[int, list[int]] = {}
    by_key: dict[str, int] = {}
    for i, row in enumerate(table.rows):
        if blank(row) or "variation" in _types(c.get(row, "type")):
            continue
        parents.append(i)
        if pid := c.get(row, "id"):
            by_key[f"id:{pid}"] = i
        if sku := c.get(row, "sku"):
            by_key.setdefault(sku, i)
    for i, row in enumerate(table.rows):
        if blank(row) or "variation" not in _types(c.get(row, "type")):
            continue
        ref = c.get(row, "parent")
        parent = by_key.get(ref, by_key.get(f"id:{ref}"))
        if parent is None:
            problems.append(Problem(f"variation's parent {ref!r} not found: row ignored", row=i + 2, column="Parent"))
            continue
        children.setdefault(parent, []).append(i)

    products = []
    for i in parents:
        r = table.rows[i]
        kids = [table.rows[k] for k in children.get(i, [])]
        parent_attrs = _attributes(r, attr_cols)
        option_names = {name for k in kids for name in _attributes(k, attr_cols)}
        options: dict[str, list[str]] = {}
        attributes: dict[str, str] = {}
        for name, value in parent_attrs.items():
            if name in option_names:
                options[name] = [v.strip() for v in value.split(",") if v.strip()]
            else:
                attributes[name] = value
        for k in kids:
            for name, value in _attributes(k, attr_cols).items():
                add_value(options.setdefault(name, []), value)
        brand = c.get(r, "brands", "brand") or attributes.pop("Brand", "") or attributes.pop("brand", "")
        if tags := c.get(r, "tags"):
            attributes["Tags"] = tags
        cats = [p for p in _CATEGORY_SPLIT.split(c.get(r, "categories")) if p.strip()]
        price = c.get(r, "regular price", "sale price") or next(
            (v for k in kids if (v := c.get(k, "regular price", "sale price"))), None)
        pid = c.get(r, "id") or c.get(r, "sku") or f"row-{i + 2}"
        products.append(make_product(
            pid, c.get(r, "name"), decode_newlines(c.get(r, "description")), brand=brand,
            category=split_path(cats[0].replace("\\,", ","), (">",)) if cats else [],
            attributes=attributes, options=options, price=price,
            rows=sorted([i + 2] + [k + 2 for k in children.get(i, [])]), main_row=i,
        ))
    return Parsed(products, c.name("description") or "Description", problems)


def _types(value: str) -> set[str]:
    return {t.strip().lower() for t in value.split(",")}


def _attributes(row: list[str], attr_cols) -> dict[str, str]:
    out = {}
    for _, name_i, value_i in attr_cols:
        name, value = cell(row, name_i), cell(row, value_i)
        if name and value:
            out[name] = value
    return out
