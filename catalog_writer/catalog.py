"""Catalog files (Shopify, WooCommerce, Magento 2, Google Merchant, generic) -> normalised Products.

INTERFACE FROZEN BY THE LEAD: the dataclasses below are used by every other module. Add fields only
with defaults; do not rename. Parsing lives in catalog_writer/formats/ (one module per platform).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

FORMATS = ("shopify", "woocommerce", "magento", "merchant", "generic")


@dataclass
class Product:
    """One sellable product after normalisation (variants folded in)."""

    id: str
    """Stable key: Shopify Handle, WooCommerce ID/SKU, Magento sku, Merchant item_group_id or id."""
    title: str
    brand: str = ""
    """Vendor / brand, empty when the catalog has none."""
    category: list[str] = field(default_factory=list)
    """Category path from the root, e.g. ["Men", "Tops", "Jackets"]."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Attribute name -> value (material, fit, metafields...). Names are human-readable, values plain text."""
    options: dict[str, list[str]] = field(default_factory=dict)
    """Variant option name -> distinct values in catalog order, e.g. {"Size": ["S", "M"], "Color": ["Red"]}."""
    price: str | None = None
    description: str = ""
    """Reference description as plain text (lists kept as one item per line)."""
    description_html: str = ""
    """The description cell exactly as the catalog had it."""
    rows: list[int] = field(default_factory=list)
    """1-based source row numbers (header is row 1) of every row folded into this product."""
    main_row: int = 0
    """Row index (0-based, into Catalog.table) of the row whose description cell belongs to this product."""
    group: str = ""
    """Grouping key for splits: products sharing a group never straddle train and test."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Product":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Problem:
    """Something wrong with the input that did not stop parsing."""

    message: str
    row: int | None = None
    column: str | None = None
    kind: str = "warning"


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
