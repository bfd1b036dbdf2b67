"""The reward loop, scripted end to end: generate -> review (scratch store) -> export -> reward train ->
best-of-N by reward -> improve, on the demo catalog and on Magento Luma (skipped without ../shared).

A benchmark, not a test: it trains the real base model (minutes on a CPU). Every stage writes its output
under --work and a re-run skips what is there. The run holds /tmp/cpu.lock (one real-model job at a time
on a shared machine); `--lock stage` takes it per stage instead, so other jobs can run in between.
The reviewer is scripted: it rates and approves
by the claim checker (fewer unsupported claims = better) and prefers the A/B draft with fewer claims,
so its pairs teach the same signal as the bootstrap pairs; a real reviewer's pairs go the same way.
Printed per catalog (issue 12's goals in brackets):
  reward model held-out pair accuracy with its 95% Wilson interval          [>= 0.75]
  tuned best-of-4 by reward vs greedy tuned: share of outputs with an unsupported claim
                                                   [down >= 50% relative], ROUGE-L [not lower by > 0.01]
  (and best-of-4 by the claim checker from the same candidates, for reference)
  improve child vs parent on the test split: unsupported per output [down], ROUGE-L [within 0.01]
  cost of reward scoring vs generating the N=4 candidates, same process  [<= 30%]

    python bench/reward_loop.py                                   # demo and Luma, default budgets
    python bench/reward_loop.py --catalog demo --reward-steps 40 --improve-steps 16
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CATALOGS = {
    "demo": (REPO / "data" / "demo-catalog.csv", "Fernhill & Co."),
    "luma": (REPO.parent / "shared" / "data" / "magento-luma" / "configurable_products.csv", None),
}
LOCK = Path("/tmp/cpu.lock")
_held = False


@contextmanager
def cpu_lock(what: str):
    """One real-model job at a time on a shared machine (the same lock as `flock /tmp/cpu.lock`);
    nested uses inside a held lock pass through."""
    global _held
    if _held:
        print(f"[{what}]", flush=True)
        yield
        return
    with open(LOCK, "a") as f:
        t0 = time.perf_counter()
        fcntl.flock(f, fcntl.LOCK_EX)
        waited = time.perf_counter() - t0
        print(f"[{what}] (waited {waited:.0f} s for {LOCK})", flush=True)
        _held = True
        try:
            yield
        finally:
            _held = False
            fcntl.flock(f, fcntl.LOCK_UN)


def cached(path: Path, build):
    """JSON at `path`, else build() written there (a re-run skips finished stages)."""
    if path.exists():
        return json.loads(path.read_text())
    value = build()
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1))
    return value


def stage_prepare_train(name: str, work: Path, steps: int) -> tuple[Path, Path]:
    from catalog_writer.dataset import pairs
    from catalog_writer.ingest import catalog
    from catalog_writer.training.train import run_training

    csv, voice = CATALOGS[name]
    data, parent = work / "data", work / "models" / "adapters" / name
    if not (data / "manifest.json").exists():
        pairs.prepare_dataset(catalog.read_catalog(csv), data, voice=voice)
    if not (parent / "run.json").exists():
        with cpu_lock(f"{name}: train the parent, {steps} steps"):
            run_training(data, parent, method="lora", max_steps=steps)
    return data, parent


def stage_review(data: Path, parent: Path, work: Path, products: int) -> dict:
    """Two sampled drafts per training product into a scratch store, reviewed by the scripted reviewer,
    then the preference export."""
    from catalog_writer.core.fileio import read_jsonl
    from catalog_writer.feedback import exports
    from catalog_writer.feedback.store import Store
    from catalog_writer.inference.generate import Generator, GenerationSettings
    from catalog_writer.inference.postprocess import postprocess
    from catalog_writer.inference.selection import Checker
    from catalog_writer.quality.house import load_house

    records = read_jsonl(data / "train.jsonl")[:products]
    store = Store(f"sqlite:///{work / 'scratch-feedback.db'}")
    house = load_house(data)
    with cpu_lock("review: 2 sampled drafts per product"):
        gen = Generator(None, parent)
        s = GenerationSettings(num_variants=2, do_sample=True, temperature=0.9, seed=7)
        raws = gen.generate_messages([r["prompt"] for r in records], s)
        gen.close()
    for record, variants in zip(records, raws):
        snap = store.snapshot_product(record, "bench")
        checker = Checker.for_record(record, house)
        ids = []
        for raw in variants:
            text = postprocess(raw, truncated=False)
            n = len(checker.flags(text)["unsupported"])
            gid = store.add_generation(snap, record["prompt"], text, gen.model_version)
            store.add_review(gid, "scripted", "approved" if n == 0 else "rejected", rating=max(1, 5 - n))
            ids.append((gid, n))
        (a, na), (b, nb) = ids
        store.add_comparison(a, b, "A" if na < nb else "B" if nb < na else "tie", "scripted")
    out = work / "preference.jsonl"
    n = exports.export("preference", out, store)
    return {"products": len(records), "pairs": n, "file": str(out)}


def stage_reward(data: Path, parent: Path, work: Path, prefs: Path, steps: int, limit: int | None,
                 config: Path | None) -> dict:
    """Train the reward model; the parent's sampled drafts are kept in work/drafts.jsonl, so a re-run with
    another recipe trains on the same drafts instead of sampling again."""
    import shutil

    from catalog_writer.improve.reward import run_reward_train

    out, drafts = work / "models" / "rewards" / work.name, work / "drafts.jsonl"
    if not (out / "run.json").exists():
        with cpu_lock(f"reward train, {steps} steps"):
            run_reward_train(data, out, preferences=prefs, adapter=parent, max_steps=steps, limit=limit,
                             config=config, drafts=drafts if drafts.exists() else None)
    if not drafts.exists():
        shutil.copyfile(out / "drafts.jsonl", drafts)
    meta = json.loads((out / "run.json").read_text())
    return {"path": str(out), "pairs": meta["pairs"], "held_out": meta["metrics"]["held_out"],
            "drafts_reused": bool(meta.get("drafts_from")), "train_seconds": meta["metrics"]["train_seconds"],
            "sampling_seconds": meta["metrics"]["sampling_seconds"]}


def stage_best_of(data: Path, parent: Path, reward: Path, n: int, limit: int | None) -> dict:
    """Greedy tuned vs the best of N samples by the reward model and by the claim checker (the same
    candidates), scored like `evaluate`; and the cost of reward scoring against generating them."""
    from catalog_writer.core.fileio import read_jsonl
    from catalog_writer.dataset.retrieval import records_leak_terms
    from catalog_writer.evaluation import evaluate
    from catalog_writer.inference.generate import Generator
    from catalog_writer.inference.postprocess import postprocess
    from catalog_writer.inference.reward_scorer import RewardScorer
    from catalog_writer.inference.selection import Checker, pick
    from catalog_writer.quality.house import load_house
    from catalog_writer.quality.metrics import score_system

    test = data / "test.jsonl"
    records = evaluate.load_records(test, limit)
    greedy = evaluate.decoding_settings(test, 16)
    sampled = replace(greedy, best_of=n).validate()
    avoid = records_leak_terms(records, read_jsonl(data / "train.jsonl")) \
        if any(r.get("exemplars") for r in records) else None
    house = load_house(data)
    prompts = [r["prompt"] for r in records]
    with cpu_lock(f"best-of-{n}: greedy, {n} samples per product, reward scoring"):
        gen = Generator(None, parent)
        t0 = time.perf_counter()
        tuned = [postprocess(c[0], truncated=False) for c in gen.generate_messages(prompts, greedy, avoid)]
        t1 = time.perf_counter()
        cands = [[postprocess(c, truncated=False) for c in cs]
                 for cs in gen.generate_messages(prompts, sampled, avoid)]
        t2 = time.perf_counter()
        gen.close()
        scorer = RewardScorer(reward)
        t3 = time.perf_counter()
        rewards = [scorer.score([p] * len(cs), cs) for p, cs in zip(prompts, cands)]
        t4 = time.perf_counter()
    by_reward, by_claims, by_both = [], [], []
    for record, cs, rs in zip(records, cands, rewards):
        checker = Checker.for_record(record, house)
        by_claims.append(pick(cs, checker)[0].text)
        by_reward.append(pick(cs, checker, scorer=lambda _texts, rs=rs: rs)[0].text)
        # improve's objective: the reward model minus one per unsupported claim
        both = [r - len(checker.flags(t)["unsupported"]) for r, t in zip(rs, cs)]
        by_both.append(pick(cs, checker, scorer=lambda _texts, both=both: both)[0].text)
    t5 = time.perf_counter()
    score = lambda texts: score_system(texts, records, house)  # noqa: E731
    return {"n": len(records), "best_of": n, "tuned": score(tuned), "best_of_reward": score(by_reward),
            "best_of_claims": score(by_claims), "best_of_reward_claims": score(by_both),
            "seconds": {"greedy": round(t1 - t0, 1), "sample_n": round(t2 - t1, 1),
                        "reward_load": round(t3 - t2, 1),
                        "reward_score": round(t4 - t3, 1), "claim_pick": round(t5 - t4, 2)},
            "reward_cost": round((t4 - t3) / (t2 - t1), 3)}


def stage_improve(parent: Path, reward: Path, steps: int, limit: int | None) -> dict:
    from catalog_writer.improve.online import run_improve

    with cpu_lock(f"improve: GRPO, {steps} steps"):
        meta = run_improve(parent, reward, max_steps=steps, eval_limit=limit)
    m = meta["metrics"]
    return {"child": meta["version"], "steps": m["steps"], "train_seconds": m["train_seconds"],
            "reward_first": m["reward_first"], "reward_last": m["reward_last"],
            "comparison": m["comparison_vs_parent"]}


def run(name: str, args) -> dict:
    work = args.work / name
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data, parent = stage_prepare_train(name, work, args.steps)
    review = cached(work / "review.json", lambda: stage_review(data, parent, work, args.review_products))
    reward = cached(work / "reward.json", lambda: stage_reward(
        data, parent, work, Path(review["file"]), args.reward_steps, args.limit, args.reward_config))
    best = cached(work / f"best_of_{args.n}.json",
                  lambda: stage_best_of(data, parent, Path(reward["path"]), args.n, args.test_limit))
    improve = cached(work / "improve.json",
                     lambda: stage_improve(parent, Path(reward["path"]), args.improve_steps, args.test_limit))
    result = {"catalog": name, "review": review, "reward": reward, "best_of": best, "improve": improve,
              "wall_seconds": round(time.perf_counter() - t0)}
    (work / "results.json").write_text(json.dumps(result, indent=1))
    return result


BOOTSTRAP, SAMPLED = ("reference", "faithful", "perturbed"), ("reference", "faithful")
REVIEW = ("ab", "edit", "rating")


def pooled(held: dict, sources: tuple[str, ...]) -> dict | None:
    """Held-out accuracy over some pair sources together, with its Wilson interval (None: no such pairs)."""
    from catalog_writer.feedback.exports import wilson_interval

    blocks = [b for s, b in held["by_source"].items() if s in sources]
    n, k = sum(b["pairs"] for b in blocks), sum(b["correct"] for b in blocks)
    if not n:
        return None
    lo, hi = wilson_interval(k, n)
    return {"pairs": n, "correct": k, "accuracy": round(k / n, 4), "ci95": [round(lo, 4), round(hi, 4)]}


def goals(r: dict) -> dict[str, bool]:
    b, imp = r["best_of"], r["improve"]["comparison"]
    g, br = b["tuned"], b["best_of_reward"]
    held = r["reward"]["held_out"]
    boot, review = pooled(held, BOOTSTRAP), pooled(held, REVIEW)
    return {
        "reward held-out accuracy >= 0.75 on bootstrap pairs": bool(boot) and boot["accuracy"] >= 0.75,
        **({"reward held-out accuracy >= 0.75 on review pairs": review["accuracy"] >= 0.75}
           if review else {}),
        "best-of-4 by reward: outputs with unsupported down >= 50%":
            br["outputs_with_unsupported"] <= 0.5 * g["outputs_with_unsupported"],
        "best-of-4 by reward: ROUGE-L not lower by > 0.01": br["rougeL"] >= g["rougeL"] - 0.01,
        "improve: unsupported per output down": imp["child"]["unsupported_per_output"]
        < imp["parent"]["unsupported_per_output"],
        "improve: ROUGE-L within 0.01": abs(imp["child"]["rougeL"] - imp["parent"]["rougeL"]) <= 0.01,
        "reward scoring <= 30% of the N=4 job": b["reward_cost"] <= 0.30,
    }


def print_result(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    acc = r["reward"]["held_out"]
    t = Table(title=f"{r['catalog']}: reward model, held-out pairs ({r['reward']['pairs']})")
    for col in ("pairs", "n", "accuracy", "95% CI (Wilson)"):
        t.add_column(col, justify="right" if col != "pairs" else "left")
    groups = [("all", acc), ("bootstrap", pooled(acc, BOOTSTRAP)), ("  sampled drafts", pooled(acc, SAMPLED)),
              ("review", pooled(acc, REVIEW))]
    for name, blk in [*(g for g in groups if g[1]), *acc["by_source"].items()]:
        t.add_row(name, str(blk["pairs"]), f"{blk['accuracy']:.3f}",
                  f"{blk['ci95'][0]:.3f}-{blk['ci95'][1]:.3f}")
    console.print(t)
    b = r["best_of"]
    t = Table(title=f"{r['catalog']}: {b['n']} test products, greedy tuned vs best of {b['best_of']} samples")
    for col in ("metric", "tuned (greedy)", "best-of by reward", "by claims", "by reward - claims"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for m in ("outputs_with_unsupported", "unsupported_per_output", "rougeL", "coverage", "mean_words"):
        t.add_row(m, *(f"{b[s][m]:.3f}" for s in ("tuned", "best_of_reward", "best_of_claims",
                                                  "best_of_reward_claims")))
    console.print(t)
    s = b["seconds"]
    console.print(f"cost: generating {b['best_of']} samples per product {s['sample_n']} s, reward scoring "
                  f"{s['reward_score']} s (+{b['reward_cost']:.0%}; model load {s['reward_load']} s once), "
                  f"claim-checker pick {s['claim_pick']} s; greedy {s['greedy']} s")
    c = r["improve"]["comparison"]
    t = Table(title=f"{r['catalog']}: improve (GRPO, {r['improve']['steps']} steps, "
                    f"{r['improve']['train_seconds']:.0f} s) child vs parent, {c['n']} test products")
    for col in ("metric", "parent", "child", "change"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for m in ("unsupported_per_output", "outputs_with_unsupported", "rougeL", "coverage", "mean_words"):
        p, ch = c["parent"][m], c["child"][m]
        t.add_row(m, f"{p:.3f}", f"{ch:.3f}", f"{ch - p:+.3f}")
    console.print(t)
    console.print(f"GRPO reward, first half -> second half of training: {r['improve']['reward_first']} -> "
                  f"{r['improve']['reward_last']}")
    for goal, ok in goals(r).items():
        console.print(f"  {'[green]met[/]' if ok else '[red]missed[/]'}  {goal}")
    console.print(f"review: {r['review']['pairs']} preference pairs from {r['review']['products']} products; "
                  f"wall time {r['wall_seconds']} s (stages already done are skipped)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", choices=["demo", "luma", "all"], default="all")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "reward-bench")
    ap.add_argument("--steps", type=int, default=12, help="parent adapter training steps")
    ap.add_argument("--review-products", type=int, default=16)
    ap.add_argument("--reward-steps", type=int, default=40)
    ap.add_argument("--limit", type=int, default=None, help="train/val products for the bootstrap pairs")
    ap.add_argument("--reward-config", type=Path, default=None,
                    help="reward recipe (default configs/reward.yaml)")
    ap.add_argument("--n", type=int, default=4, help="best-of N")
    ap.add_argument("--test-limit", type=int, default=None, help="test products for best-of and improve")
    ap.add_argument("--improve-steps", type=int, default=12)
    ap.add_argument("--lock", choices=["run", "stage"], default="run",
                    help="hold /tmp/cpu.lock per run or per stage")
    args = ap.parse_args()
    names = ["demo", "luma"] if args.catalog == "all" else [args.catalog]
    for name in names:
        if not CATALOGS[name][0].exists():
            print(f"{name}: {CATALOGS[name][0]} not here, skipped")
            continue
        with cpu_lock(f"{name}: the whole loop") if args.lock == "run" else nullcontext():
            result = run(name, args)
        print_result(result)


if __name__ == "__main__":
    main()
