"""Decoding benchmark: one tuned adapter on a prepared test split under several decoding settings.

A benchmark, not a test: it runs the real model (loaded once). Every variant decodes the same test prompts
with the same adapter and is scored like `evaluate` scores (ROUGE-L, attribute coverage, unsupported
claims per output and share of outputs with one, mean words):

  prompt-penalised   greedy, repetition_penalty 1.1 over prompt + output (transformers' own, the old way)
  generated-only     greedy, repetition_penalty 1.1 over the output only (processors.py, the default)
  no-repeat-3        greedy, no penalty; no 3-token n-gram repeated within the output
  no-repeat-4        the same with 4-token n-grams
  penalty+no-repeat-3  generated-only penalty and no-repeat-3 together
  budget-160         generated-only with the old fixed budget of 160 new tokens (else: the length profile)
  sample-1           the first of 4 samples (temperature 0.7, top-p 0.9): sampling without selection
  best-of-4          the most faithful of the same 4 samples (selection.py)
  best-of-4-strict   the same, unsupported sentences dropped before choosing

    flock /tmp/cpu.lock python bench/decoding.py runs/demo/data --adapter models/adapters/fernhill --limit 12
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

METRICS = ("rougeL", "coverage", "unsupported_per_output", "outputs_with_unsupported", "mean_words")


def decodings(greedy):
    """name -> settings of each decoding run (from evaluate's greedy settings with the dataset's budget)."""
    return {
        "prompt-penalised": greedy,  # decoded with the prompt counted, see main()
        "generated-only": greedy,
        "no-repeat-3": replace(greedy, repetition_penalty=1.0, no_repeat_ngram_size=3),
        "no-repeat-4": replace(greedy, repetition_penalty=1.0, no_repeat_ngram_size=4),
        "penalty+no-repeat-3": replace(greedy, repetition_penalty=1.1, no_repeat_ngram_size=3),
        "budget-160": replace(greedy, max_new_tokens=160),
        "samples-4": replace(greedy, best_of=4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="a `prepare` output folder (test.jsonl, template.json)")
    parser.add_argument("--adapter", type=Path, required=True)
    parser.add_argument("--base-model", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="predictions folder (re-runs reuse them)")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from catalog_writer.evaluation import evaluate
    from catalog_writer.inference import processors
    from catalog_writer.inference.generate import Generator
    from catalog_writer.inference.postprocess import postprocess
    from catalog_writer.inference.selection import Checker, pick
    from catalog_writer.quality.house import load_house
    from catalog_writer.quality.metrics import score_system
    from catalog_writer.training import modeling

    test_file = args.data / "test.jsonl"
    records = evaluate.load_records(test_file, args.limit)
    prompts = [r["prompt"] for r in records]
    greedy = evaluate.decoding_settings(test_file, batch_size=16)
    base = modeling.resolve_base(args.base_model or modeling.adapter_base(args.adapter))
    house = load_house(args.data)
    out = args.out or args.data.parent / "bench-decoding"
    out.mkdir(parents=True, exist_ok=True)
    train = evaluate.read_jsonl(args.data / "train.jsonl") if (args.data / "train.jsonl").is_file() else []
    avoid = None
    if any(r.get("exemplars") for r in records):  # as evaluate does: exemplars' facts are banned
        from catalog_writer.dataset.retrieval import records_leak_terms

        avoid = records_leak_terms(records, train)
    gen, generated_only = None, processors.generated_only
    raws, seconds = {}, {}
    for name, settings in decodings(greedy).items():
        if args.only and name not in args.only:
            continue
        cache = out / f"{name}.json"  # raw candidates per record: a re-run scores without decoding
        if cache.exists():
            raws[name], seconds[name] = json.loads(cache.read_text())
            continue
        gen = gen or Generator(base, args.adapter)
        # The old behaviour: the penalty counts every token from the first column, prompt included.
        processors.generated_only = (lambda s, width: generated_only(s, 0)) if name == "prompt-penalised" \
            else generated_only
        start = time.perf_counter()
        raws[name] = gen.generate_messages(prompts, settings, avoid)
        seconds[name] = time.perf_counter() - start
        processors.generated_only = generated_only
        cache.write_text(json.dumps([raws[name], seconds[name]]))
        print(f"{name}: {seconds[name]:.0f} s", file=sys.stderr)

    texts = {name: [postprocess(r[0], truncated=False) for r in rs] for name, rs in raws.items()}
    budgets = {name: s.effective().max_new_tokens for name, s in decodings(greedy).items()}
    if "samples-4" in raws:
        samples = [[postprocess(x, truncated=False) for x in r] for r in raws.pop("samples-4")]
        texts.pop("samples-4")
        checkers = [Checker.for_record(r, house) for r in records]
        texts["sample-1"] = [c[0] for c in samples]
        for name, strict in (("best-of-4", False), ("best-of-4-strict", True)):
            texts[name] = [pick(c, k, strict=strict)[0].text for c, k in zip(samples, checkers)]
        for name in ("sample-1", "best-of-4", "best-of-4-strict"):
            seconds[name], budgets[name] = seconds["samples-4"], budgets["samples-4"]
    rows = {name: {**score_system(t, records, house), "seconds": seconds[name], "max_new_tokens": budgets[name]}
            for name, t in texts.items()}
    refs = [r["completion"][0]["content"] for r in records]
    rows["reference"] = {**score_system(refs, records, house), "seconds": 0.0, "max_new_tokens": 0}
    (out / "texts.json").write_text(json.dumps(texts, ensure_ascii=False, indent=1))

    table = Table(title=f"{len(records)} test products of {args.data}, adapter {args.adapter}")
    for col in ("variant", *METRICS, "budget", "seconds"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, r in rows.items():
        table.add_row(name, *(f"{r[m]:.3f}" for m in METRICS), str(r["max_new_tokens"]), f"{r['seconds']:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
