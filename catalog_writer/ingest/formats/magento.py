"""Magento 2 product import/export CSV (and Magento's sample-data fixture CSVs).

- `additional_attributes` is `code=value,code=value` with `|` between multiple values; codes become
  readable names (`performance_fabric` -> `Performance fabric`); Magento's internal flags
  (has_options...) and Yes/No flags set to `No` are left out.
- A configurable product's children (listed in its `configurable_variations`
  `sku=..,size=XS,color=Black|sku=..`) are folded into it: their sizes/colours become options, their rows
  join the product's rows. They are not separate products. Rows with a `store_view_code` are
  store-view overrides of a product, not products.
- `categories` `Default Category/Men/Tops,Default Category/Collections` -> the first path, without the
  root category.
- Sample-data fixtures (`category,name,sku,price,description,<attribute columns>...`, no product_type):
  one product per row, every other filled column an attribute, newline-separated values joined.
"""

from __future__ import annotations

from catalog_writer.core.product import Problem
from catalog_writer.ingest.formats import Columns, Parsed, add_value, blank, cell, make_product, norm, require
from catalog_writer.ingest.formats.reading import RawTable

INTERNAL = {"has_options", "required_options", "quantity_and_stock_status", "tax_class_id", "gift_wrapping_available",
            "options_container", "msrp_display_actual_price_type", "url_path", "custom_layout", "page_layout"}
ROOTS = {"default category", "root catalog"}
FIXTURE_SKIP = {"category", "name", "sku", "price", "qty", "description", "short_description", "special_price",
                "attribute_set", "url_key", "visibility", "weight", "image", "small_image", "thumbnail"}


def label(code: str) -> str:
    return code.replace("_", " ").strip().capitalize()


def parse_pairs(value: str, sep: str = ",") -> dict[str, str]:
    """'a=1,b=x|y' -> {'a': '1', 'b': 'x|y'}; a value without '=' continues the previous one (a comma)."""
    out: dict[str, str] = {}
    last = None
    for part in value.split(sep):
        key, eq, val = part.partition("=")
        if eq and key.strip():
            last = key.strip()
            out[last] = val.strip()
        elif last is not None and part.strip():
            out[last] += sep + part
    return out


def parse(table: RawTable, mapping: dict | None = None) -> Parsed:
    c = Columns(table.header)
    require(c, "Magento", ("sku",), ("name",))
    if not c.has("product_type"):
        return _parse_fixture(table, c)
    problems: list[Problem] = []
    rows = table.rows
    index = {}
    for i, r in enumerate(rows):
        if not blank(r) and not c.get(r, "store_view_code"):
            index.setdefault(c.get(r, "sku"), i)
    variations: dict[int, list[dict[str, str]]] = {}
    child_of: dict[str, int] = {}
    for i, r in enumerate(rows):
        if c.get(r, "product_type") == "configurable" and not c.get(r, "store_view_code"):
            vs = [parse_pairs(v) for v in c.get(r, "configurable_variations").split("|") if v.strip()]
            variations[i] = vs
            for v in vs:
                child_of.setdefault(v.get("sku", ""), i)
    extra_rows: dict[int, list[int]] = {}
    skipped: set[int] = set()
    for i, r in enumerate(rows):
        if blank(r):
            continue
        sku = c.get(r, "sku")
        owner = child_of.get(sku) if i not in variations else None
        if owner is None and c.get(r, "store_view_code"):
            owner = index.get(sku)
            if owner is None:
                problems.append(Problem(f"store-view row for unknown sku {sku!r}: ignored", row=i + 2,
                                        column="sku"))
                skipped.add(i)
                continue
        if owner is not None:
            extra_rows.setdefault(owner, []).append(i)

    folded = skipped | {i for v in extra_rows.values() for i in v}
    products = []
    for i, r in enumerate(rows):
        if blank(r) or i in folded:
            continue
        attrs = _additional(c.get(r, "additional_attributes"))
        options: dict[str, list[str]] = {}
        labels = parse_pairs(c.get(r, "configurable_variation_labels"))
        for v in variations.get(i, []):
            for code, value in v.items():
                if code != "sku":
                    add_value(options.setdefault(labels.get(code) or label(code), []), value)
        for code in {k for v in variations.get(i, []) for k in v}:
            attrs.pop(label(code), None)
        missing = [v["sku"] for v in variations.get(i, []) if v.get("sku") and v["sku"] not in index]
        if missing and index:
            problems.append(Problem(f"{len(missing)} variation(s) not in this file, e.g. {missing[0]!r}",
                                    row=i + 2, column="configurable_variations", kind="info"))
        if country := c.get(r, "country_of_manufacture"):
            attrs["Country of manufacture"] = country
        brand = attrs.pop("Brand", "") or attrs.pop("Manufacturer", "")
        products.append(make_product(
            c.get(r, "sku"), c.get(r, "name"), c.get(r, "description"), brand=brand,
            category=categories(c.get(r, "categories")), attributes=attrs, options=options,
            price=c.get(r, "price") or None,
            rows=sorted([i + 2] + [k + 2 for k in extra_rows.get(i, [])]), main_row=i,
        ))
    return Parsed(products, c.name("description") or "description", problems)


def categories(value: str) -> list[str]:
    """First category path without the root ('Default Category')."""
    for path in value.split(","):
        parts = [p.strip() for p in path.split("/") if p.strip()]
        if parts and parts[0].lower() in ROOTS:
            parts = parts[1:]
        if parts:
            return parts
    return []


def _additional(value: str) -> dict[str, str]:
    out = {}
    for code, val in parse_pairs(value).items():
        if code in INTERNAL or not val or val.lower() == "no":
            continue
        out[label(code)] = ", ".join(v.strip() for v in val.split("|") if v.strip())
    return out


def _parse_fixture(table: RawTable, c: Columns) -> Parsed:
    """Magento sample-data fixture CSV: one simple product per row, attribute columns."""
    attr_cols = [(i, label(h.strip())) for i, h in enumerate(table.header) if norm(h) not in FIXTURE_SKIP]
    products = []
    for i, r in enumerate(table.rows):
        if blank(r):
            continue
        attrs = {}
        for col, name in attr_cols:
            value = cell(r, col)
            if value and value.lower() not in ("no", "0"):
                joined = ", ".join(v.strip() for v in value.splitlines() if v.strip())
                attrs[name] = "Yes" if joined == "1" else joined
        products.append(make_product(
            c.get(r, "sku"), c.get(r, "name"), c.get(r, "description"),
            category=[p.strip() for p in c.get(r, "category").splitlines() if p.strip()],
            attributes=attrs, price=c.get(r, "price") or None, rows=[i + 2], main_row=i,
        ))
    return Parsed(products, c.name("description") or "description", [])
