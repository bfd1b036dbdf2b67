"""Learn from reviews: retrain a child adapter on approved edits, or DPO-train one on preference pairs.

Both make a child version of a parent adapter (`<voice>-v<N+1>` next to it unless `-o`), record the parent in
the child's run.json, and compare child and parent on data neither was trained on.

DPO win rate (definition): on held-out preference pairs (20% of the products, never trained on), a pair is
a *win* for the child when its log-prob margin log p(chosen|prompt) - log p(rejected|prompt) is higher than
the parent's. That is exactly "the child's DPO implicit reward prefers chosen" with the parent as reference:
[log pc(yw) - log pp(yw)] - [log pc(yl) - log pp(yl)] > 0. Exact ties count as non-wins and are reported.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from catalog_writer.errors import CatalogWriterError

console = Console(stderr=True)
EDIT_WEIGHT = 3  # approved edits are few and deliberate: repeat them so they count against the original data


# ---- parent / child bookkeeping ----------------------------------------------------------------------

def parent_meta(adapter: Path) -> dict:
    """The parent's run.json (voice, version, base_model, dataset...); a clear error when it is not an adapter."""
    from catalog_writer import registry

    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").exists():
        raise CatalogWriterError("not an adapter folder (adapter_config.json missing)", file=adapter)
    return registry.read_adapter_meta(adapter) or {}


def child_version(meta: dict, adapter: Path) -> tuple[str, str]:
    """(voice, next version): voice@vN -> vN+1."""
    voice = meta.get("voice") or Path(adapter).name
    m = re.fullmatch(r"v(\d+)", str(meta.get("version") or "v1"))
    if not m:
        raise CatalogWriterError(f"cannot number a child of version {meta.get('version')!r} (expected vN)",
                                 file=Path(adapter) / "run.json")
    return voice, f"v{int(m.group(1)) + 1}"


def child_dir(adapter: Path, voice: str, version: str, out: Path | None) -> Path:
    """`-o` or a sibling folder `<voice>-<version>`; refuses to overwrite a finished adapter."""
    path = Path(out) if out is not None else Path(adapter).parent / f"{voice}-{version}"
    if (path / "adapter_config.json").exists():
        raise CatalogWriterError("already holds an adapter; choose another -o", file=path)
    return path


def base_of(adapter: Path, meta: dict, base_model: Path | None = None) -> Path:
    from catalog_writer import modeling

    return modeling.resolve_base(base_model or modeling.adapter_base(Path(adapter)) or meta.get("base_model"))


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
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            raise CatalogWriterError(f"not JSON: {e.msg}", file=path, row=i) from None
        for k in ("prompt", "chosen", "rejected"):
            if not isinstance(r.get(k), list) or not r[k]:
                raise CatalogWriterError(f"needs {k!r} as a list of chat messages", file=path, row=i)
        rows.append(r)
    if not rows:
        raise CatalogWriterError("no preference pairs", file=path)
    return rows


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
    from catalog_writer.exports import wilson_interval

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
    from catalog_writer import registry

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-") as tmp:
        staging = Path(tmp) / "adapter"
        model.save_pretrained(staging, selected_adapters=["default"])
        for f in extra_files:
            if f.exists():
                shutil.copy2(f, staging / f.name)
        registry.write_adapter_meta(staging, meta)
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)


def run_dpo(adapter: Path, preferences: Path, out: Path | None = None, max_steps: int | None = None,
            beta: float = 0.1, learning_rate: float = 5e-5, epochs: float = 1.0, batch_size: int = 4,
            max_length: int = 512, eval_fraction: float = 0.2, base_model: Path | None = None,
            seed: int = 13) -> dict:
    """Train a DPO child of `adapter` on preference pairs (reference = the parent) and report its win rate."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers.trainer_utils import get_last_checkpoint
    from trl import DPOConfig, DPOTrainer

    from catalog_writer import modeling

    adapter = Path(adapter)
    meta = parent_meta(adapter)
    voice, version = child_version(meta, adapter)
    out = child_dir(adapter, voice, version, out)
    base = base_of(adapter, meta, base_model)
    rows = load_preferences(preferences)
    train_rows, held = split_by_product(rows, eval_fraction, seed)
    console.print(f"DPO {voice}@{meta.get('version', 'v1')} -> {version}: {len(train_rows)} training pairs, "
                  f"{len(held)} held out ({len({r.get('product_id') for r in held})} products)")

    torch.manual_seed(seed)
    tok = modeling.load_tokenizer(base, padding_side="right")
    model = modeling.load_for_training(base, "lora")
    # The parent's LoRA weights, trainable; with no ref_model TRL copies them into a frozen "ref" adapter,
    # so the reference is the parent itself (not the bare base).
    model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)
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
        **{k: meta.get(k) for k in ("base_model", "base_model_sha256", "dataset_manifest_sha256")},
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
    _atomic_adapter_save(peft_model, [adapter / "template.json"], out, child_meta)
    shutil.rmtree(work, ignore_errors=True)
    console.print(f"child adapter: {out}")
    console.print(f"win rate vs parent on {win['pairs']} held-out pairs: {win['win_rate']:.0%} "
                  f"(95% CI {win['ci95'][0]:.0%}-{win['ci95'][1]:.0%}; ties {win['ties']})")
    return child_meta


# ---- evaluation of parent vs child -------------------------------------------------------------------

def compare_adapters(test_file: Path, parent: Path, child: Path, base_model: Path | None = None,
                     limit: int | None = None, batch_size: int = 8) -> dict:
    """Score parent and child with the evaluation code on the same held-out records and decoding."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from catalog_writer import evaluate

    records = evaluate.load_records(test_file, limit)
    settings = evaluate.decoding_settings(test_file, batch_size)
    result: dict = {"test_file": str(test_file), "n": len(records)}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        for name, path in (("parent", parent), ("child", child)):
            texts, version = evaluate.generate_system(name, records, settings, base_model, Path(path), None,
                                                      progress)
            result[name] = {"model_version": version, **evaluate.score_system(texts, records)}
    return result


def print_comparison(result: dict, title: str) -> None:
    from rich.table import Table

    table = Table(title=f"{title}: {result['n']} held-out products ({result['test_file']})")
    table.add_column("metric")
    for side in ("parent", "child"):
        table.add_column(f"{side}\n{result[side]['model_version']}", justify="right")
    table.add_column("change", justify="right")
    for metric in ("rouge1", "rouge2", "rougeL", "coverage", "unsupported_per_output", "distinct_2"):
        if metric in result["parent"]:
            p, c = result["parent"][metric], result["child"][metric]
            table.add_row(metric, f"{p:.3f}", f"{c:.3f}", f"{c - p:+.3f}")
    Console().print(table)


# ---- retraining on approved edits --------------------------------------------------------------------

def approved_edits(store, voice: str | None, exclude_ids: set[str]) -> tuple[list[dict], dict]:
    """Training records (pairs.jsonl shape) from approved, edited generations of `voice`'s versions.

    Only edits of this voice's own outputs are used (their prompts carry its template); products of the
    parent's test split stay out so the comparison below remains fair. Returns (records, counts).
    """
    from catalog_writer.exports import _was_edited

    records, counts = [], {"approved_edits": 0, "other_systems": 0, "test_products": 0}
    for g in store.generations():
        if not (g["review"] and g["review"]["status"] == "approved" and _was_edited(g)):
            continue
        counts["approved_edits"] += 1
        if voice is not None and g["model_version"].split("@")[0] != voice:
            counts["other_systems"] += 1
        elif g["product"]["product_id"] in exclude_ids:
            counts["test_products"] += 1
        else:
            p = g["product"]
            records.append({"id": p["product_id"], "group": p["product_id"], "title": p["title"],
                            "attributes": p["attributes"], "prompt": g["prompt"],
                            "completion": [{"role": "assistant", "content": g["review"]["edited_text"]}],
                            "source": f"feedback:generation/{g['id']}"})
    return records, counts


def dataset_of(adapter: Path, meta: dict) -> Path:
    """The parent's `prepare` folder, as recorded in its run.json (`dataset`)."""
    data = meta.get("dataset")
    if not data or not (Path(data) / "train.jsonl").exists():
        raise CatalogWriterError(f"the parent's training data folder is not here (run.json dataset={data!r})",
                                 file=Path(adapter) / "run.json")
    return Path(data)


def run_retrain(adapter: Path, min_approved: int = 1, db_url: str | None = None, out: Path | None = None,
                max_steps: int | None = None, weight: int = EDIT_WEIGHT, eval_limit: int | None = None,
                base_model: Path | None = None) -> dict:
    """Child adapter = parent + SFT on (parent's training data + approved edits x weight); compare both."""
    from catalog_writer import registry
    from catalog_writer import train as train_mod
    from catalog_writer.feedback import Store
    from catalog_writer.pairs import load_jsonl

    adapter = Path(adapter)
    meta = parent_meta(adapter)
    voice, version = child_version(meta, adapter)
    out = child_dir(adapter, voice, version, out)
    data = dataset_of(adapter, meta)
    test_file = data / "test.jsonl"
    test_ids = {str(r["id"]) for r in load_jsonl(test_file)} if test_file.exists() else set()
    records, counts = approved_edits(Store(db_url), voice, test_ids)
    if len(records) < min_approved:
        raise CatalogWriterError(
            f"{len(records)} usable approved edits for voice {voice!r} (need --min-approved {min_approved}; "
            f"{counts['other_systems']} edits of other systems and {counts['test_products']} of test products "
            "are not used)")
    console.print(f"retrain {voice}@{meta.get('version', 'v1')} -> {version}: {len(records)} approved edits "
                  f"x{weight} on top of {data}")
    recipe = (meta.get("config") or {}).get("recipe")
    base = base_of(adapter, meta, base_model)
    train_mod.run_training(
        data, out, config=Path(recipe) if recipe and Path(recipe).exists() else None, base_model=base,
        method=meta.get("method"), max_steps=max_steps, parent=adapter, extra_train_records=records * weight,
        version=version, voice=voice,
    )
    result = {"parent": str(adapter), "child": str(out), "approved_edits": len(records), "weight": weight,
              "skipped": counts}
    try:
        result["comparison"] = compare_adapters(test_file, adapter, out, base, limit=eval_limit)
    except CatalogWriterError as e:  # the child is trained and saved; say why it could not be compared
        console.print(f"[yellow]no parent/child comparison: {e}[/]")
        result["comparison"] = None
    child_meta = registry.read_adapter_meta(out)
    child_meta.setdefault("metrics", {})["retrain"] = result
    registry.write_adapter_meta(out, child_meta)
    if result["comparison"]:
        print_comparison(result["comparison"], f"{voice}: parent {meta.get('version', 'v1')} vs child {version}")
    return result
