"""What backs a claim: the product's facts and title, indexed once per product for the claim checker."""

from __future__ import annotations

import re

from catalog_writer.quality.numbers import number_values, quantities
from catalog_writer.quality.text import STOP, content_words, expand_sizes, fold, stem, stems, values, words
from catalog_writer.quality.vocabulary import FAMILY, MATERIALS, TYPE_PARTS

# Keys whose values are the shop's metadata; an exemplar's category or tags are not leakage.
_NOT_LEAKED = {"brand", "vendor", "category", "categories", "tags", "type", "product type", "product_type",
               "google_product_category", "title", "price", "id", "sku", "handle", "gtin", "mpn", "barcode",
               "ean", "upc"}


_CARE_KEY = re.compile(r"(?i)\s*(?:care|washing|cleaning|laundry)\b")


def root(word: str) -> str:
    """A coarser stem for matching claim words to facts: washable ~ wash, dried ~ dry, poured ~ pour."""
    s = stem(word)
    for suffix in ("abl", "ibl"):
        if s.endswith(suffix) and len(s) > len(suffix) + 2:
            s = s[: -len(suffix)]
    return s[:-1] + "y" if s.endswith("i") and len(s) > 2 else s


def roots(text: str) -> set[str]:
    return {root(w) for w in words(text)}


class Support:
    """Everything that backs claims about one product."""

    def __init__(self, facts: dict, title: str = "", exemplars: list[dict] | None = None) -> None:
        self.facts = facts
        parts = [title or ""]
        self.value_texts = [title or ""]
        for k, v in facts.items():
            vals = [str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v or "")]
            parts += [str(k)] + vals
            self.value_texts += [f"{k} {x}" for x in vals]
        self.raw = " \n ".join(parts)
        self.folded = fold(self.raw)
        ws = set(words(self.raw))
        ws |= {FAMILY[w] for w in ws if w in FAMILY}
        ws |= {part for w in ws & TYPE_PARTS.keys() for part in TYPE_PARTS[w].split()}
        self.words = ws | {stem(w) for w in ws} | {root(w) for w in ws}
        self.stems = stems(self.raw)
        self.numbers = {w for w in ws if w[:1].isdigit()} | number_values(self.raw)
        stated = quantities(self.raw)  # (number, unit): "40%" is not backed by "40°C"
        self.quantities = stated | {(n, None) for n in self.numbers - {q for q, _ in stated}}
        self.sizes = expand_sizes(self.raw.upper())
        # "There are 2 sizes" / "three colours" when a fact lists that many values
        self.value_counts = {str(len(values(v))) for v in facts.values() if len(values(v)) > 1}
        fact_materials = {w for w in words(self.raw) if w in MATERIALS}
        self.materials = fact_materials - {FAMILY.get(w) for w in fact_materials}
        self.value_roots = [roots(t) | {root(FAMILY[w]) for w in words(t) if w in FAMILY} for t in self.value_texts]
        # A care fact ("Hand wash cold") backs care claims, not how the product was made ("by hand").
        self.making_roots = [r for r, t in zip(self.value_roots, self.value_texts) if not _CARE_KEY.match(t)]
        self.leak_values, self.leak_names = self._leaks(exemplars or [])

    def has_word(self, word: str) -> bool:
        """Is this one (folded, canonical) word backed anywhere in the facts or title?"""
        return word in self.words or stem(word) in self.words or root(word) in self.words

    def backs_phrase(self, key_roots: set[str], making: bool = False) -> bool:
        """Do all these key words occur together in one fact (key + value) or in the title? With `making`,
        care facts do not count."""
        return not key_roots or any(key_roots <= vr for vr in (self.making_roots if making else self.value_roots))

    def _leaks(self, exemplars: list[dict]) -> tuple[list[frozenset[str]], list[str]]:
        """For each exemplar value, its content words this product does not have ("Merino wool" beside a
        recycled wool blend: {merino}); and capitalised words of exemplar titles the product lacks (names,
        matched case-sensitively)."""
        out: list[frozenset[str]] = []
        names: list[str] = []
        for ex in exemplars:
            for k, v in ex.items():
                if k.lower() in _NOT_LEAKED:
                    continue
                for val in values(v):
                    # whole words, not stems: the exemplar's "Natural" is not this product's "nature"
                    new = frozenset(w for w in content_words(val) if not self.has_word(w))
                    if new and new not in out:
                        out.append(new)
            for name in re.findall(r"[A-Z][\w'’-]+", str(ex.get("title", ""))):
                if len(name) > 2 and fold(name) not in STOP and not self.has_word(fold(name)) and name not in names:
                    names.append(name)
        return out, names

    def _has_all(self, value: str) -> bool:
        ws = [w for w in words(value) if len(w) > 1]
        return bool(ws) and all(self.has_word(w) for w in ws)
