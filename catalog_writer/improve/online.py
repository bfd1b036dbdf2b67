"""`improve`: online preference optimisation of a voice adapter (TRL GRPO) from a reward model.

Of the online methods TRL 1.16 ships, GRPO is in its stable API (online DPO is under `trl.experimental`,
RLOO needs the same sampling with a worse baseline for 4 samples). Each step the policy samples
`num_generations` drafts for a prompt of the parent's training split; a draft's reward is
  reward model score (inference/reward_scorer.py)  x reward_weights[0]
  - unsupported claims (quality.claims, house phrases and the prompt's exemplars) x reward_weights[1]
and GRPO moves the policy towards the drafts above their group's mean, held near the parent by a KL term
to a frozen copy of the parent's adapter. The child is a new version of the parent's voice (registered,
not promoted) whose run.json records parent, reward model and metrics, and parent and child are compared
on the parent's test split with greedy decoding.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import read_jsonl, read_yaml_mapping
from catalog_writer.improve.retrain import (base_of, compare_adapters, console, dataset_of, plan_child,
                                            print_comparison, register_child)

DEFAULT_RECIPE = Path(__file__).resolve().parents[2] / "configs" / "improve.yaml"
COPIED = ("template.json", "exemplars.jsonl", "house_phrases.json")


def grpo_config(path: Path | None, output_dir: Path, max_steps: int | None, budget: int):
    """trl.GRPOConfig from the recipe's `grpo:` section; `max_completion_length` defaults to the parent's
    token budget."""
    from trl import GRPOConfig

    from catalog_writer.training.recipe import _check_keys, trainer_args

    path = Path(path) if path is not None else DEFAULT_RECIPE
    data = read_yaml_mapping(path, "improve recipe", ["grpo"])
    if not isinstance(data.get("grpo") or {}, dict):
        raise CatalogWriterError("an improve recipe has one mapping section, `grpo:`", file=path)
    _check_keys(data, {"grpo"}, "top level", path)
    kw = dict(data.get("grpo") or {})
    _check_keys(kw, {f.name for f in dataclasses.fields(GRPOConfig)}, "grpo", path)
    if max_steps is not None:
        kw["max_steps"] = max_steps
    kw.setdefault("max_completion_length", budget)
    return trainer_args(GRPOConfig, kw, output_dir, "grpo", path), kw  # kw as used: bf16, use_cpu resolved


def prompts_dataset(records: list[dict]):
    """The parent's training prompts, with what the claim checker needs (facts, title, exemplars) as
    JSON columns that GRPO passes to the reward functions."""
    from datasets import Dataset

    from catalog_writer.inference.selection import Checker

    rows = []
    for r in records:
        c = Checker.for_record(r)
        rows.append({"prompt": r["prompt"], "facts": json.dumps(c.facts), "title": c.title,
                     "exemplars": json.dumps(c.exemplars)})
    return Dataset.from_list(rows)


def reward_functions(scorer, house=None, max_tokens: int | None = None):
    """[reward model, claim penalty] as GRPO reward functions on post-processed drafts."""
    from catalog_writer.inference.postprocess import postprocess
    from catalog_writer.inference.selection import Checker

    def texts(completions, completion_ids) -> list[str]:
        # as the batch job does: a draft cut by the token limit loses its unfinished last sentence
        return [postprocess(c[-1]["content"] if isinstance(c, list) else c,
                            truncated=bool(max_tokens) and len(ids) >= max_tokens)
                for c, ids in zip(completions, completion_ids)]

    def reward_model(prompts, completions, completion_ids, **_) -> list[float]:
        return scorer.score(prompts, texts(completions, completion_ids))

    def claim_penalty(prompts, completions, completion_ids, facts, title, exemplars, **_) -> list[float]:
        out = []
        for text, f, t, e in zip(texts(completions, completion_ids), facts, title, exemplars):
            checker = Checker(json.loads(f), t, house, json.loads(e))
            out.append(-float(len(checker.flags(text)["unsupported"])))
        return out

    return [reward_model, claim_penalty]


def run_improve(adapter: Path, reward: Path, *, max_steps: int | None = None, out: Path | None = None,
                config: Path | None = None, base_model: Path | None = None, limit: int | None = None,
                eval_limit: int | None = None, eval_max_new_tokens: int | None = None) -> dict:
    """Train a GRPO child of `adapter` against the reward model `reward`; return the child's run.json."""
    import torch
    from peft import PeftModel
    from trl import GRPOTrainer

    from catalog_writer.dataset.prompts import PromptTemplate
    from catalog_writer.improve.dpo import _atomic_adapter_save
    from catalog_writer.inference.reward_scorer import RewardScorer, read_reward_meta
    from catalog_writer.inference.settings import GenerationSettings
    from catalog_writer.quality.house import load_house
    from catalog_writer.training import modeling, registry

    adapter, reward = Path(adapter), Path(reward)
    child = plan_child(adapter, out)
    meta, voice, version, out = child.meta, child.voice, child.version, child.out
    reward_meta = read_reward_meta(reward)
    data = dataset_of(adapter, meta)
    base = base_of(adapter, meta, base_model)
    records = read_jsonl(data / "train.jsonl")[:limit] if limit else read_jsonl(data / "train.jsonl")
    template = PromptTemplate.load(adapter / "template.json") if (adapter / "template.json").exists() else None
    budget = GenerationSettings().budget(getattr(template, "length", None))
    work = out.parent / f".{out.name}.work"
    args, grpo_keys = grpo_config(config, work, max_steps, budget)
    console.print(f"improve {voice}@{meta.get('version', 'v1')} -> {version}: GRPO, {args.max_steps} steps of "
                  f"{args.num_generations} drafts, reward {reward} + claim penalty (weights {args.reward_weights})")

    torch.manual_seed(args.seed)
    tok = modeling.load_tokenizer(base, padding_side="left")
    model = modeling.load_for_training(base, "lora")
    model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)  # TRL adds the frozen "ref" copy
    scorer = RewardScorer(reward)
    house = load_house(adapter) or load_house(data)
    trainer = GRPOTrainer(model=model, reward_funcs=reward_functions(scorer, house, args.max_completion_length),
                          args=args, train_dataset=prompts_dataset(records), processing_class=tok)
    t0 = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - t0
    history = [h for h in trainer.state.log_history if "reward" in h]
    peft_model = trainer.accelerator.unwrap_model(trainer.model)
    child_meta = {
        **{k: meta.get(k) for k in ("base_model", "base_model_id", "base_model_sha256", "dataset",
                                    "dataset_manifest_sha256")},
        "voice": voice, "version": version, "parent": str(adapter), "method": "grpo",
        "reward": {"path": str(reward), "name": reward_meta.get("name"),
                   "held_out": (reward_meta.get("metrics") or {}).get("held_out", {}).get("accuracy"),
                   "claim_penalty_weight": args.reward_weights[1] if args.reward_weights else 1.0},
        "config": {"grpo": grpo_keys, "parent": meta.get("config")},
        "metrics": {"train_loss": result.training_loss, "steps": result.global_step, "train_seconds": round(seconds, 1),
                    "reward_first": _mean_of(history[: max(1, len(history) // 2)]),
                    "reward_last": _mean_of(history[len(history) // 2 :]), "log": history},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    copied = [adapter / name for name in COPIED]
    _atomic_adapter_save(peft_model, copied, out, child_meta)
    shutil.rmtree(work, ignore_errors=True)
    del trainer, peft_model, model, scorer
    register_child(voice, out)
    console.print(f"child adapter: {out}")
    comparison = compare_adapters(data / "test.jsonl", adapter, out, base, limit=eval_limit,
                                  max_new_tokens=eval_max_new_tokens)
    child_meta["metrics"]["comparison_vs_parent"] = comparison
    registry.write_adapter_meta(out, child_meta)
    print_comparison(comparison, f"{voice}: parent {meta.get('version', 'v1')} vs GRPO child {version}")
    return child_meta


def _mean_of(logs: list[dict]) -> dict:
    """Mean logged rewards (total, reward model, claim penalty) over some of the training log."""
    keys = ("reward", "rewards/reward_model/mean", "rewards/claim_penalty/mean")
    return {k.split("/")[1] if "/" in k else k: round(sum(h[k] for h in logs if k in h) / max(1, sum(k in h for h in logs)), 4)
            for k in keys}
