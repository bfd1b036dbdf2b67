"""Scale-out: products/s of `generate` in one process vs on 1 and 2 Ray workers (same job, same output).

Same products (the first --limit of data/demo-catalog.csv), same greedy settings, the real base model
(or --adapter). Each configuration runs in its own subprocess: "process" is the single-process job
(torch's default threads), "ray xN" starts a local Ray cluster (timed apart as `ray start`) and runs
the job on N workers of 1 CPU thread each. `job s` counts everything after Ray is up: workers loading
the model, generating, the journal and the output file; products/s = products / job s. Last lines: the
2-vs-1-worker ratio and whether the three output files are byte-identical. On 2 cores, 2 workers share
the same cores the 1-worker job leaves half idle: the gain is small; the point is that more workers
are configuration, not code. Run it under `flock /tmp/cpu.lock` on a shared machine.

    python bench/scale_out.py [--limit 16] [--batch-size 4] [--max-new-tokens 64] [--adapter PATH]
                              [--base-model PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "data" / "demo-catalog.csv"


def run_one(workers: int, spec: dict) -> dict:
    """Run the job in this process (workers 0 = no Ray) and return its measurements."""
    from catalog_writer.inference import batch
    from catalog_writer.inference.settings import GenerationSettings

    settings = GenerationSettings(batch_size=spec["batch_size"], max_new_tokens=spec["max_new_tokens"])
    out = Path(spec["out"])
    runner = None
    if workers:
        from catalog_writer.inference.distributed import RayRunner

        runner = RayRunner(workers)
    t0 = time.perf_counter()
    batch.run_batch(CATALOG, out, adapter=spec["adapter"], base_model=spec["base_model"], limit=spec["limit"],
                    settings=settings, out_format="jsonl", runner=runner)
    wall = time.perf_counter() - t0
    startup = runner.startup_s if runner else 0.0
    return {"workers": workers, "ray_start_s": startup, "job_s": wall - startup,
            "sha": hashlib.sha256(out.read_bytes()).hexdigest()[:12], "load": os.getloadavg()[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--adapter", default=None)
    p.add_argument("--base-model", default=None, help="default: models/base (a tiny model makes a smoke run)")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child mode
    p.add_argument("--spec", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one is not None:
        print("RESULT " + json.dumps(run_one(a.one, json.loads(a.spec))), flush=True)
        return

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (0, 1, 2):
            spec = {"limit": a.limit, "batch_size": a.batch_size, "max_new_tokens": a.max_new_tokens,
                    "adapter": a.adapter, "base_model": a.base_model,
                    "out": str(Path(tmp) / f"out-{workers}.jsonl")}
            cmd = [sys.executable, __file__, "--one", str(workers), "--spec", json.dumps(spec)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1"})
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"workers={workers} failed:\n{proc.stderr[-3000:]}")
            rows.append(json.loads(line[len("RESULT "):]))

    print(f"\n{a.limit} products of {CATALOG.name}, batch {a.batch_size}, {a.max_new_tokens} new tokens max, "
          f"greedy, {os.cpu_count()} CPUs")
    print(f"| {'run':<10} | {'ray start s':>11} | {'job s':>7} | {'products/s':>10} | {'load avg':>8} "
          "| output |")
    print("|" + "|".join("-" * (w - 1) + ":" for w in (12, 13, 9, 12, 10)) + "|--------|")
    for r in rows:
        name = "process" if r["workers"] == 0 else f"ray x{r['workers']}"
        start = f"{r['ray_start_s']:.1f}" if r["workers"] else "-"
        print(f"| {name:<10} | {start:>11} | {r['job_s']:>7.1f} | {a.limit / r['job_s']:>10.3f} | "
              f"{r['load']:>8.1f} | {r['sha']} |")
    ratio = rows[1]["job_s"] / rows[2]["job_s"]
    print(f"ratio (2 workers / 1 worker products/s): {ratio:.2f}")
    print(f"identical outputs: {len({r['sha'] for r in rows}) == 1}")


if __name__ == "__main__":
    main()
