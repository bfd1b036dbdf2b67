"""Google Merchant Center product feed (TSV or CSV; `g:` prefixes accepted).

Items sharing an `item_group_id` are one product (id = the group id); its first item's row holds the
reference description. Within a group, color and size (and material/pattern when they differ between
items) are variant options; otherwise color/size/material/pattern/gender/age_group are attributes.
`product_detail` (`Section:Name:Value`) adds attribute `Name`; `product_highlight` values (repeatable
columns) become attribute `Highlights`. Category: `product_type` (`A > B`), else a textual
`google_product_category`.
"""

from __future__ import annotations

from catalog_writer.core.product import Problem
from catalog_writer.ingest.formats import (
    Columns,
    Parsed,
    add_value,
    blank,
    cell,
    make_product,
    norm,
    require,
    split_path,
)
from catalog_writer.ingest.formats.reading import RawTable

AXES = {"color": "Color", "size": "Size", "material": "Material", "pattern": "Pattern"}
PLAIN = {"gender": "Gender", "age_group": "Age group", "condition": "Condition", "size_type": "Size type"}


def parse(table: RawTable, mapping: dict | None = None) -> Parsed:
    c = Columns(table.header, strip_prefix="g:")
    require(c, "Google Merchant", ("id",), ("title",))
    details = _all(table.header, "product_detail")
    highlights = _all(table.header, "product_highlight")
    groups: dict[str, list[int]] = {}
    problems: list[Problem] = []
    for i, r in enumerate(table.rows):
        if blank(r):
            continue
        key = c.get(r, "item_group_id") or c.get(r, "id")
        if not key:
            problems.append(Problem("item without an id: skipped", row=i + 2, column="id"))
            continue
        groups.setdefault(key, []).append(i)

    products = []
    for key, idxs in groups.items():
        rows = [table.rows[i] for i in idxs]
        r = rows[0]
        grouped = bool(c.get(r, "item_group_id"))
        attributes: dict[str, str] = {}
        options: dict[str, list[str]] = {}
        for code, name in AXES.items():
            values: list[str] = []
            for row in rows:
                add_value(values, c.get(row, code))
            if values and grouped and (code in ("color", "size") or len(values) > 1):
                options[name] = values
            elif values:
                attributes[name] = ", ".join(values)
        for code, name in PLAIN.items():
            if value := c.get(r, code):
                attributes[name] = value
        for col in details:
            for name, value in _details(cell(r, col)):
                attributes[name] = value
        hl = [v for col in highlights if (v := cell(r, col))]
        if hl:
            attributes["Highlights"] = "; ".join(hl)
        gpc = c.get(r, "google_product_category")
        category = split_path(c.get(r, "product_type"), (">",)) or (
            split_path(gpc, (">",)) if gpc and not gpc.isdigit() else [])
        products.append(make_product(
            key, c.get(r, "title"), c.get(r, "description"), brand=c.get(r, "brand"), category=category,
            attributes=attributes, options=options, price=c.get(r, "price") or None,
            rows=[i + 2 for i in idxs], main_row=idxs[0],
        ))
    return Parsed(products, c.name("description") or "description", problems)


def _all(header: list[str], name: str) -> list[int]:
    return [i for i, h in enumerate(header) if norm(h).removeprefix("g:") == name]


def _details(value: str) -> list[tuple[str, str]]:
    """'General:Fabric:Cotton' (several separated by commas) -> [('Fabric', 'Cotton')]."""
    parts = [value] if value.count(":") <= 2 else value.split(",")
    out = []
    for part in parts:
        bits = [b.strip() for b in part.split(":")]
        if len(bits) >= 3 and bits[1] and bits[2]:
            out.append((bits[1], ":".join(bits[2:])))
        elif len(bits) == 2 and bits[0] and bits[1]:
            out.append((bits[0], bits[1]))
    return out
