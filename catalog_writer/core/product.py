"""The normalised product every stage passes along, and the input problems found while reading.

Add fields only with defaults; do not rename (adapters and journals store these as dicts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
    def from_dict(cls, d: dict) -> Product:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class Problem:
    """Something wrong with the input that did not stop parsing."""

    message: str
    row: int | None = None
    column: str | None = None
    kind: str = "warning"


USABLE_WORDS = 8
"""A reference description is usable for training when its plain text has at least this many words."""


def has_reference(product: Product) -> bool:
    """True when the product's reference description is long enough to learn from."""
    return len(product.description.split()) >= USABLE_WORDS
