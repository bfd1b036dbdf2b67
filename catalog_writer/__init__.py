"""catalog-writer: product descriptions in a brand's own voice."""

__version__ = "0.1.0"
