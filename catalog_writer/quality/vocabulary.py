"""Curated word lists for the faithfulness checks: materials, colours, sizes, units.

Only words that are claims about a product when they appear in its description. Ambiguous words are
left out on purpose ("down" is a direction, "felt" a verb, "jersey" a shirt, "orange" a fruit in a
food catalog), because a false "unsupported claim" costs a merchandiser more time than a missed one.
All entries are lower case single words; British spellings map to one canonical form via SYNONYMS.
"""

from __future__ import annotations


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


MATERIALS = _wordset("""
acetate acrylic alpaca aluminium aluminum angora bamboo beech birch brass bronze canvas cashmere
ceramic chiffon concrete copper cork corduroy cotton denim elastane fleece flannel gabardine glass
goatskin granite hemp jute lambskin latex leather linen lycra lyocell marble merino mesh microfiber
microfibre modal mohair neoprene nubuck nylon oak organza pewter pine plastic plywood polyamide
polycarbonate polyester polypropylene polyurethane porcelain pvc rattan rayon resin rubber sateen
satin sheepskin shearling silicone silk spandex steel stoneware suede taffeta teak tencel terracotta
titanium tweed twill velour velvet viscose walnut wicker wood wool zinc
""")

COLOURS = _wordset("""
amber aqua azure beige black blue bronze brown burgundy camel charcoal chocolate cobalt coral cream
crimson cyan emerald fuchsia gold gray green indigo ivory khaki lavender lilac magenta maroon
mauve mustard navy ochre pink plum purple red rust scarlet silver taupe teal turquoise violet white
yellow
""")

# Letter sizes are matched case-sensitively on the original text: "M" is a size, "m" a metre.
LETTER_SIZES = ("XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "2XL", "3XL", "4XL", "5XL")
SIZE_PHRASES = ("one size", "one-size", "plus size", "plus-size", "petite", "oversized")

# Spelling variants and brand names -> one canonical word, applied to both text and facts.
SYNONYMS = {
    "grey": "gray", "colour": "color", "aluminium": "aluminum", "microfibre": "microfiber",
    "elastane": "spandex", "lycra": "spandex", "polyamide": "nylon", "tencel": "lyocell",
    "fibre": "fiber",
}

# A specific material/shade in the facts also supports its family word in the text
# ("Merino" supports "wool"; "Navy" supports "blue").
FAMILY = {
    "merino": "wool", "cashmere": "wool", "lambskin": "leather", "goatskin": "leather",
    "sheepskin": "leather", "nubuck": "leather", "suede": "leather", "denim": "cotton",
    "navy": "blue", "cobalt": "blue", "azure": "blue", "indigo": "blue", "turquoise": "blue",
    "charcoal": "gray", "burgundy": "red", "crimson": "red", "scarlet": "red", "maroon": "red",
    "ivory": "white", "cream": "white", "beige": "brown", "camel": "brown", "khaki": "brown",
    "taupe": "brown", "chocolate": "brown", "emerald": "green", "teal": "green", "lilac": "purple",
    "lavender": "purple", "violet": "purple", "plum": "purple", "mauve": "purple", "fuchsia": "pink",
    "magenta": "pink", "coral": "pink", "mustard": "yellow", "ochre": "yellow", "amber": "yellow",
}

# Units after a number. Longer alternatives first so the regex prefers "mm" over "m".
UNITS = (
    "millimetres", "millimeters", "centimetres", "centimeters", "kilograms", "milliliters",
    "millilitres", "inches", "metres", "meters", "litres", "liters", "pounds", "ounces", "grams",
    "hours", "watts", "inch", "metre", "meter", "litre", "liter", "pound", "ounce", "gram", "hour",
    "years", "year", "days", "day", "pieces", "pcs", "pack", "mah", "kg", "mm", "cm", "ml", "oz",
    "lbs", "lb", "gb", "tb", "mb", "ghz", "mhz", "hz", "kw", "in", "ft", "m", "g", "l", "w", "v", "h",
    "gsm", "denier", "%",
)
