"""Build a small `prepare`-style dataset folder for training tests (independent of pairs.py)."""

from __future__ import annotations

import json
from pathlib import Path

PRODUCTS = [
    ("Vetch Scarf", "alpaca blend", "Slate", "A scarf soft enough to wear against your neck. Made from alpaca blend."),
    ("Ghyll Beanie", "recycled wool", "Forest", "A deep rib beanie that stays put in a gale. Recycled wool, warm."),
    ("Lapwing Mug", "stoneware", "Sand", "Every glaze runs a little differently. Stoneware, nothing added."),
    ("Sorrel Mittens", "boiled wool", "Red", "Warm hands for scraping windscreens. Boiled wool, soft lining."),
    ("Teasel Cushion", "pure new wool", "Ochre", "Texture you notice with your hands. Pure new wool, hidden zip."),
    ("Dunlin Towel", "linen", "Natural", "Dries a glass without leaving fluff. Pure linen, wash at 40."),
]


def record(i: int) -> dict:
    title, material, colour, text = PRODUCTS[i % len(PRODUCTS)]
    return {
        "id": f"p{i}", "group": f"g{i}", "title": title,
        "attributes": {"Material": material, "Colour": colour},
        "prompt": [
            {"role": "system", "content": "You write product descriptions."},
            {"role": "user", "content": f"Product: {title}\nMaterial: {material}\nColour: {colour}"},
        ],
        "completion": [{"role": "assistant", "content": f"{text} The colour is {colour}."}],
    }


def make_dataset(out: Path, n_train: int = 12, n_val: int = 3) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name, ids in (("train", range(n_train)), ("val", range(100, 100 + n_val))):
        (out / f"{name}.jsonl").write_text("".join(json.dumps(record(i)) + "\n" for i in ids))
    (out / "template.json").write_text(json.dumps({"system": "You write product descriptions.",
                                                   "instruction": "Write the description.", "voice": "Test"}))
    (out / "manifest.json").write_text(json.dumps({"version": 1, "counts": {"train": n_train, "val": n_val}}))
    return out
