"""Training targets that do not teach invention: mark (and optionally drop) reference sentences whose
claims the product's facts do not back.

The brand's house phrases are learned from the training split's descriptions first, so its recurring voice
("Made slowly, kept for years") is not marked. Only train and val targets are ever cleaned: test keeps the
published description, which is what evaluation compares against.
"""

from __future__ import annotations

import re
from dataclasses import replace

from catalog_writer.core.product import Product
from catalog_writer.dataset.prompts import product_facts
from catalog_writer.quality.claims import check, drop_unsupported_sentences
from catalog_writer.quality.house import HousePhrases

CLEANED_SPLITS = ("train", "val")
MIN_KEPT_WORDS = 8
"""A cleaned target shorter than this keeps its full reference: a near-empty target teaches nothing."""


def learn_house(products: list[Product], splits: list[str], voice: str | None = None) -> HousePhrases:
    """House phrases of the brand, from the training split's descriptions only; the voice's own name
    ("Luma" in a catalog without a brand column) is the brand speaking, not a claim."""
    house = HousePhrases.learn([p.description for p, s in zip(products, splits) if s == "train"])
    house.names |= {w for w in re.findall(r"[A-Z][\w'’-]+", voice or "") if len(w) > 2}
    return house


def mark_references(products: list[Product], splits: list[str], house: HousePhrases,
                    drop: bool = False) -> tuple[list[Product], list[list[dict]], dict]:
    """Check every reference sentence against its product's facts.

    Returns the products (train/val descriptions without their unsupported sentences when `drop`), the
    unsupported sentences per product ({"text", "claims": [{"kind", "text"}]}) and summary statistics
    (share of unsupported sentences per split, claims by kind).
    """
    out_products, marks = [], []
    stats: dict = {"sentences": {}, "unsupported": {}, "kinds": {}, "cleaned": 0, "kept_whole": 0}
    for p, split in zip(products, splits, strict=True):
        checks = check(p.description, product_facts(p), p.title, house)
        bad = [s.to_dict() for s in checks if s.claims]
        for key, n in (("sentences", len(checks)), ("unsupported", len(bad))):
            stats[key][split] = stats[key].get(split, 0) + n
        for s in bad:
            for c in s["claims"]:
                stats["kinds"][c["kind"]] = stats["kinds"].get(c["kind"], 0) + 1
        marks.append([{"text": s["text"], "claims": s["claims"]} for s in bad])
        if drop and bad and split in CLEANED_SPLITS:
            cleaned = drop_unsupported_sentences(p.description, product_facts(p), p.title, house)
            if len(cleaned.split()) >= MIN_KEPT_WORDS:
                p = replace(p, description=cleaned)
                stats["cleaned"] += 1
            else:
                stats["kept_whole"] += 1
        out_products.append(p)
    stats["share"] = {s: round(stats["unsupported"].get(s, 0) / n, 4) if n else 0.0
                      for s, n in stats["sentences"].items()}
    total = sum(stats["sentences"].values())
    stats["share_all"] = round(sum(stats["unsupported"].values()) / total, 4) if total else 0.0
    return out_products, marks, stats
