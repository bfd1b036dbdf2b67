"""Training throughput: a newcomer's TRL + LoRA setup against our recipe, on the same data.

(a) baseline: TRL defaults plus LoRA as usually first written: padded batches of 8, every row padded to
    max_length, gradient checkpointing on (TRL's default), fp32 (TRL's bf16 default refuses a GPU-less
    machine, so one sets bf16=False; the model is loaded in fp32). LoRA r=16 all-linear, lr 2e-4.
(b) recipe: the sft/lora sections of our recipes (configs/lora.yaml by default, so both sides are LoRA on the
    same bf16 weights; `--config configs/cpu-qlora.yaml` measures the QLoRA demo recipe): bf16 where the CPU
    has it, bfd packing = padding-free batches (which also makes length grouping moot), no gradient
    checkpointing, the recipe's packed rows of up to max_length per step (1 since the lr-1e-3 recipes).
Both train one epoch over the same records (steps differ: packing changes what a step holds) and are then
scored on the same validation records (completion-only loss). Each runs in its own subprocess so peak
RSS is clean. Throughput counts real (non-pad) tokens. Last line: `ratio: X.XX` (recipe / baseline).

    python bench/train_throughput.py [--quick] [--data DATASET_DIR_OR_CATALOG] [--base models/base]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
QUIET = {"report_to": "none", "eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False,
         "logging_steps": 1, "disable_tqdm": True}


def dataset_dir(source: Path, work: Path) -> Path:
    """A prepare folder: given directly, or built from a catalog file (demo CSV / shared Magento sample)."""
    if (source / "train.jsonl").exists():
        return source
    from catalog_writer.ingest import catalog
    from catalog_writer.dataset import pairs

    pairs.prepare_dataset(catalog.read_catalog(source), work / "data")
    return work / "data"


def records(data: Path, name: str, n: int) -> list[dict]:
    rows = [json.loads(line) for line in (data / f"{name}.jsonl").read_text().splitlines() if line.strip()]
    return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows[:n]]


def build(kind: str, base: Path, out: Path, max_length: int, config: Path):
    """(model, SFTConfig, LoraConfig) for one side of the comparison."""
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig

    from catalog_writer.training import modeling

    from catalog_writer.training import recipe

    if kind == "baseline":
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        args = SFTConfig(output_dir=str(out), per_device_train_batch_size=8, per_device_eval_batch_size=8,
                         max_length=max_length, pad_to_multiple_of=max_length, learning_rate=2e-4,
                         bf16=False, use_cpu=not torch.cuda.is_available(), num_train_epochs=1, **QUIET)
        lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                          task_type="CAUSAL_LM")
        return model, args, lora
    r = recipe.load_recipe(config,
                           overrides={"sft": {**QUIET, "num_train_epochs": 1, "max_length": max_length}})
    args = recipe.sft_config(r, out)
    method = "qlora" if r["model"].get("method") == "qlora" and modeling.qlora_available() else "lora"
    model = modeling.load_for_training(base, method, quantization=recipe.quantization_kwargs(r),
                                       gradient_checkpointing=args.gradient_checkpointing)
    return model, args, recipe.lora_config(r)


def worker(kind: str, data: Path, base: Path, n_train: int, n_val: int, max_length: int, config: Path) -> dict:
    """Train one side in this process and return its figures."""
    from datasets import Dataset
    from trl import SFTTrainer

    from catalog_writer.training import modeling

    with tempfile.TemporaryDirectory() as tmp:
        model, args, lora = build(kind, base, Path(tmp), max_length, config)
        trainer = SFTTrainer(model=model, args=args, peft_config=lora,
                             train_dataset=Dataset.from_list(records(data, "train", n_train)),
                             eval_dataset=Dataset.from_list(records(data, "val", n_val)),
                             processing_class=modeling.load_tokenizer(base, padding_side="right"))
        tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])  # before padding
        t0, cpu0 = time.perf_counter(), time.process_time()
        result = trainer.train()
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        val_loss = trainer.evaluate()["eval_loss"]
    return {"kind": kind, "steps": trainer.state.global_step, "tokens": tokens, "seconds": seconds,
            "tokens_per_second": tokens / seconds,
            "cpu_seconds": cpu_seconds, "tokens_per_cpu_second": tokens / cpu_seconds, "final_train_loss": losses[-1], "mean_train_loss":
            result.training_loss, "val_loss": val_loss, "gradient_checkpointing": args.gradient_checkpointing,
            "bf16": args.bf16, "packing": args.packing,
            "method": "qlora" if getattr(model, "is_loaded_in_4bit", False) else "lora",
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_side(kind: str, a: argparse.Namespace, data: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--data", str(data), "--base", str(a.base),
           "--n-train", str(a.n_train), "--n-val", str(a.n_val), "--max-length", str(a.max_length), "--config", str(a.config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1"}
    if a.threads:  # one thread measures cleanly on a machine shared with other jobs (no OMP spin-waits)
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(a.threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="8 records, max_length 256 (about a minute on 2 idle cores).")
    p.add_argument("--data", type=Path, help="prepare folder or catalog (default: data/demo-catalog.csv).")
    p.add_argument("--base", type=Path, default=REPO / "models" / "base")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-val", type=int, default=None)
    p.add_argument("--max-length", type=int, help="512 (quick: 256, truncating some records on both sides).")
    p.add_argument("--config", type=Path, default=REPO / "configs" / "lora.yaml", help="Recipe for side (b).")
    p.add_argument("--threads", type=int, help="torch threads per run (default: all cores).")
    p.add_argument("--worker", choices=["baseline", "recipe"], help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="Also print both results as JSON.")
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.data, a.base, a.n_train, a.n_val, a.max_length, a.config)))
        return
    a.n_train = a.n_train or (8 if a.quick else 32)
    a.n_val = a.n_val or (2 if a.quick else 8)
    a.max_length = a.max_length or (256 if a.quick else 512)
    source = a.data or REPO / "data" / "demo-catalog.csv"
    if not source.exists():
        source = REPO.parent / "shared" / "data" / "magento-luma"
        source = next(iter(sorted(source.glob("*.csv"))), source)
    if not a.threads and os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
        # Under other load, multi-threaded small-batch steps lose most of their time to OMP spin-waits.
        print(f"note: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              "for a clean comparison run idle or with --threads 1")
    with tempfile.TemporaryDirectory() as work:
        data = dataset_dir(source, Path(work))
        print(f"data: {source} ({a.n_train} train / {a.n_val} val records, max_length {a.max_length}), "
              f"{a.threads or os.cpu_count()} threads, {os.cpu_count()} cores")
        results = [run_side(kind, a, data) for kind in ("baseline", "recipe")]
    for r in results:
        print(f"{r['kind']:>8}: {r['tokens_per_second']:7.1f} non-pad tok/s  {r['steps']:3d} steps "
              f"{r['seconds']:6.1f} s ({r['tokens_per_cpu_second']:.1f} tok/CPU-s)  peak RSS {r['peak_rss_mb']:6.0f} MB  train loss {r['final_train_loss']:.3f} "
              f"(mean {r['mean_train_loss']:.3f})  val loss {r['val_loss']:.3f}  "
              f"[{r['method']} checkpointing={r['gradient_checkpointing']} bf16={r['bf16']} packing={r['packing']}]")
    if a.json:
        print(json.dumps(results))
    base, ours = results
    cpu_ratio = ours["tokens_per_cpu_second"] / base["tokens_per_cpu_second"]
    print(f"ratio per CPU-second (less sensitive to other load on the machine): {cpu_ratio:.2f}")
    print(f"ratio: {ours['tokens_per_second'] / base['tokens_per_second']:.2f}")


if __name__ == "__main__":
    main()
