"""Copy quality benchmark: prepare -> train -> evaluate on the demo catalog and the Magento Luma catalog.

A benchmark, not a test: it trains the real base model (minutes on a CPU). One table per catalog with
tuned / neighbour / copy / base / reference and the goal checks of issue 11:
  tuned ROUGE-L >= neighbour ROUGE-L + 0.03; share of outputs with an unsupported claim <= the human
  references' own share; attribute coverage >= 0.8; mean words within 25% of the references'.
The neighbour baseline is the description of the most similar training product, published unedited.
Luma (`../shared/data/magento-luma/configurable_products.csv`) is skipped when ../shared is absent.

    python bench/quality.py                       # default recipe, 12 steps (make demo trains 10), k=1
    python bench/quality.py --steps 20 --exemplars 2 --set sft.learning_rate=2e-3 --catalog demo
    python bench/quality.py --strict              # force --strict (default: the brand's, as `generate`)
`tuned` is what `generate` writes by default: `--strict` on for a brand whose own descriptions mostly pass
the claim checker (the demo), off otherwise (Luma); sentences contradicting a recorded fact go either way.
Where that changed a draft, `tuned, before filters` shows the drafts before, with its own goal checks.
Run real-model jobs one at a time on a shared machine: `flock /tmp/cpu.lock python bench/quality.py`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CATALOGS = {
    "demo": (REPO / "data" / "demo-catalog.csv", "Fernhill & Co."),
    "luma": (REPO.parent / "shared" / "data" / "magento-luma" / "configurable_products.csv", None),
}
SYSTEMS = ("tuned", "tuned_plain", "neighbour", "copy", "base", "reference")
LABELS = {"tuned_plain": "tuned, before filters"}
METRICS = (("rougeL", "ROUGE-L"), ("coverage", "coverage"), ("unsupported_per_output", "unsupported / output"),
           ("outputs_with_unsupported", "outputs with unsupported"), ("mean_words", "mean words"),
           ("near_twins", "near twins among outputs"), ("twins_of_published", "twins of a published page"))


def recipe_with(config: Path, overrides: list[str], folder: Path) -> Path:
    """The recipe with SECTION.KEY=VALUE overrides (YAML values), written to `folder`."""
    import yaml

    recipe = yaml.safe_load(config.read_text())
    for item in overrides:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        recipe.setdefault(section, {})[name] = yaml.safe_load(value)
    out = folder / "recipe.yaml"
    out.write_text(yaml.safe_dump(recipe))
    return out


def goals(result: dict, system: str = "tuned") -> dict[str, bool]:
    tuned, ref = result[system], result["reference"]
    return {
        "ROUGE-L >= neighbour + 0.03": tuned["rougeL"] >= result["neighbour"]["rougeL"] + 0.03,
        "outputs with unsupported <= reference": tuned["outputs_with_unsupported"] <= ref["outputs_with_unsupported"],
        "coverage >= 0.8": tuned["coverage"] >= 0.8,
        "mean words within 25% of reference": abs(tuned["mean_words"] / max(ref["mean_words"], 1e-9) - 1) <= 0.25,
    }


def print_table(name: str, result: dict, seconds: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    strict = "--strict" if result["decoding"]["strict"] else "--no-strict"
    table = Table(title=f"{name}: {result['n']} test products, {result['adapter_version']}, tuned and base "
                        f"{strict} ({result['strict_from']})")
    table.add_column("metric")
    shown = [s for s in SYSTEMS if s in result]
    for s in shown:
        table.add_column(LABELS.get(s, s), justify="right")
    for key, label in METRICS:
        table.add_row(label, *("-" if result[s].get(key) is None else f"{result[s][key]:.3f}" for s in shown))
    console = Console()
    console.print(table)
    for system in (s for s in ("tuned", "tuned_plain") if s in result):
        for goal, ok in goals(result, system).items():
            console.print(f"  {'PASS' if ok else 'FAIL'}  {LABELS.get(system, system)}: {goal}")
    console.print("  seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))


def run(name: str, args, work: Path) -> dict | None:
    from catalog_writer.dataset.pairs import prepare_dataset
    from catalog_writer.evaluation.evaluate import run_evaluation
    from catalog_writer.ingest.catalog import read_catalog

    path, voice = CATALOGS[name]
    if not path.exists():
        print(f"{name}: {path} not present, skipped")
        return None
    seconds, t0 = {}, time.perf_counter()
    data, adapter = work / name / "data", work / name / "adapter"
    prepare_dataset(read_catalog(path), data, voice=voice, exemplars=args.exemplars)
    seconds["prepare"] = time.perf_counter() - t0
    recipe = recipe_with(args.config, args.set, work / name)
    t0 = time.perf_counter()
    cmd = [str(Path(sys.executable).parent / "catalog-writer"), "train", str(data), "-o", str(adapter),
           "--config", str(recipe), "--force"] + (["--max-steps", str(args.steps)] if args.steps else [])
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL if args.quiet else None)
    seconds["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = run_evaluation(data / "test.jsonl", adapter=adapter, base_model=args.base, limit=args.limit,
                            report_dir=work / name / "report", as_json=False,
                            ban_exemplar_facts=not args.no_ban, with_base=not args.skip_base,
                            copy_bias=args.copy_bias, strict=args.strict)
    seconds["evaluate"] = time.perf_counter() - t0
    result["seconds"] = seconds
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalog", choices=[*CATALOGS, "all"], default="all")
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "cpu-qlora.yaml")
    ap.add_argument("--steps", type=int, default=12, help="training steps (make demo's DEMO_STEPS is 10); 0 = recipe")
    ap.add_argument("--exemplars", type=int, default=None, help="exemplars per prompt (default: prepare's)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="recipe override")
    ap.add_argument("--limit", type=int, default=None, help="evaluate the first N test products")
    ap.add_argument("--base", type=Path, default=None, help="base model folder (default: models/base)")
    ap.add_argument("--no-ban", action="store_true", help="do not ban exemplar facts in decoding")
    ap.add_argument("--copy-bias", type=float, default=None, help="copy guidance (default: generation's)")
    ap.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                    help="drop sentences with an unsupported claim (default: the brand's, as generate does)")
    ap.add_argument("--skip-base", action="store_true", help="leave the base model out (quicker iterations)")
    ap.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    if args.exemplars is None:
        from catalog_writer.dataset.retrieval import DEFAULT_EXEMPLARS

        args.exemplars = DEFAULT_EXEMPLARS
    names = list(CATALOGS) if args.catalog == "all" else [args.catalog]
    with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
        work = args.out or Path(tmp)
        results = {n: r for n in names if (r := run(n, args, work)) is not None}
    print(f"\nsettings: steps {args.steps}, exemplars {args.exemplars}, recipe {args.config.name} "
          f"{' '.join(args.set)}, ban exemplar facts {not args.no_ban}, copy bias {args.copy_bias}")
    for name, result in results.items():
        print_table(name, result, result["seconds"])
    summary = {n: {s: {k: round(r[s][k], 4) for k, _ in METRICS} for s in SYSTEMS if s in r}
               for n, r in results.items()}
    print("json: " + json.dumps(summary))


if __name__ == "__main__":
    main()
