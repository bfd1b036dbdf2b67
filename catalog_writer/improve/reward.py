"""`reward train`: a reward model from preference pairs (TRL RewardTrainer, scalar head + LoRA).

Pairs: bootstrap pairs from the prepared catalog's train/val products (improve/bootstrap.py) plus the
feedback store's preference export when given. About `pairs.held_out` of the products, with all their
pairs, are held out; the model is measured there once, at the end: pair accuracy (chosen scored above
rejected; ties count as misses) with its 95% Wilson interval, overall and per source, saved in run.json.
The recipe (configs/reward.yaml) has sections `model`, `pairs`, `lora` (peft.LoraConfig) and `reward`
(trl.RewardConfig), each key passed through as written.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import atomic_dir, read_yaml_mapping, write_jsonl_atomic
from catalog_writer.improve import bootstrap
from catalog_writer.improve.bootstrap import PairSettings

console = Console(stderr=True)
DEFAULT_RECIPE = Path(__file__).resolve().parents[2] / "configs" / "reward.yaml"
SECTIONS = ("model", "pairs", "lora", "reward")
MODEL_KEYS = {"top_layers"}


def load_recipe(path: Path | None = None, overrides: dict[str, dict] | None = None) -> dict[str, dict]:
    """The reward recipe, every key checked against the object it feeds; `overrides` win."""
    from peft import LoraConfig
    from trl import RewardConfig

    from catalog_writer.training.recipe import _check_keys

    path = Path(path) if path is not None else DEFAULT_RECIPE
    data = read_yaml_mapping(path, "reward recipe", SECTIONS)
    _check_keys(data, set(SECTIONS), "top level", path)
    for section in SECTIONS:
        if data.get(section) is not None and not isinstance(data[section], dict):
            raise CatalogWriterError(f"section {section!r} must be a mapping of `key: value` lines", file=path)
    recipe = {s: dict(data.get(s) or {}) for s in SECTIONS}
    for section, values in (overrides or {}).items():
        recipe[section].update({k: v for k, v in values.items() if v is not None})
    allowed = {"model": MODEL_KEYS, "pairs": PairSettings.keys(),
               "lora": {f.name for f in dataclasses.fields(LoraConfig)},
               "reward": {f.name for f in dataclasses.fields(RewardConfig)}}
    for section in SECTIONS:
        _check_keys(recipe[section], allowed[section], section, path)
    recipe["source"] = {"path": str(path.resolve())}
    return recipe


def reward_config(recipe: dict, output_dir: Path):
    """trl.RewardConfig from the `reward:` section (bf16 "auto" resolved for this hardware)."""
    from trl import RewardConfig

    from catalog_writer.training.recipe import trainer_args

    return trainer_args(RewardConfig, dict(recipe["reward"]), output_dir, "reward", recipe["source"]["path"])


def lora_config(recipe: dict, num_layers: int):
    """peft.LoraConfig from `lora:`; `model.top_layers` places it on the top layers unless the section
    names `layers_to_transform` itself."""
    from peft import LoraConfig

    kw = {"task_type": "SEQ_CLS", **recipe["lora"]}
    top = recipe["model"].get("top_layers")
    if top and kw.get("layers_to_transform") is None and top < num_layers:
        kw["layers_to_transform"] = list(range(num_layers - top, num_layers))
    try:
        return LoraConfig(**kw)
    except (TypeError, ValueError) as e:
        raise CatalogWriterError(f"invalid lora settings: {e}", file=recipe["source"]["path"]) from None


def held_out_accuracy(scorer, pairs: list[dict]) -> dict:
    """Share of pairs whose chosen text the scorer ranks above the rejected one, with a 95% Wilson interval,
    overall and per source."""
    from catalog_writer.feedback.exports import wilson_interval

    if not pairs:
        return {"pairs": 0, "correct": 0, "accuracy": None, "ci95": [0.0, 1.0], "by_source": {}}
    chosen = scorer.score([p["prompt"] for p in pairs], [p["chosen"] for p in pairs])
    rejected = scorer.score([p["prompt"] for p in pairs], [p["rejected"] for p in pairs])
    hits = [c > r for c, r in zip(chosen, rejected)]

    def block(idx: list[int]) -> dict:
        n, k = len(idx), sum(hits[i] for i in idx)
        lo, hi = wilson_interval(k, n)
        return {"pairs": n, "correct": k, "accuracy": round(k / n, 4), "ci95": [round(lo, 4), round(hi, 4)],
                "mean_margin": round(sum(chosen[i] - rejected[i] for i in idx) / n, 4)}

    out = block(list(range(len(pairs))))
    out["by_source"] = {s: block([i for i, p in enumerate(pairs) if p["source"] == s])
                        for s in bootstrap.counts(pairs)}
    return out


def _dataset(pairs: list[dict], tokenizer, window: int):
    from datasets import Dataset

    from catalog_writer.inference.reward_scorer import reward_ids

    return Dataset.from_list([{"chosen_ids": reward_ids(tokenizer, p["prompt"], p["chosen"], window),
                               "rejected_ids": reward_ids(tokenizer, p["prompt"], p["rejected"], window)}
                              for p in pairs])


def run_reward_train(data_dir: Path, out: Path, *, preferences: Path | None = None, adapter: Path | None = None,
                     base_model: Path | None = None, max_steps: int | None = None, config: Path | None = None,
                     limit: int | None = None, drafts: Path | None = None) -> dict:
    """Build the pairs, train the reward model into `out` (atomically, run.json last), return run.json.
    `drafts`: a drafts.jsonl of an earlier run (same products) to reuse instead of sampling again."""
    import torch
    from transformers import AutoConfig
    from trl import RewardTrainer

    from catalog_writer.improve.dpo import split_by_product
    from catalog_writer.inference.reward_scorer import KIND, RewardScorer
    from catalog_writer.quality.house import load_house
    from catalog_writer.training import modeling

    data_dir, out = Path(data_dir), Path(out)
    recipe = load_recipe(config, {"reward": {"max_steps": max_steps}})
    settings = PairSettings(**recipe["pairs"])
    if (out / "adapter_config.json").exists():
        raise CatalogWriterError("already holds a model; choose another -o", file=out)
    if adapter is not None and not (Path(adapter) / "adapter_config.json").exists():
        raise CatalogWriterError("not an adapter folder (adapter_config.json missing)", file=adapter)
    records = bootstrap.catalog_records(data_dir, limit)  # user errors in the inputs before any model loads
    reviews = bootstrap.review_pairs(preferences) if preferences else []
    base = modeling.resolve_base(base_model or (modeling.adapter_base(Path(adapter)) if adapter else None))

    t0 = time.perf_counter()
    sampled = bootstrap.load_drafts(drafts, records) if drafts else None
    reused = sampled is not None
    if not reused:
        console.print(f"sampling {settings.samples_per_product} drafts for each of {len(records)} products from "
                      f"{adapter or 'the base model'}")
        sampled = bootstrap.sample_drafts(records, data_dir, base, Path(adapter) if adapter else None, settings)
    else:
        console.print(f"drafts of {len(records)} products from {drafts}")
    house = load_house(data_dir)
    pairs = (bootstrap.bootstrap_pairs(records, sampled, house, settings.pairs_per_product, settings.seed,
                                       settings.reference_per_product)
             + bootstrap.perturbed_pairs(records, house, settings.perturbed_per_product, settings.seed) + reviews)
    sampling_s = time.perf_counter() - t0
    train_pairs, held = split_by_product(pairs, settings.held_out, settings.seed)
    if not train_pairs or not held:
        raise CatalogWriterError(f"too few pairs to train and measure ({bootstrap.counts(pairs)}): use more "
                                 "products or samples_per_product", file=data_dir)
    console.print(f"pairs: {bootstrap.counts(pairs)}; {len(train_pairs)} to train, {len(held)} held out")

    tok = modeling.load_tokenizer(base, padding_side="right")
    work = out.parent / f".{out.name}.work"
    args = reward_config(recipe, work)
    lora = lora_config(recipe, AutoConfig.from_pretrained(base).num_hidden_layers)
    torch.manual_seed(settings.seed)
    trainer = RewardTrainer(model=str(base), args=args, processing_class=tok, peft_config=lora,
                            train_dataset=_dataset(train_pairs, tok, settings.window))
    t1 = time.perf_counter()
    result = trainer.train()
    train_s = time.perf_counter() - t1
    model = trainer.accelerator.unwrap_model(trainer.model).eval()
    accuracy = held_out_accuracy(RewardScorer.from_loaded(model, tok, settings.window), held)
    meta = {
        "kind": KIND, "name": out.name, "base_model": str(base), "base_model_sha256": modeling.base_sha256(base),
        "window": settings.window, "policy": str(adapter) if adapter else "base", "dataset": str(data_dir),
        "preferences": str(preferences) if preferences else None,
        "pairs": {"all": bootstrap.counts(pairs), "train": len(train_pairs), "held_out": len(held)},
        "drafts_from": str(drafts) if reused else None,
        "config": {"recipe": recipe["source"]["path"], "model": recipe["model"], "pairs": recipe["pairs"],
                   "lora": _jsonable(lora), "reward": _jsonable(args, recipe["reward"])},
        "metrics": {"held_out": accuracy, "train_loss": result.training_loss, "steps": result.global_step,
                    "sampling_seconds": round(sampling_s, 1), "train_seconds": round(train_s, 1)},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_dir(out) as staging:
        model.save_pretrained(staging)
        tok.save_pretrained(staging)
        write_jsonl_atomic(staging / "pairs.jsonl",
                           [{**p, "split": "train"} for p in train_pairs] + [{**p, "split": "held_out"} for p in held])
        write_jsonl_atomic(staging / "drafts.jsonl", [{"id": str(r.get("id")), "drafts": d}
                                                      for r, d in zip(records, sampled)])
        from catalog_writer.training.registry import write_adapter_meta

        write_adapter_meta(staging, meta)
    shutil.rmtree(work, ignore_errors=True)
    print_result(meta, out)
    return meta


def _jsonable(obj, keys: dict | None = None) -> dict:
    """A config object as JSON: every field, or only the recipe's keys (RewardConfig has ~150)."""
    from catalog_writer.training.recipe import to_jsonable

    data = to_jsonable(obj)
    return {k: data.get(k) for k in keys} if keys is not None else data


def print_result(meta: dict, out: Path) -> None:
    from rich.table import Table

    acc = meta["metrics"]["held_out"]
    table = Table(title=f"reward model {out}: held-out pairs (products never trained on)")
    for col in ("source", "pairs", "accuracy", "95% CI (Wilson)", "mean margin"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name, b in [("all", acc), *acc["by_source"].items()]:
        table.add_row(name, str(b["pairs"]), f"{b['accuracy']:.3f}", f"{b['ci95'][0]:.3f}-{b['ci95'][1]:.3f}",
                      f"{b['mean_margin']:+.3f}")
    Console().print(table)
    m = meta["metrics"]
    console.print(f"{m['steps']} steps, train loss {m['train_loss']:.3f}; sampling {m['sampling_seconds']:.0f} s, "
                  f"training {m['train_seconds']:.0f} s")
