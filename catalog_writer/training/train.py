"""Supervised fine-tuning of a LoRA / QLoRA adapter on a `prepare` dataset (TRL SFTTrainer).

`run_training` reads like a table of contents; each step is one small function below. Also runnable as
`accelerate launch -m catalog_writer.training.train DATA -o OUT [...]` for multi-GPU machines.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.training import fingerprints, modeling
from catalog_writer.training import registry
from catalog_writer.training import recipe as recipes
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import iter_jsonl

KEEP_KEYS = ("prompt", "completion")  # id/group/title/attributes must not reach the trainer


def run_training(
    data: Path,
    out: Path,
    *,
    config: Path | None = None,
    base_model: Path | None = None,
    method: str | None = None,
    max_steps: int | None = None,
    epochs: float | None = None,
    resume: bool = False,
    parent: Path | None = None,
    extra_train_records: list[dict] | None = None,
    version: str | None = None,
    voice: str | None = None,
    overrides: dict[str, dict] | None = None,
    register: bool = True,
    force: bool = False,
) -> Path:
    """Train an adapter into `out` and return it; run.json is written last (its absence = unfinished).

    A finished adapter already in `out` is kept when it was trained with the same resolved config, and
    otherwise refused (one line saying what differs) unless `force`, which replaces it.
    """
    data, out = Path(data), Path(out)
    # 1. Recipe: YAML sections -> SFTConfig / LoraConfig; command-line flags win.
    recipe = recipes.load_recipe(config, overrides=_merge(overrides, max_steps=max_steps, epochs=epochs))
    base = modeling.resolve_base(base_model or (modeling.adapter_base(parent) if parent else None))
    fingerprint = fingerprints.run_fingerprint(data, recipe, base, parent, method, extra_train_records)
    if fingerprints.keep_finished(out, fingerprint, force):
        return out
    _check_output(out, resume)
    # 2. Method (QLoRA where 4-bit loading works, else LoRA).
    requested = method or recipe["model"].get("method")
    method, fallback = choose_method(requested)
    # 3. Data: conversational prompt/completion records only.
    train_ds, eval_ds = load_datasets(data, extra_train_records)
    # 4. Model (always a fresh load), trainer, callbacks.
    args = recipes.sft_config(recipe, out)
    model = load_model(base, method, recipe, parent, args.gradient_checkpointing)
    trainer = build_trainer(model, base, args, recipe, train_ds, eval_ds, peft=parent is None)
    # 5. Train (from the last complete checkpoint with --resume).
    checkpoint = _last_checkpoint(out) if resume else None
    cpu0 = time.process_time()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    result.metrics["cpu_seconds"] = time.process_time() - cpu0  # honest cost on a shared machine
    # 6. Save adapter + template, then run.json last, then register the voice.
    trainer.save_model(str(out))
    if not trainer.is_world_process_zero():  # other ranks of a multi-GPU run stop here
        return out
    shutil.copyfile(data / "template.json", out / "template.json")
    if (data / "exemplars.jsonl").exists():  # the template's exemplar corpus: generation rebuilds the prompts
        shutil.copyfile(data / "exemplars.jsonl", out / "exemplars.jsonl")
    if (data / "house_phrases.json").exists():  # the brand's voice: generation's claim checker skips it
        shutil.copyfile(data / "house_phrases.json", out / "house_phrases.json")
    meta = describe_run(trainer, result, recipe, base, data, method, parent, version, voice, out,
                        n_extra=len(extra_train_records or []), resumed_from=checkpoint)
    meta["config"]["resolved"] = fingerprint
    meta["method_requested"], meta["method_fallback"] = requested, fallback
    meta["world_size"] = trainer.args.world_size  # DDP processes (train --processes N): N x the batch
    registry.write_adapter_meta(out, meta)
    _drop_checkpoints(out)
    if register and out.resolve().parent.name == "adapters":  # models/adapters/NAME -> models/voices.json
        registry.register_voice(meta["voice"], out, root=registry.models_root(out))
    _print_summary(out, meta)
    return out


# --- 1. recipe ------------------------------------------------------------------------------------------

def _merge(overrides: dict | None, max_steps: int | None, epochs: float | None) -> dict:
    merged = {k: dict(v) for k, v in (overrides or {}).items()}
    sft = merged.setdefault("sft", {})
    if max_steps is not None:
        sft["max_steps"] = max_steps
    if epochs is not None:
        sft["num_train_epochs"] = epochs
    return merged


def _manifest_sha256(data: Path) -> str:
    return hashlib.sha256((data / "manifest.json").read_bytes()).hexdigest()


def _check_output(out: Path, resume: bool) -> None:
    if not resume and _last_checkpoint(out):
        raise CatalogWriterError("checkpoints of an unfinished run are there: add --resume or delete it", file=out)


def _last_checkpoint(out: Path) -> str | None:
    """Newest complete checkpoint (trainer_state.json is written last; a SIGKILL can leave a partial one)."""
    done = [d for d in out.glob("checkpoint-*") if (d / "trainer_state.json").exists()] if out.is_dir() else []
    return str(max(done, key=lambda d: int(d.name.split("-")[-1]))) if done else None


# --- 2. method ------------------------------------------------------------------------------------------

def choose_method(requested: str | None) -> tuple[str, str | None]:
    """(method, why it fell back or None): "qlora" / "lora" as asked; "auto" or None: QLoRA where
    bitsandbytes 4-bit works. QLoRA that cannot run here falls back to plain LoRA, and says why."""
    if requested not in (None, "auto", "qlora", "lora"):
        raise CatalogWriterError(f"unknown method {requested!r} (qlora|lora)")
    if requested == "lora":
        return "lora", None
    problem = modeling.qlora_problem()
    if problem is None:
        return "qlora", None
    print(f"QLoRA falls back to plain LoRA: {problem}")
    return "lora", problem


# --- 3. data --------------------------------------------------------------------------------------------

def _read_records(path: Path) -> list[dict]:
    return [clean_record(rec, path, line) for line, rec in iter_jsonl(path)]


def clean_record(rec: dict, file: Path | str = "<records>", row: int | None = None) -> dict:
    """Keep only prompt/completion (both lists of chat messages)."""
    for key in KEEP_KEYS:
        if not isinstance(rec.get(key), list) or not rec[key]:
            raise CatalogWriterError(f"record needs a non-empty {key!r} message list", file=file, row=row)
    return {k: rec[k] for k in KEEP_KEYS}


def load_datasets(data: Path, extra_train_records: list[dict] | None = None):
    """(train, val) datasets.Dataset from a prepare folder, plus extra records (e.g. approved edits)."""
    from datasets import Dataset

    for name in ("train.jsonl", "val.jsonl", "template.json", "manifest.json"):
        if not (data / name).exists():
            raise CatalogWriterError(f"{name} missing: not a `prepare` output folder", file=data)
    train = _read_records(data / "train.jsonl")
    train += [clean_record(r, "extra_train_records", i) for i, r in enumerate(extra_train_records or [], 1)]
    val = _read_records(data / "val.jsonl")
    if not train:
        raise CatalogWriterError("no training records", file=data / "train.jsonl")
    if not val:  # evaluation each epoch needs something; reuse a training record rather than fail
        val = train[:1]
    return Dataset.from_list(train), Dataset.from_list(val)


# --- 4. model and trainer -------------------------------------------------------------------------------

def load_model(base: Path, method: str, recipe: dict, parent: Path | None, gradient_checkpointing: bool):
    """Fresh base (4-bit for QLoRA); with `parent`, its LoRA weights loaded trainable."""
    model = modeling.load_for_training(
        base, method, dtype=recipe["model"].get("torch_dtype", "auto"),
        quantization=recipes.quantization_kwargs(recipe), gradient_checkpointing=gradient_checkpointing,
    )
    if parent is not None:
        from catalog_writer.training.weights import attach_adapter

        model = attach_adapter(model, Path(parent), base, is_trainable=True)  # checked: files, shapes
    return model


def build_trainer(model, base: Path, args, recipe: dict, train_ds, eval_ds, peft: bool = True):
    from transformers.trainer_callback import ProgressCallback
    from trl import SFTTrainer

    from catalog_writer.training.progress import ProgressBar

    callbacks = [ProgressBar()]
    if args.load_best_model_at_end and args.eval_strategy != "no":  # early stopping needs both
        callbacks += [cb for cb in (recipes.early_stopping(recipe),) if cb is not None]
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
        processing_class=modeling.load_tokenizer(base, padding_side="right"),
        peft_config=recipes.lora_config(recipe) if peft else None, callbacks=callbacks,
    )
    trainer.remove_callback(ProgressCallback)  # ours shows loss, tokens/s and ETA on one line
    return trainer


# --- 6. describe ----------------------------------------------------------------------------------------

def describe_run(trainer, result, recipe, base, data, method, parent, version, voice, out, n_extra=0,
                 resumed_from=None) -> dict:
    """The run.json contents: provenance, resolved config and metrics."""
    state = trainer.state
    logs = [h for h in state.log_history if "loss" in h]
    evals = [h["eval_loss"] for h in state.log_history if "eval_loss" in h]
    runtime = result.metrics.get("train_runtime") or 0.0
    tokens = state.num_input_tokens_seen or 0
    if resumed_from:  # throughput of this session only: the checkpoint carries the earlier tokens
        # checkpoint rotation (save_total_limit) may have deleted the checkpoint we resumed from by now;
        # then tokens/s counts the earlier session's tokens too rather than crashing a finished run
        state_file = Path(resumed_from) / "trainer_state.json"
        before = json.loads(state_file.read_text()) if state_file.exists() else {}
        session_tokens = tokens - (before.get("num_input_tokens_seen") or 0)
    else:
        session_tokens = tokens
    peft_cfg = getattr(trainer.model, "peft_config", {}).get("default")
    prov = base / modeling.PROVENANCE
    voice, version = registry.default_identity(out, parent, voice, version, registry.models_root(out))
    return {
        "voice": voice,
        "version": version,
        "parent": str(parent) if parent else None,
        "base_model": str(base),
        "base_model_id": json.loads(prov.read_text()).get("model") if prov.exists() else str(base),
        "base_model_sha256": modeling.base_sha256(base),
        "dataset": str(data),
        "dataset_manifest_sha256": _manifest_sha256(data),
        "method": method,
        "config": {
            "recipe": recipe["source"]["path"],
            "model": recipes.to_jsonable(recipe["model"]),
            "lora": recipes.to_jsonable(peft_cfg),
            "sft": recipes.to_jsonable(trainer.args),
        },
        "metrics": {
            "train_loss": result.training_loss,
            "final_train_loss": logs[-1]["loss"] if logs else None,
            "eval_loss": state.best_metric if state.best_metric is not None else (evals[-1] if evals else None),
            "last_eval_loss": evals[-1] if evals else None,
            "steps": state.global_step,
            "epochs": state.epoch,
            "tokens": tokens,
            "tokens_per_second": session_tokens / runtime if runtime else None,
            "train_seconds": runtime,
            "cpu_seconds": result.metrics.get("cpu_seconds"),
            "extra_records": n_extra,
            "resumed_from_step": int(Path(resumed_from).name.split("-")[-1]) if resumed_from else None,
        },
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _drop_checkpoints(out: Path) -> None:
    """Checkpoints (optimizer states) only serve --resume; the finished adapter no longer needs them."""
    for ckpt in out.glob("checkpoint-*"):
        shutil.rmtree(ckpt, ignore_errors=True)


def _print_summary(out: Path, meta: dict) -> None:
    m = meta["metrics"]
    fmt = lambda v, s=".3f": format(v, s) if isinstance(v, (int, float)) else "-"
    fell_back = f", fell back from qlora: {meta['method_fallback']}" if meta.get("method_fallback") else ""
    print(f"adapter saved: {out} ({meta['voice']}@{meta['version']}, {meta['method']}{fell_back}): "
          f"{m['steps']} steps, train loss {fmt(m['final_train_loss'])}, val loss {fmt(m['eval_loss'])}, "
          f"{fmt(m['tokens_per_second'], '.0f')} tok/s, {fmt(m['train_seconds'], '.0f')} s")


# --- `accelerate launch -m catalog_writer.training.train` -------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="catalog_writer.training.train", description=run_training.__doc__)
    p.add_argument("data", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--base-model", type=Path)
    p.add_argument("--method", choices=["qlora", "lora", "auto"])
    p.add_argument("--max-steps", type=int)
    p.add_argument("--epochs", type=float)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--force", action="store_true", help="Replace a finished adapter trained with another config.")
    p.add_argument("--parent", type=Path)
    p.add_argument("--version")
    p.add_argument("--save-steps", type=int, help="Validate and checkpoint every N steps (overrides the recipe).")
    a = p.parse_args(argv)
    overrides = {"sft": {"save_strategy": "steps", "save_steps": a.save_steps,
                         "eval_strategy": "steps", "eval_steps": a.save_steps}} if a.save_steps else None
    try:
        run_training(a.data, a.out, config=a.config, base_model=a.base_model, method=a.method,
                     max_steps=a.max_steps, epochs=a.epochs, resume=a.resume, parent=a.parent,
                     version=a.version, overrides=overrides, force=a.force)
    except CatalogWriterError as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
