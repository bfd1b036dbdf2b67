"""Preference pairs for the reward model: bootstrap pairs from a prepared catalog, and review pairs.

Bootstrap pairs need no reviewer. For each training product the policy (an adapter, or the base model)
samples a few drafts, and the claim checker (quality.claims, with the dataset's house phrases and the
prompt's exemplars for leakage) labels them:
- `reference`: the shop's own description > a draft with an unsupported claim, when the draft has more
  unsupported claims than the reference (references make some too: the label must stay the checker's);
- `faithful`: a draft with no unsupported claim > a draft of the same product with one or more;
- `perturbed`: the reference > the same reference with another product's fact in it (one of its fact
  values swapped for another product's, or a sentence of another product's description inserted),
  when the checker finds more unsupported claims in it. No sampling, so many pairs cheaply, and the two
  texts differ only in the claim: the style of human and model text cannot decide them.
Review pairs come from `feedback export --kind preference` (A/B, edits, ratings), source kept.
Every pair is {prompt, chosen, rejected (plain text), source, product_id}.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import read_jsonl

SOURCES = ("reference", "faithful", "perturbed", "ab", "edit", "rating")
SAMPLED = ("reference", "faithful")
"""The bootstrap kinds built from sampled drafts: the held-out accuracy that says how the model ranks drafts."""
SHOP_FACTS = {"brand", "category", "tags", "type"}


@dataclass
class PairSettings:
    """The `pairs:` section of a reward recipe (configs/reward.yaml)."""

    window: int = 320
    samples_per_product: int = 4
    temperature: float = 0.9
    pairs_per_product: int = 4
    held_out: float = 0.2
    seed: int = 13
    max_new_tokens: int | None = None
    """Token budget of a sampled draft; None: the dataset's, as generation uses."""
    perturbed_per_product: int = 3
    reference_per_product: int | None = None
    """`reference` pairs per product; None: pairs_per_product, 0: none (they pit the shop's writing against
    the model's, so they also teach style, which does not separate one draft from another)."""

    @classmethod
    def keys(cls) -> set[str]:
        return {f.name for f in fields(cls)}


def catalog_records(data_dir: Path, limit: int | None = None) -> list[dict]:
    """Train and val records of a `prepare` folder (test stays for evaluation: best-of and `improve` are
    measured there, so the reward model never sees those products)."""
    data_dir = Path(data_dir)
    if not (data_dir / "train.jsonl").is_file():
        raise CatalogWriterError("no train.jsonl: not a `prepare` output folder", file=data_dir)
    records = [r for name in ("train.jsonl", "val.jsonl") if (data_dir / name).is_file()
               for r in read_jsonl(data_dir / name)]
    records = [r for r in records if r.get("prompt") and (r.get("completion") or [{}])[0].get("content")]
    return records[:limit] if limit else records


def load_drafts(path: Path, records: list[dict]) -> list[list[str]] | None:
    """Drafts saved by an earlier `reward train` (drafts.jsonl: {id, drafts}) for exactly these records,
    else None (sample afresh)."""
    if not Path(path).is_file():
        return None
    saved = {str(r["id"]): r["drafts"] for r in read_jsonl(path)}
    if not all(str(r.get("id")) in saved for r in records):
        return None
    return [saved[str(r.get("id"))] for r in records]


def sample_drafts(records: list[dict], data_dir: Path, base: Path, adapter: Path | None,
                  settings: PairSettings, batch_size: int = 16) -> list[list[str]]:
    """`samples_per_product` post-processed drafts per record from the policy, decoded like generation
    (the adapter's token budget, exemplar facts banned) but sampled at `temperature`."""
    from catalog_writer.dataset.prompts import PromptTemplate
    from catalog_writer.dataset.retrieval import records_leak_terms
    from catalog_writer.inference.generate import Generator
    from catalog_writer.inference.postprocess import postprocess
    from catalog_writer.inference.settings import GenerationSettings

    template = PromptTemplate.load(Path(data_dir) / "template.json")
    s = GenerationSettings(do_sample=True, temperature=settings.temperature, num_variants=settings.samples_per_product,
                           batch_size=batch_size, seed=settings.seed, target_words=template.target_words)
    s.max_new_tokens = settings.max_new_tokens or s.budget(template.length)
    avoid = records_leak_terms(records, read_jsonl(Path(data_dir) / "train.jsonl")) \
        if any(r.get("exemplars") for r in records) else None
    gen = Generator(base, adapter)
    try:
        out: list[list[str]] = []
        for start in range(0, len(records), batch_size):
            chunk = records[start : start + batch_size]
            raws = gen.generate_messages([r["prompt"] for r in chunk], s,
                                         avoid[start : start + batch_size] if avoid else None)
            out += [[postprocess(raw, truncated=False) for raw in variants] for variants in raws]
        return out
    finally:
        gen.close()


def _pair(record: dict, chosen: str, rejected: str, source: str, n_chosen: int, n_rejected: int) -> dict:
    return {"prompt": record["prompt"], "chosen": chosen, "rejected": rejected, "source": source,
            "product_id": str(record.get("id")), "chosen_unsupported": n_chosen, "rejected_unsupported": n_rejected}


def bootstrap_pairs(records: list[dict], drafts: list[list[str]], house=None, per_product: int = 4,
                    seed: int = 13, reference_per_product: int | None = None) -> list[dict]:
    """Pairs labelled by the claim checker (see the module doc); at most `per_product` of each kind per
    product (`reference_per_product` of the reference kind, when given), drawn at random (seeded) when
    there are more."""
    from catalog_writer.inference.selection import Checker

    rng = random.Random(seed)
    pairs: list[dict] = []
    for record, texts in zip(records, drafts):
        checker = Checker.for_record(record, house)
        reference = record["completion"][0]["content"]
        n_ref = len(checker.flags(reference)["unsupported"])
        seen, scored = set(), []
        for text in texts:
            if text.strip() and text.strip() not in seen:  # an empty draft says nothing about claims
                seen.add(text.strip())
                scored.append((text, len(checker.flags(text)["unsupported"])))
        bad = [(t, n) for t, n in scored if n > 0]
        good = [(t, n) for t, n in scored if n == 0]
        ref_pairs = [_pair(record, reference, t, "reference", n_ref, n) for t, n in bad if n > n_ref]
        faithful = [_pair(record, g, b, "faithful", 0, n) for g, _ in good for b, n in bad]
        ref_cap = per_product if reference_per_product is None else reference_per_product
        for kind, cap in ((ref_pairs, ref_cap), (faithful, per_product)):
            pairs += rng.sample(kind, cap) if len(kind) > cap else kind
    return pairs


def _perturbations(record: dict, others: list[dict], rng: random.Random) -> list[str]:
    """The reference with one of its fact values swapped for another product's value of the same fact,
    and with a sentence of another product's description inserted after one of its sentences."""
    from catalog_writer.quality.text import split_sentences

    ref = record["completion"][0]["content"]
    out = []
    for key, value in (record.get("attributes") or {}).items():
        if key.casefold() in SHOP_FACTS or not value or value.casefold() not in ref.casefold():
            continue
        donors = sorted({o["attributes"][key] for o in others if (o.get("attributes") or {}).get(key)
                         and o["attributes"][key].casefold() != value.casefold()})
        if donors:
            start = ref.casefold().index(value.casefold())
            out.append(ref[:start] + rng.choice(donors) + ref[start + len(value):])
    ends = [e for _, e in split_sentences(ref)]
    for other in rng.sample(others, min(4, len(others))):
        text = other["completion"][0]["content"]
        spans = split_sentences(text)
        if ends and spans:
            a, b = rng.choice(spans)
            sentence = text[a:b].strip()
            sentence += "" if sentence[-1:] in ".!?" else "."  # a bullet line becomes a sentence
            at = rng.choice(ends)
            out.append(ref[:at] + " " + sentence + ref[at:])
    return out


def perturbed_pairs(records: list[dict], house=None, per_product: int = 3, seed: int = 13) -> list[dict]:
    """`perturbed` pairs (see the module doc): at most `per_product` per product, each checked to add an
    unsupported claim to the reference."""
    from catalog_writer.inference.selection import Checker

    rng = random.Random(seed)
    pairs: list[dict] = []
    for record in records:
        if per_product <= 0:
            break
        checker = Checker.for_record(record, house)
        reference = record["completion"][0]["content"]
        n_ref = len(checker.flags(reference)["unsupported"])
        others = [o for o in records if o is not record and o.get("id") != record.get("id")]
        found = []
        for text in dict.fromkeys(_perturbations(record, others, rng)):
            n = len(checker.flags(text)["unsupported"])
            if n > n_ref:
                found.append(_pair(record, reference, text, "perturbed", n_ref, n))
        pairs += rng.sample(found, per_product) if len(found) > per_product else found
    return pairs


def review_pairs(path: Path) -> list[dict]:
    """Pairs from a preference export (`feedback export --kind preference`), as plain-text pairs."""
    from catalog_writer.improve.dpo import load_preferences

    out = []
    for r in load_preferences(Path(path)):
        out.append({"prompt": r["prompt"], "chosen": r["chosen"][-1]["content"],
                    "rejected": r["rejected"][-1]["content"], "source": r.get("source") or "review",
                    "product_id": str(r.get("product_id") or ""), "margin": r.get("margin")})
    return out


def counts(pairs: list[dict]) -> dict[str, int]:
    """Pairs per source, in SOURCES order (others after)."""
    found = {p["source"] for p in pairs}
    order = [s for s in SOURCES if s in found] + sorted(found - set(SOURCES))
    return {s: sum(p["source"] == s for p in pairs) for s in order}
