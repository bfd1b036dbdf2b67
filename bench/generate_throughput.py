"""Generation throughput: the naive loop a newcomer writes vs catalog-writer's engines.

Same products (data/demo-catalog.csv, cycled to --products), same prompts (the adapter's template),
exactly --new-tokens new tokens per product for every system (min_new_tokens = max_new_tokens), greedy.
(a) naive: one product at a time, fp32, adapter left unmerged (PeftModel).
(b) hf-batched: catalog_writer.inference.generate.Generator: bf16 where supported, adapter merged, prompts
    sorted by length, left-padded batches, decode-friendly attention on CPU.
(c) ct2: catalog_writer.inference.ct2_engine.Ct2Generator: the merged model converted once to CTranslate2
    (fp32; `ct2-int8` with --int8), same batches, decoded in C++ with the KV cache kept in place.
Each system runs in its own subprocess so peak RSS is its own. Model loading (and the one-time CTranslate2
conversion) is timed separately; throughput counts generation only. Other jobs on the machine slow every
system down: the load average is printed with each result. Last lines: `ratio: X` (ct2 tokens/s / naive
tokens/s) and `ratio_vs_hf_batched: Y`. --exemplars adds, for hf-batched and ct2, rows with one retrieved
exemplar in every prompt (about twice the prompt tokens) and with exemplars plus --best-of 4 (sampled).
--memory N runs N products through ct2 batch by batch (as a `generate` job does) and prints RSS per batch.

    python bench/generate_throughput.py [--adapter PATH] [--quick] [--exemplars] [--int8] [--memory 1000]
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


def with_exemplars(gen, prods) -> None:
    """Give the engine one retrieved exemplar per prompt (the demo's described products as the corpus)."""
    from catalog_writer.dataset.prompts import product_facts
    from catalog_writer.dataset.retrieval import ExemplarIndex, Exemplar, with_retrieval

    corpus = {p.id: Exemplar(id=p.id, title=p.title, facts=product_facts(p), description=p.description.strip())
              for p in prods if p.description.strip()}
    gen.template = with_retrieval(gen.template, 1, [e.description for e in corpus.values()])
    gen.exemplar_index = ExemplarIndex(list(corpus.values()))


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(system: str, spec: dict) -> dict:
    """Run one system in this process; returns its measurements."""
    import resource

    import torch

    from catalog_writer.inference.generate import GenerationSettings, Generator, load_template

    prods = products(Path(spec["catalog"]), spec["products"])
    n_new = spec["new_tokens"]
    case = spec.get("case", "plain")
    t0 = time.perf_counter()
    extra: dict = {}
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
        if system.startswith("ct2"):
            from catalog_writer.inference.ct2_engine import Ct2Generator

            gen = Ct2Generator(base_model=Path(spec["base"]), adapter=Path(spec["adapter"]),
                               compute_type="int8" if system == "ct2-int8" else "float32")
            dtype = gen.compute_type
        else:
            gen = Generator(base_model=Path(spec["base"]), adapter=Path(spec["adapter"]))
            dtype = str(next(gen.model.parameters()).dtype).replace("torch.", "")
        load_s = time.perf_counter() - t0
        if case != "plain":
            with_exemplars(gen, products(Path(spec["catalog"]), 10_000))
        settings = GenerationSettings(max_new_tokens=n_new, min_new_tokens=n_new, batch_size=spec["batch_size"],
                                      best_of=4 if case == "exemplars+best-of-4" else 1)
        if hasattr(settings, "copy_bias"):  # an HF-only logits processor: off for both engines, same work
            settings.copy_bias = 0.0
        extra["prompt_tokens"] = sum(gen.prompt_lengths(prods, settings)) / len(prods)
        counted = [0]
        c0, t1 = time.process_time(), time.perf_counter()
        if spec.get("memory"):  # batch by batch, as the journaled `generate` job does
            curve = []
            for i in range(0, len(prods), settings.batch_size):
                gen.generate(prods[i : i + settings.batch_size], settings,
                             progress=lambda _n, k: counted.__setitem__(0, counted[0] + k))
                curve.append(round(rss_mb()))
            extra["rss_curve"] = curve
        else:
            gen.generate(prods, settings, progress=lambda _n, k: counted.__setitem__(0, counted[0] + k))
        tokens = counted[0]
    seconds = time.perf_counter() - t1
    return {"system": system, "case": case, "products": len(prods), "tokens": int(tokens), "seconds": seconds,
            "cpu_seconds": time.process_time() - c0, "load_seconds": load_s, "dtype": dtype,
            "threads": torch.get_num_threads(), "loadavg": os.getloadavg()[0],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **extra}


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
    ap.add_argument("--exemplars", action="store_true", help="add exemplar and exemplar + best-of-4 rows")
    ap.add_argument("--int8", action="store_true", help="add a ct2-int8 row")
    ap.add_argument("--memory", type=int, help="only: N products through ct2 batch by batch, RSS per batch")
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
        if args.memory:
            r = run_subprocess("ct2", {**spec, "products": args.memory, "memory": True})
            curve = r["rss_curve"]
            print(f"ct2 memory: {r['products']} products x {args.new_tokens} new tokens in {len(curve)} batches, "
                  f"{r['tokens'] / r['seconds']:.1f} tok/s; RSS after the first batch {curve[0]} MB, after the "
                  f"last {curve[-1]} MB (max {max(curve)} MB, peak {r['peak_rss_mb']:.0f} MB)")
            return
        print(f"{args.products} products x {args.new_tokens} new tokens, cpu cores: {os.cpu_count()}")
        runs = [("naive", "plain"), ("hf-batched", "plain"), ("ct2", "plain")]
        runs += [("ct2-int8", "plain")] if args.int8 else []
        if args.exemplars:
            runs += [(s, c) for c in ("exemplars", "exemplars+best-of-4") for s in ("hf-batched", "ct2")]
        results = [run_subprocess(s, {**spec, "case": c}) for s, c in runs]
    print(f"{'system':10} {'case':19} {'dtype':8} {'batch':>5} {'prompt':>6} {'products/s':>10} {'tokens/s':>9} "
          f"{'gen s':>7} {'cpu s':>7} {'load s':>6} {'peak RSS':>9} {'loadavg':>7}")
    for r in results:
        batch = 1 if r["system"] == "naive" else args.batch_size
        prompt = f"{r['prompt_tokens']:.0f}" if "prompt_tokens" in r else "-"
        print(f"{r['system']:10} {r['case']:19} {r['dtype']:8} {batch:>5} {prompt:>6} "
              f"{r['products'] / r['seconds']:>10.3f} {r['tokens'] / r['seconds']:>9.1f} {r['seconds']:>7.1f} "
              f"{r['cpu_seconds']:>7.1f} {r['load_seconds']:>6.1f} {r['peak_rss_mb']:>6.0f} MB {r['loadavg']:>7.2f}")
    speed = {(r["system"], r["case"]): r["tokens"] / r["seconds"] for r in results}
    for r in results:
        per = 4 if r["case"].endswith("best-of-4") else 1
        assert r["tokens"] == args.products * args.new_tokens * per, f"unequal work: {r['system']} {r['case']}"
    print(f"ratio: {speed['ct2', 'plain'] / speed['naive', 'plain']:.2f}")
    print(f"ratio_vs_hf_batched: {speed['ct2', 'plain'] / speed['hf-batched', 'plain']:.2f}")


if __name__ == "__main__":
    main()
