"""DPO: a child adapter trained from preference pairs (`feedback export --kind preference`), TRL DPOTrainer.

The child starts from the parent's LoRA weights (trainable); TRL copies them into a frozen "ref" adapter,
so the DPO reference is the parent itself. 20% of the products (all their pairs) are held out.

Win rate (definition): on the held-out pairs, a pair is a *win* for the child when its log-prob margin
log p(chosen|prompt) - log p(rejected|prompt) is higher than the parent's. That is exactly "the child's DPO
implicit reward prefers chosen" with the parent as reference: [log pc(yw) - log pp(yw)] -
[log pc(yl) - log pp(yl)] > 0. Exact ties count as non-wins and are reported; 95% Wilson interval.
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import atomic_dir, iter_jsonl
from catalog_writer.improve.retrain import (base_of, compare_adapters, console, dataset_of, plan_child,
                                            print_comparison, register_child)

# ---- held-out split and preference data --------------------------------------------------------------

def split_by_product(rows: list[dict], fraction: float = 0.2, seed: int = 13) -> tuple[list[dict], list[dict]]:
    """(train, held_out): about `fraction` of the products (all their pairs) are held out."""
    def key(r: dict) -> str:
        return str(r.get("product_id") or json.dumps(r["prompt"], sort_keys=True))

    products = sorted({key(r) for r in rows})
    if len(products) < 2:
        raise CatalogWriterError("need preference pairs for at least 2 products (one is held out to measure)")
    random.Random(seed).shuffle(products)
    held = set(products[: max(1, round(fraction * len(products)))])
    return [r for r in rows if key(r) not in held], [r for r in rows if key(r) in held]


def load_preferences(path: Path) -> list[dict]:
    """Preference JSONL (`feedback export --kind preference`), checked row by row."""
    path = Path(path)
    if not path.exists():
        raise CatalogWriterError("preference file not found", file=path)
    rows = []
    for i, r in iter_jsonl(path):
        for k in ("prompt", "chosen", "rejected"):
            if not isinstance(r.get(k), list) or not r[k]:
                raise CatalogWriterError(f"needs {k!r} as a list of chat messages", file=path, row=i)
        rows.append(r)
    if not rows:
        raise CatalogWriterError("no preference pairs", file=path)
    return rows


def _fit_length(tok, rows: list[dict], max_length: int, cap: int = 4096) -> int:
    """TRL keeps the start of prompt+completion: a retrieve-and-edit prompt longer than max_length would
    leave no completion tokens and TRL drops the pair. Raise max_length to the longest pair (up to `cap`)."""
    def n(messages: list[dict]) -> int:
        text = tok.apply_chat_template(messages, tokenize=False)
        return len(tok(text, add_special_tokens=False)["input_ids"])

    need = max((n(r["prompt"] + r[k]) for r in rows for k in ("chosen", "rejected")), default=0)
    if need > max_length:
        console.print(f"max_length {max_length} -> {min(need, cap)}: the longest pair has {need} tokens")
    return max(max_length, min(need, cap))


def _completion_logp(model, tok, prompt: list[dict], completion: list[dict], max_length: int) -> float:
    """Sum of log p(completion tokens | prompt), tokenised like TRL does for conversational data."""
    import torch

    p_text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(prompt + completion, tokenize=False)
    c_text = full[len(p_text):] if full.startswith(p_text) else completion[0]["content"] + (tok.eos_token or "")
    p_ids = tok(p_text, add_special_tokens=False)["input_ids"]
    c_ids = tok(c_text, add_special_tokens=False)["input_ids"][: max(1, max_length - len(p_ids))]
    ids = torch.tensor([p_ids + c_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(p_ids) - 1 : -1].float()
    return logits.log_softmax(-1).gather(-1, ids[0, len(p_ids):, None]).sum().item()


def preference_win_rate(model, tok, rows: list[dict], child: str = "default", parent: str = "ref",
                        max_length: int = 512) -> dict:
    """Win rate of adapter `child` over adapter `parent` of one PeftModel on preference rows (see module doc)."""
    from catalog_writer.feedback.exports import wilson_interval

    margins = {}
    model.eval()
    for name in (child, parent):
        model.set_adapter(name)
        margins[name] = [_completion_logp(model, tok, r["prompt"], r["chosen"], max_length)
                         - _completion_logp(model, tok, r["prompt"], r["rejected"], max_length) for r in rows]
    model.set_adapter(child)
    diffs = [c - p for c, p in zip(margins[child], margins[parent])]
    wins, ties = sum(d > 0 for d in diffs), sum(d == 0 for d in diffs)
    lo, hi = wilson_interval(wins, len(diffs))
    return {"pairs": len(diffs), "wins": wins, "ties": ties, "win_rate": wins / len(diffs) if diffs else None,
            "ci95": [lo, hi], "mean_margin_child": sum(margins[child]) / len(diffs),
            "mean_margin_parent": sum(margins[parent]) / len(diffs)}


# ---- DPO -----------------------------------------------------------------------------------------------

def _atomic_adapter_save(model, extra_files: list[Path], out: Path, meta: dict) -> None:
    """Save only the trained ("default") adapter + template + run.json into `out` via a staging folder."""
    from catalog_writer.training import registry

    with atomic_dir(out) as staging:
        model.save_pretrained(staging, selected_adapters=["default"])
        for f in extra_files:
            if f.exists():
                shutil.copy2(f, staging / f.name)
        registry.write_adapter_meta(staging, meta)


def run_dpo(adapter: Path, preferences: Path, out: Path | None = None, max_steps: int | None = None,
            beta: float = 0.1, learning_rate: float = 5e-5, epochs: float = 1.0, batch_size: int = 4,
            max_length: int = 512, eval_fraction: float = 0.2, base_model: Path | None = None,
            seed: int = 13, eval_limit: int | None = None, eval_max_new_tokens: int | None = None) -> dict:
    """Train a DPO child of `adapter` on preference pairs (reference = the parent) and report its win rate
    on held-out pairs; where the parent's dataset is here, also compare both on its test split."""
    import torch
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import DPOConfig, DPOTrainer

    from catalog_writer.training import modeling
    from catalog_writer.training.weights import attach_adapter

    from catalog_writer.training import registry

    adapter = Path(adapter)
    child = plan_child(adapter, out)
    meta, voice, version, out = child.meta, child.voice, child.version, child.out
    base = base_of(adapter, meta, base_model)
    rows = load_preferences(preferences)
    train_rows, held = split_by_product(rows, eval_fraction, seed)
    console.print(f"DPO {voice}@{meta.get('version', 'v1')} -> {version}: {len(train_rows)} training pairs, "
                  f"{len(held)} held out ({len({r.get('product_id') for r in held})} products)")

    torch.manual_seed(seed)
    tok = modeling.load_tokenizer(base, padding_side="right")
    max_length = _fit_length(tok, train_rows, max_length)
    model = modeling.load_for_training(base, "lora")
    # The parent's LoRA weights, trainable; with no ref_model TRL copies them into a frozen "ref" adapter,
    # so the reference is the parent itself (not the bare base).
    model = attach_adapter(model, adapter, base, is_trainable=True)  # checked: files, shapes
    work = out.parent / f".{out.name}.work"  # checkpoints, so an interrupted run resumes
    bf16 = modeling.bf16_supported()
    args = DPOConfig(
        output_dir=str(work), beta=beta, learning_rate=learning_rate, num_train_epochs=epochs,
        max_steps=max_steps if max_steps is not None else -1, per_device_train_batch_size=batch_size,
        max_length=max_length, bf16=bf16, activation_checkpointing=False,  # explicit: TRL defaults differ
        logging_steps=5, save_strategy="steps", save_steps=50, save_total_limit=1, report_to=[],
        seed=seed, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
    )
    keep = ("prompt", "chosen", "rejected")
    trainer = DPOTrainer(model=model, args=args, processing_class=tok,
                         train_dataset=Dataset.from_list([{k: r[k] for k in keep} for r in train_rows]))
    last = get_last_checkpoint(str(work)) if work.exists() else None
    result = trainer.train(resume_from_checkpoint=last)
    peft_model = trainer.accelerator.unwrap_model(trainer.model)
    win = preference_win_rate(peft_model, tok, held, max_length=max_length)
    child_meta = {
        # same lineage as the parent: its base and dataset (whose test split the comparison below uses)
        **{k: meta.get(k) for k in ("base_model", "base_model_id", "base_model_sha256", "dataset",
                                    "dataset_manifest_sha256")},
        "voice": voice, "version": version, "parent": str(adapter), "method": "dpo",
        "config": {"dpo": {"beta": beta, "learning_rate": learning_rate, "epochs": epochs, "max_steps": max_steps,
                           "batch_size": batch_size, "max_length": max_length, "bf16": bf16, "seed": seed,
                           "reference": "parent adapter"},
                   "parent": meta.get("config")},
        "preferences": {"file": str(preferences), "train_pairs": len(train_rows), "held_out_pairs": len(held)},
        "metrics": {"train_loss": result.training_loss, "steps": result.global_step,
                    "dpo_win_rate_vs_parent": win},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _atomic_adapter_save(peft_model, [adapter / "template.json", adapter / "exemplars.jsonl"], out, child_meta)
    shutil.rmtree(work, ignore_errors=True)
    del trainer, peft_model, model  # free the training copy before evaluation loads two more
    register_child(voice, out)
    console.print(f"child adapter: {out}")
    console.print(f"win rate vs parent on {win['pairs']} held-out pairs: {win['win_rate']:.0%} "
                  f"(95% CI {win['ci95'][0]:.0%}-{win['ci95'][1]:.0%}; ties {win['ties']})")
    try:
        data = dataset_of(adapter, meta)
        comparison = compare_adapters(data / "test.jsonl", adapter, out, base, limit=eval_limit,
                                      max_new_tokens=eval_max_new_tokens)
    except CatalogWriterError as e:  # e.g. the parent's dataset is on another machine
        console.print(f"[yellow]no test-set comparison: {e}[/]")
        comparison = None
    if comparison:
        child_meta = registry.add_metrics(out, {"comparison_vs_parent": comparison})
        print_comparison(comparison, f"{voice}: parent {meta.get('version', 'v1')} vs DPO child {version}")
    return child_meta
