"""Pure text metrics: ROUGE, attribute coverage, unsupported claims, length, distinct-n, copy baseline.

No model code here, so generation can flag drafts cheaply (`faithfulness_flags`) and tests run fast.
`facts` is the flattened dict from `pairs.product_facts` (attributes + options + brand + category);
values may be strings ("Black, Navy") or lists. Matching is case-insensitive and Porter-stemmed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from catalog_writer.quality.vocabulary import (
    COLOURS,
    FAMILY,
    LETTER_SIZES,
    MATERIALS,
    SIZE_PHRASES,
    SYNONYMS,
    UNITS,
)

# Attribute values that cannot be "mentioned" (flags such as eco_collection=Yes).
_NON_VALUES = {"", "yes", "no", "true", "false", "0", "1", "n/a", "na", "none", "-", "null"}
# Identifiers: support claims, but neither expected in a description nor copied by the copy baseline.
_IDENTIFIERS = {"title", "price", "id", "sku", "handle", "gtin", "mpn", "barcode", "ean", "upc"}
# Shop metadata: backs claims, but a description is not expected to recite the brand, category path or tags.
_NOT_COVERED = _IDENTIFIERS | {"brand", "vendor", "category", "categories", "tags", "type", "product type",
                               "product_type", "google_product_category"}
_STOP = {"a", "an", "and", "the", "of", "with", "for", "in", "on", "to", "or", "by", "&"}
_SPLIT = re.compile(r"\s*(?:[,;|>]|\s/\s)\s*")  # "a, b", "a|b" (Magento), "Men > Tops"
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?"
_UNIT = "|".join(re.escape(u) for u in UNITS)
_NUMBER_CLAIM = re.compile(rf"(?<![\w.,])({_NUM})(?:\s*({_UNIT}))?(?![\w])", re.IGNORECASE)
_SIZE = "|".join(sorted(LETTER_SIZES, key=len, reverse=True))
# Case-sensitive on purpose: "M" is a size, "m" a metre, "S" in "men's" is neither.
_SIZE_RE = re.compile(rf"(?<![\w'’-])({_SIZE})(?![\w'’]|-[a-z])")
_SIZE_RANGE = re.compile(rf"(?<![\w'’-])({_SIZE})\s*(?:-|–|—|to)\s*({_SIZE})(?![\w'’])")
_SIZE_ORDER = ["XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL", "4XL", "5XL"]
_SIZE_ALIAS = {"2XL": "XXL", "3XL": "XXXL"}


@lru_cache(maxsize=1)
def _stemmer():
    from nltk.stem import porter  # rouge-score's own dependency and stemmer

    return porter.PorterStemmer("ORIGINAL_ALGORITHM")


def _fold(text: str) -> str:
    """Lower case without accents, so "Crème" matches "creme"."""
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _norm_number(tok: str) -> str:
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", tok):
        tok = tok.replace(",", "")
    try:
        return f"{float(tok.replace(',', '.')):g}"
    except ValueError:
        return tok


def _words(text: str) -> list[str]:
    """Lower-case words with spelling variants unified; numbers normalised ("1,000" -> "1000")."""
    out = []
    for tok in _TOKEN.findall(_fold(text)):
        out.append(_norm_number(tok) if tok[0].isdigit() else SYNONYMS.get(tok, tok))
    return out


def _stems(text: str) -> list[str]:
    stem = _stemmer().stem
    return [stem(w) if len(w) > 3 and not w[0].isdigit() else w for w in _words(text)]


def _values(value) -> list[str]:
    """One attribute's mentionable values: split multi-values, drop flags and blanks."""
    items = value if isinstance(value, (list, tuple)) else _SPLIT.split(str(value or ""))
    return [v.strip() for v in items if str(v).strip().lower() not in _NON_VALUES]


def _coverable(facts: dict, keys=None, skip=_NOT_COVERED) -> dict[str, list[str]]:
    """Attributes a description should mention -> their values (`keys` narrows, case-insensitive)."""
    wanted = {k.lower() for k in keys} if keys is not None else None
    out = {}
    for k, v in facts.items():
        if k.lower() in skip or (wanted is not None and k.lower() not in wanted):
            continue
        if vals := _values(v):
            out[k] = vals
    return out


def _expand_sizes(text: str) -> set[str]:
    """Letter sizes named in `text`, ranges such as "XS-XL" expanded to every size between."""
    found = {_SIZE_ALIAS.get(s, s) for s in _SIZE_RE.findall(text)}
    for a, b in _SIZE_RANGE.findall(text):
        a, b = _SIZE_ALIAS.get(a, a), _SIZE_ALIAS.get(b, b)
        if a in _SIZE_ORDER and b in _SIZE_ORDER:
            i, j = sorted((_SIZE_ORDER.index(a), _SIZE_ORDER.index(b)))
            found.update(_SIZE_ORDER[i : j + 1])
    return found


def _mentioned(value: str, text: str, text_stems: list[str]) -> bool:
    """Is one attribute value in the text? Phrase match on stems, else all its content words present."""
    if value.upper() in _SIZE_ORDER or value.upper() in _SIZE_ALIAS:
        return _SIZE_ALIAS.get(value.upper(), value.upper()) in _expand_sizes(text)
    stems = _stems(value)
    if not stems:
        return False
    n = len(stems)
    if any(text_stems[i : i + n] == stems for i in range(len(text_stems) - n + 1)):
        return True
    content = [s for s in stems if s not in _STOP and len(s) > 1]  # "40°C" -> 40, c: the "c" is noise
    return len(content) > 1 and set(content) <= set(text_stems)


def attribute_coverage(text: str, facts: dict, keys=None) -> float:
    """Mean over attributes of the share of their values the text mentions (1.0 when nothing to cover).

    Brand, category, tags, type and identifiers are left out: they back claims but are not expected in
    the copy. Yes/No flags are left out too.
    """
    cov = _coverable(facts, keys)
    if not cov:
        return 1.0
    stems = _stems(text)
    shares = [sum(_mentioned(v, text, stems) for v in vals) / len(vals) for vals in cov.values()]
    return sum(shares) / len(shares)


def missing_attributes(text: str, facts: dict, keys=None) -> list[str]:
    """"Key: value" for every attribute value the text does not mention (multi-values grouped)."""
    stems = _stems(text)
    out = []
    for k, vals in _coverable(facts, keys).items():
        if miss := [v for v in vals if not _mentioned(v, text, stems)]:
            out.append(f"{k}: {', '.join(miss)}")
    return out


def _support(facts: dict, title: str) -> tuple[set[str], set[str], str]:
    """Words/stems (with family words), numbers and raw text that back a claim."""
    parts = [title or ""]
    for k, v in facts.items():
        parts += [str(k)] + ([str(x) for x in v] if isinstance(v, (list, tuple)) else [str(v or "")])
    raw = " \n ".join(parts)
    words = set(_words(raw))
    words |= {FAMILY[w] for w in words if w in FAMILY}
    stem = _stemmer().stem
    words |= {stem(w) for w in words}
    numbers = {w for w in words if w[:1].isdigit()}
    return words, numbers, raw


def unsupported_claims(text: str, facts: dict, title: str = "") -> list[str]:
    """Materials, colours, sizes and numbers in `text` that neither the facts nor the title back."""
    words, numbers, raw = _support(facts, title)
    stem = _stemmer().stem
    claims: list[str] = []

    def add(claim: str) -> None:
        if claim not in claims:
            claims.append(claim)

    for w in _words(text):
        if (w in MATERIALS or w in COLOURS) and w not in words and stem(w) not in words:
            add(w)
    fact_materials = {w for w in _words(raw) if w in MATERIALS}
    fact_materials -= {FAMILY.get(w) for w in fact_materials}  # "Merino wool" is one material
    for m in _NUMBER_CLAIM.finditer(text):
        num, unit = _norm_number(m.group(1)), m.group(2)
        if num == "100" and unit == "%" and len(fact_materials) <= 1:
            continue  # "100% merino wool" is true of a one-material product; the material is checked above
        if num not in numbers:
            add(m.group(0).strip())
    fact_sizes = _expand_sizes(raw.upper())
    for s in sorted(_expand_sizes(text) - fact_sizes, key=_SIZE_ORDER.index):
        add(s)
    low_text, low_raw = _fold(text), _fold(raw)
    for phrase in SIZE_PHRASES:
        if re.search(rf"\b{re.escape(phrase)}\b", low_text) and phrase not in low_raw:
            add(phrase)
    return claims


def faithfulness_flags(text: str, facts: dict, title: str = "", keys=None) -> dict:
    """Everything a reviewer needs about faithfulness: unsupported claims, missing values, coverage."""
    return {
        "unsupported": unsupported_claims(text, facts, title),
        "missing": missing_attributes(text, facts, keys),
        "coverage": round(attribute_coverage(text, facts, keys), 4),
    }


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def rouge_scores(pred: str, ref: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 with the `rouge-score` package (Porter stemming); accents folded first."""
    scores = _rouge().score(_fold(ref), _fold(pred))  # score(target, prediction)
    return {k: s.fmeasure for k, s in scores.items()}


def word_count(text: str) -> int:
    return len(text.split())


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Unique n-grams / all n-grams over the whole set (Li et al. 2016); 0.0 when there are none."""
    grams = []
    for t in texts:
        w = _words(t)
        grams += [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def copy_baseline(record_or_facts: dict) -> str:
    """Title plus every attribute value strung into one sentence: a floor a model has to beat."""
    facts = record_or_facts.get("attributes", record_or_facts)
    title = record_or_facts.get("title", "") if "attributes" in record_or_facts else facts.get("title", "")
    parts = [f"{k.replace('_', ' ')} {', '.join(vals)}" for k, vals in _coverable(facts, skip=_IDENTIFIERS).items()]
    body = "; ".join(parts)
    text = f"{title}: {body}" if title and body else title or body
    return f"{text}." if text else ""


def score_lengths(preds: list[str], refs: list[str]) -> dict[str, float]:
    """Mean words of outputs and references, and the mean per-product ratio output/reference."""
    n = max(1, len(preds))
    ratios = [word_count(p) / word_count(r) for p, r in zip(preds, refs) if word_count(r)]
    return {
        "mean_words": sum(map(word_count, preds)) / n,
        "reference_mean_words": sum(map(word_count, refs)) / max(1, len(refs)),
        "length_ratio": sum(ratios) / len(ratios) if ratios else 0.0,
    }


def score_system(preds: list[str], records: list[dict]) -> dict:
    """All metrics for one system's outputs on the test records (means over products)."""
    if len(preds) != len(records):
        raise ValueError(f"{len(preds)} predictions for {len(records)} records")
    refs = [r["completion"][0]["content"] for r in records]
    n = len(preds)
    rouge = [rouge_scores(p, ref) for p, ref in zip(preds, refs)]
    # Products with nothing mentionable would inflate coverage with a free 1.0: leave them out.
    cov = [attribute_coverage(p, r.get("attributes", {})) for p, r in zip(preds, records)
           if _coverable(r.get("attributes", {}))]
    claims = [unsupported_claims(p, r.get("attributes", {}), r.get("title", "")) for p, r in zip(preds, records)]
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0
    return {
        "n": n,
        **{k: mean([s[k] for s in rouge]) for k in ("rouge1", "rouge2", "rougeL")},
        "coverage": mean(cov),
        "unsupported_per_output": mean([len(c) for c in claims]),
        "outputs_with_unsupported": mean([1.0 if c else 0.0 for c in claims]),
        **score_lengths(preds, refs),
        "distinct_2": distinct_n(preds, 2),
        "empty_outputs": sum(1 for p in preds if not p.strip()),
    }
