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


# Python source of a training process whose every Trainer SIGKILLs the process at the end of step
# $KILL_AT_STEP (unset: never): a deterministic "killed between checkpoints". killer_script adds what trains.
_KILLER = """
import os, signal, sys
from transformers import TrainerCallback
from catalog_writer.training import train

class Kill(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == int(os.environ.get("KILL_AT_STEP", "0")):
            os.kill(os.getpid(), signal.SIGKILL)

build = train.build_trainer
def build_armed(*a, **kw):
    trainer = build(*a, **kw)
    trainer.add_callback(Kill())
    return trainer

train.build_trainer = build_armed
"""


def killer_script(run: str) -> str:
    """Source (for `python -c` or a launch target) that arms every Trainer with the kill, then runs `run`."""
    return _KILLER + run + "\n"
