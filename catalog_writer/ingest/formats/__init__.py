"""One parser per catalog format, plus format detection from the header.

Every parser module has `parse(table: RawTable, mapping: dict | None) -> Parsed`. Shared helpers here:
case-insensitive column lookup (old and new header names), path splitting, multi-value joining.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import import_module

from catalog_writer.core.product import Problem, Product
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.ingest.formats.text import html_to_text
from catalog_writer.core.fileio import unescape_formula

_SPACES = re.compile(r"\s+")


@dataclass
class Parsed:
    products: list[Product]
    description_column: str
    problems: list[Problem] = field(default_factory=list)


def norm(name: str) -> str:
    """Header name -> lookup key: no BOM, lower case, single spaces."""
    return _SPACES.sub(" ", name.replace("\ufeff", "").strip()).lower()


class Columns:
    """Find columns by any of several names (case-insensitive), read cells safely from ragged rows."""

    def __init__(self, header: list[str], strip_prefix: str = "") -> None:
        self.header = header
        self.index: dict[str, int] = {}
        for i, name in enumerate(header):
            key = norm(name)
            if strip_prefix and key.startswith(strip_prefix):
                key = key[len(strip_prefix):]
            self.index.setdefault(key, i)

    def find(self, *names: str) -> int | None:
        for n in names:
            if n in self.index:
                return self.index[n]
        return None

    def has(self, *names: str) -> bool:
        return self.find(*names) is not None

    def name(self, *names: str) -> str:
        i = self.find(*names)
        return self.header[i] if i is not None else ""

    def get(self, row: list[str], *names: str) -> str:
        i = self.find(*names)
        return cell(row, i)


def cell(row: list[str], i: int | None) -> str:
    """Stripped cell value, '' for a missing column or a short row; strips our own formula escape."""
    if i is None or i >= len(row):
        return ""
    return unescape_formula(row[i]).strip()


def blank(row: list[str]) -> bool:
    return not any(c.strip() for c in row)


def split_path(value: str, seps: tuple[str, ...] = (">", "/")) -> list[str]:
    """'A > B > C' or 'A/B/C' -> ['A', 'B', 'C'] (first separator present wins)."""
    value = value.strip()
    if not value:
        return []
    for sep in seps:
        if sep in value:
            return [p.strip() for p in value.split(sep) if p.strip()]
    return [value]


def add_value(values: list[str], value: str) -> None:
    """Append a distinct, non-empty value keeping catalog order."""
    value = value.strip()
    if value and value not in values:
        values.append(value)


def make_product(pid: str, title: str, description_html: str, **kw) -> Product:
    """Product with the plain-text reference derived from the description cell."""
    title = html_to_text(title) if "<" in title or "&" in title else title
    return Product(id=pid, title=_SPACES.sub(" ", title).strip(), description_html=description_html,
                   description=html_to_text(description_html), group=kw.pop("group", pid), **kw)


DETECT_ORDER = ("shopify", "woocommerce", "magento", "merchant")
FORMATS = (*DETECT_ORDER, "generic")
"""Every format name a user may pass to --format."""


def detect(header: list[str]) -> str:
    """Platform from the header columns; 'generic' when none fits."""
    cols = {norm(h).removeprefix("g:") for h in header}
    if cols & {"handle", "url handle"} and cols & {"title", "body (html)", "option1 name", "vendor"}:
        return "shopify"
    if "name" in cols and "type" in cols and cols & {
        "regular price", "parent", "short description", "is featured?", "visibility in catalog"
    }:
        return "woocommerce"
    if "sku" in cols and "name" in cols and (
        cols & {"product_type", "additional_attributes", "attribute_set_code", "configurable_variations"}
        or {"description", "attribute_set"} <= cols
    ):
        return "magento"
    if "id" in cols and "title" in cols and cols & {
        "link", "image_link", "availability", "item_group_id", "google_product_category", "condition"
    }:
        return "merchant"
    return "generic"


def parse(fmt: str, table, mapping: dict[str, str] | None) -> Parsed:
    if fmt not in ("shopify", "woocommerce", "magento", "merchant", "generic"):
        raise CatalogWriterError(f"unknown format {fmt!r}: use shopify, woocommerce, magento, merchant or generic")
    module = import_module(f"catalog_writer.ingest.formats.{fmt}")
    return module.parse(table, mapping)


def require(cols: Columns, fmt: str, *alternatives: tuple[str, ...]) -> None:
    """Raise when a format's required column (any of its alternative names) is missing."""
    for names in alternatives:
        if not cols.has(*names):
            shown = " or ".join(repr(n) for n in names)
            raise CatalogWriterError(f"not a {fmt} file: no {shown} column", row=1)
