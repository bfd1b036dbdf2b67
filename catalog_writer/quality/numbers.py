"""Numbers as claims: digits with units ("350 g", "1,000 mAh") and number words ("forty hours").

Number words are parsed with `text2num` (maintained, handles "twenty-five" and "a hundred"). A lone "one"
is a pronoun far more often than a quantity ("one of a kind", "the one you reach for"), so it is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from catalog_writer.quality.text import norm_number
from catalog_writer.quality.vocabulary import UNIT_NAMES, UNITS

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?"
_UNIT = "|".join(re.escape(u) for u in UNITS)
NUMBER_CLAIM = re.compile(rf"(?<![\w.,])({_NUM})(?:\s*({_UNIT}))?(?![\w])", re.IGNORECASE)

_UNITS_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                "sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("hundred", "thousand", "million")
_WORD = "|".join(_TENS + _UNITS_WORDS[::-1] + list(_SCALES))
_UNIT_WORDS = (r"hours?|days?|weeks?|months?|years?|minutes?|seconds?|washes|wears|pieces|pairs?|layers?|"
               r"pockets?|colou?rs?|shades|sizes?|times|litres?|liters?|metres?|meters?|inches|feet|grams?|"
               r"kilos?|kilograms?|ounces?|pounds?|millilitres?|centimetres?|cm|mm|ml|g|kg")
NUMBER_WORDS = re.compile(
    rf"\b(?:a\s+)?((?:{_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_WORD}))*)\b(?:\s+({_UNIT_WORDS})\b)?", re.IGNORECASE)


def parse_number_words(text: str) -> int | None:
    """"forty" -> 40, "twenty-five" -> 25, "a hundred" -> 100; None when it is not a number."""
    from text_to_num import text2num

    try:
        return int(text2num(text.lower().replace("-", " "), "en"))
    except (ValueError, TypeError):
        return None


def number_word_claims(text: str) -> Iterator[tuple[int, int, str, str | None]]:
    """(start, end, normalised number, unit name) for every spelt-out number except a lone "one"."""
    for m in NUMBER_WORDS.finditer(text):
        phrase = m.group(1)
        if phrase.lower() in ("one", "zero") and not m.group(2):
            continue
        if re.search(r"\bno\s+$", text[: m.start(1)], re.IGNORECASE):
            continue  # "no two are the same" is an idiom, not a count
        value = parse_number_words(phrase)
        if value is not None:
            yield m.start(1), m.end(), str(value), unit_name(m.group(2))


_UNIT_OF = {alias: name for name, aliases in UNIT_NAMES.items() for alias in (name, *aliases)}


def unit_name(unit: str | None) -> str | None:
    """One name per unit ("Hours" -> "h", "centimetres" -> "cm"); None for no unit."""
    if not unit:
        return None
    u = unit.lower()
    return _UNIT_OF.get(u) or _UNIT_OF.get(u.rstrip("s")) or (u[:-1] if len(u) > 3 and u.endswith("s") else u)


def quantities(text: str) -> set[tuple[str, str | None]]:
    """Every (number, unit name) a text states, digits and words: "40°C" -> ("40", "°c")."""
    from catalog_writer.quality.text import norm_number as norm

    out = {(norm(m.group(1)), unit_name(m.group(2))) for m in NUMBER_CLAIM.finditer(text)}
    for m in NUMBER_WORDS.finditer(text):
        if (value := parse_number_words(m.group(1))) is not None:
            out.add((str(value), unit_name(m.group(2))))
    return out


def number_values(text: str) -> set[str]:
    """Every number a text states, digits and words, normalised ("40", "12.5")."""
    out = {norm_number(m.group(1)) for m in NUMBER_CLAIM.finditer(text)}
    return out | {v for _, _, v, _ in number_word_claims(text)}
