"""Generation throughput: the naive loop a newcomer writes vs catalog-writer's batch engine.

Same products (data/demo-catalog.csv, cycled to --products), same prompts (the adapter's template),
exactly --new-tokens new tokens per product for both (min_new_tokens = max_new_tokens), greedy.
(a) naive: one product at a time, fp32, adapter left unmerged (PeftModel).
(b) engine: catalog_writer.inference.generate.Generator: bf16 where supported, adapter merged, prompts sorted by
    length, left-padded batches, decode-friendly attention on CPU.
Each system runs in its own subprocess so peak RSS is its own. Model loading is timed separately;
throughput counts generation only. Other jobs on the machine slow both down: the load average is
printed with each result. Last line: `ratio: X.XX` (engine tokens/s / naive tokens/s).

    python bench/generate_throughput.py [--adapter PATH] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def products(catalog: Path, n: int):
    from catalog_writer.ingest.catalog import read_catalog

    items = read_catalog(catalog).products
    return [items[i % len(items)] for i in range(n)]


def make_zero_step_adapter(base: Path, out: Path) -> Path:
    """A LoRA adapter with 0 training steps (B = 0: same outputs as the base), for the unmerged-PEFT cost."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base)
    get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear")).save_pretrained(out)
    return out


def worker(system: str, spec: dict) -> dict:
    """Run one system in this process; returns its measurements."""
    import resource

    import torch

    from catalog_writer.inference.generate import GenerationSettings, Generator, load_template

    prods = products(Path(spec["catalog"]), spec["products"])
    n_new = spec["new_tokens"]
    t0 = time.perf_counter()
    if system == "naive":
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(spec["base"])
        model = AutoModelForCausalLM.from_pretrained(spec["base"], dtype=torch.float32)
        model = PeftModel.from_pretrained(model, spec["adapter"]).eval()
        template = load_template(Path(spec["adapter"]))
        load_s = time.perf_counter() - t0
        c0, t1, tokens = time.process_time(), time.perf_counter(), 0
        for p in prods:
            enc = tok.apply_chat_template(template.messages(p), add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
            with torch.no_grad():
                out = model.generate(**enc, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False,
                                     pad_token_id=tok.pad_token_id)
            tokens += out.shape[1] - enc["input_ids"].shape[1]
            tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        dtype = "float32"
    else:
        gen = Generator(base_model=Path(spec["base"]), adapter=Path(spec["adapter"]))
        load_s = time.perf_counter() - t0
        settings = GenerationSettings(max_new_tokens=n_new, min_new_tokens=n_new, batch_size=spec["batch_size"])
        counted = [0]
        c0, t1 = time.process_time(), time.perf_counter()
        gen.generate(prods, settings, progress=lambda _n, k: counted.__setitem__(0, counted[0] + k))
        tokens = counted[0]
        dtype = str(next(gen.model.parameters()).dtype).replace("torch.", "")
    seconds = time.perf_counter() - t1
    return {"system": system, "products": len(prods), "tokens": int(tokens), "seconds": seconds,
            "cpu_seconds": time.process_time() - c0, "load_seconds": load_s, "dtype": dtype,
            "threads": torch.get_num_threads(), "loadavg": os.getloadavg()[0],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_subprocess(system: str, spec: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", system, "--spec", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if proc.returncode != 0:
        sys.exit(f"{system} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapter", type=Path, help="trained adapter folder (default: a 0-step LoRA)")
    ap.add_argument("--base", type=Path, default=REPO / "models" / "base")
    ap.add_argument("--catalog", type=Path, default=REPO / "data" / "demo-catalog.csv")
    ap.add_argument("--products", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--quick", action="store_true", help="8 products x 32 tokens (under a minute)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, json.loads(args.spec))))
        return
    if args.quick:
        args.products, args.new_tokens, args.batch_size = 8, 32, 8
    if not (args.base / "config.json").exists():
        sys.exit(f"no base model in {args.base}: run `catalog-writer models fetch`")
    with tempfile.TemporaryDirectory() as tmp:
        adapter = args.adapter
        if adapter is None:
            adapter = make_zero_step_adapter(args.base, Path(tmp) / "zero-step-lora")
            print("no --adapter given: using a LoRA adapter with 0 training steps (r=16, all linear layers); "
                  "it still costs the unmerged-PEFT overhead in the naive loop")
        spec = {"base": str(args.base), "adapter": str(adapter), "catalog": str(args.catalog),
                "products": args.products, "new_tokens": args.new_tokens, "batch_size": args.batch_size}
        print(f"{args.products} products x {args.new_tokens} new tokens, cpu cores: {os.cpu_count()}")
        results = [run_subprocess("naive", spec), run_subprocess("engine", spec)]
    print(f"{'system':8} {'dtype':9} {'batch':>5} {'products/s':>10} {'tokens/s':>9} {'gen s':>7} {'cpu s':>7} "
          f"{'load s':>6} {'peak RSS':>9} {'loadavg':>7}")
    for r, batch in zip(results, (1, args.batch_size)):
        print(f"{r['system']:8} {r['dtype']:9} {batch:>5} {r['products'] / r['seconds']:>10.3f} "
              f"{r['tokens'] / r['seconds']:>9.1f} {r['seconds']:>7.1f} {r['cpu_seconds']:>7.1f} "
              f"{r['load_seconds']:>6.1f} {r['peak_rss_mb']:>6.0f} MB {r['loadavg']:>7.2f}")
    naive, engine = results
    assert naive["tokens"] == engine["tokens"] == args.products * args.new_tokens, "unequal work"
    print(f"ratio: {(engine['tokens'] / engine['seconds']) / (naive['tokens'] / naive['seconds']):.2f}")


if __name__ == "__main__":
    main()
