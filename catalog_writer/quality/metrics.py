"""Pure text metrics: ROUGE, attribute coverage, unsupported claims, length, distinct-n, copy baseline.

No model code here, so generation can flag drafts cheaply (`faithfulness_flags`) and tests run fast.
`facts` is the flattened dict from `pairs.product_facts` (attributes + options + brand + category);
values may be strings ("Black, Navy") or lists. Matching is case-insensitive and Porter-stemmed.
"""

from __future__ import annotations

from functools import lru_cache

from catalog_writer.quality import claims as _claims
from catalog_writer.quality.house import HousePhrases
from catalog_writer.quality.text import fold as _fold
from catalog_writer.quality.text import NEAR_DUP_JACCARD, mentioned, shingles, stems, values, words

# Identifiers: support claims, but neither expected in a description nor copied by the copy baseline.
_IDENTIFIERS = {"title", "price", "id", "sku", "handle", "gtin", "mpn", "barcode", "ean", "upc"}
# Shop metadata: backs claims, but a description is not expected to recite the brand, category path or tags.
_NOT_COVERED = _IDENTIFIERS | {"brand", "vendor", "category", "categories", "tags", "type", "product type",
                               "product_type", "google_product_category"}


def _coverable(facts: dict, keys=None, skip=_NOT_COVERED) -> dict[str, list[str]]:
    """Attributes a description should mention -> their values (`keys` narrows, case-insensitive)."""
    wanted = {k.lower() for k in keys} if keys is not None else None
    out = {}
    for k, v in facts.items():
        if k.lower() in skip or (wanted is not None and k.lower() not in wanted):
            continue
        if vals := values(v):
            out[k] = vals
    return out


def _covered(text: str, facts: dict, keys=None) -> dict[str, list[bool]]:
    """Per coverable attribute, whether each of its values is mentioned (paraphrase allowed)."""
    text_stems = stems(text)
    return {k: [mentioned(v, text, text_stems, tuple(vals)) for v in vals]
            for k, vals in _coverable(facts, keys).items()}


def attribute_coverage(text: str, facts: dict, keys=None) -> float:
    """Mean over attributes of the share of their values the text mentions (1.0 when nothing to cover).

    Brand, category, tags, type and identifiers are left out: they back claims but are not expected in
    the copy. Yes/No flags are left out too.
    """
    cov = _covered(text, facts, keys)
    if not cov:
        return 1.0
    shares = [sum(hits) / len(hits) for hits in cov.values()]
    return sum(shares) / len(shares)


def missing_attributes(text: str, facts: dict, keys=None) -> list[str]:
    """"Key: value" for every attribute value the text does not mention (multi-values grouped)."""
    cov = _covered(text, facts, keys)
    out = []
    for k, vals in _coverable(facts, keys).items():
        if miss := [v for v, hit in zip(vals, cov[k]) if not hit]:
            out.append(f"{k}: {', '.join(miss)}")
    return out


def unsupported_claims(text: str, facts: dict, title: str = "", house: HousePhrases | None = None,
                       exemplars: list[dict] | None = None) -> list[str]:
    """Claims in `text` (as written, each once) that neither the facts, the title nor the brand's house
    phrases back: numbers, sizes, materials, colours, scents, certifications, origin, care, warranty,
    provenance, features and names, and exemplar values the product lacks (see quality.claims)."""
    return _claims.unsupported_claims(text, facts, title, house, exemplars)


def faithfulness_flags(text: str, facts: dict, title: str = "", keys=None, house: HousePhrases | None = None,
                       exemplars: list[dict] | None = None) -> dict:
    """Everything a reviewer needs about faithfulness: unsupported claims, missing values, coverage, and
    per sentence its text, offsets and claims ({"kind", "text"}) for highlighting."""
    checks = _claims.check(text, facts, title, house, exemplars)
    flat: list[str] = []
    for s in checks:
        flat += [c.text for c in s.claims if c.text not in flat]
    return {
        "unsupported": flat,
        "missing": missing_attributes(text, facts, keys),
        "coverage": round(attribute_coverage(text, facts, keys), 4),
        "sentences": _claims.claims_as_dicts(checks),
    }


@lru_cache(maxsize=2)
def _rouge(types: tuple[str, ...] = ("rouge1", "rouge2", "rougeL")):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(types), use_stemmer=True)


def rouge_scores(pred: str, ref: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 with the `rouge-score` package (Porter stemming); accents folded first."""
    scores = _rouge().score(_fold(ref), _fold(pred))  # score(target, prediction)
    return {k: s.fmeasure for k, s in scores.items()}


def rouge_l(a: str, b: str) -> float:
    """ROUGE-L F1 alone (as in `rouge_scores`; symmetric in a and b), for callers comparing many pairs."""
    return _rouge(("rougeL",)).score(_fold(b), _fold(a))["rougeL"].fmeasure


def word_count(text: str) -> int:
    return len(text.split())


def distinct_n(texts: list[str], n: int = 2) -> float:
    """Unique n-grams / all n-grams over the whole set (Li et al. 2016); 0.0 when there are none."""
    grams = []
    for t in texts:
        w = words(t)
        grams += [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def closest_overlap(texts: list[str], others: list[str] | None = None) -> list[float]:
    """Per text, the highest 3-word-shingle Jaccard with one of `others` (None: another of `texts`)."""
    from collections import Counter

    mine = [shingles(t) for t in texts]
    theirs = mine if others is None else [shingles(t) for t in others]
    postings: dict[str, list[int]] = {}
    for j, sh in enumerate(theirs):
        for g in sh:
            postings.setdefault(g, []).append(j)
    best = []
    for i, sh in enumerate(mine):
        shared = Counter(j for g in sh for j in postings.get(g, ()) if others is not None or j != i)
        best.append(max((n / (len(sh) + len(theirs[j]) - n) for j, n in shared.items()), default=0.0))
    return best


def twin_flags(texts: list[str], others: list[str] | None = None) -> list[bool]:
    """Per text, whether it is a near twin of one of `others` (None: of another of `texts`): the rule
    `prepare` groups near-duplicate descriptions by (quality.text.NEAR_DUP_JACCARD)."""
    return [b >= NEAR_DUP_JACCARD for b in closest_overlap(texts, others)]


def self_similarity(texts: list[str]) -> float | None:
    """How much a brand's descriptions repeat each other: the mean of each one's closest overlap with
    another (a house template scores high: Fernhill demo 0.32; copy written anew low: Luma 0.05).
    None for fewer than two texts."""
    return round(mean(closest_overlap(texts)), 4) if len(texts) > 1 else None


def near_twins(texts: list[str]) -> float:
    """Share of the texts that have a near twin among the others: copy a shop cannot publish twice
    (search engines and shoppers read it as one page). 0.0 for fewer than two texts."""
    return mean([float(f) for f in twin_flags(texts)]) if len(texts) > 1 else 0.0


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


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _exemplar_facts(record: dict) -> list[dict] | None:
    """Facts (with titles) of the exemplars a prepared record's prompt showed, for leakage; None if none."""
    if record.get("exemplar_facts") is not None:
        return record["exemplar_facts"]
    shown = record.get("exemplars") or []
    return [{**e.get("facts", {}), "title": e.get("title", "")} for e in shown] or None


def score_system(preds: list[str], records: list[dict], house: HousePhrases | None = None,
                 published: list[str] | None = None) -> dict:
    """All metrics for one system's outputs on the test records (means over products); `house` is the
    brand's house phrases (dataset folder's house_phrases.json), so its voice is not counted as claims;
    `published`: the shop's existing descriptions (the training split), for `twins_of_published`."""
    if len(preds) != len(records):
        raise ValueError(f"{len(preds)} predictions for {len(records)} records")
    refs = [r["completion"][0]["content"] for r in records]
    n = len(preds)
    rouge = [rouge_scores(p, ref) for p, ref in zip(preds, refs)]
    # Products with nothing mentionable would inflate coverage with a free 1.0: leave them out.
    cov = [attribute_coverage(p, r.get("attributes", {})) for p, r in zip(preds, records)
           if _coverable(r.get("attributes", {}))]
    claims = [unsupported_claims(p, r.get("attributes", {}), r.get("title", ""), house, _exemplar_facts(r))
              for p, r in zip(preds, records)]
    return {
        "n": n,
        **{k: mean([s[k] for s in rouge]) for k in ("rouge1", "rouge2", "rougeL")},
        "coverage": mean(cov),
        "unsupported_per_output": mean([len(c) for c in claims]),
        "outputs_with_unsupported": mean([1.0 if c else 0.0 for c in claims]),
        **score_lengths(preds, refs),
        "distinct_2": distinct_n(preds, 2),
        "near_twins": near_twins(preds),
        # Share of outputs that nearly repeat a description the shop already publishes (None: not given).
        "twins_of_published": mean([float(f) for f in twin_flags(preds, published)]) if published else None,
        "empty_outputs": sum(1 for p in preds if not p.strip()),
    }
