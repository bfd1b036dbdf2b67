"""Learn from reviews: retrain a child adapter on the parent's data plus approved edits (SFT).

A child is a new version of its parent (`<voice>-v<N+1>` next to it unless `-o`) whose run.json records the
parent; parent and child are then scored with the evaluation code on the parent's held-out test split.
The helpers here (child naming, parent metadata, comparison) are shared with `catalog_writer.improve.dpo`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from catalog_writer.core.errors import CatalogWriterError

console = Console(stderr=True)
EDIT_WEIGHT = 3  # approved edits are few and deliberate: repeat them so they count against the original data


# ---- parent / child bookkeeping ----------------------------------------------------------------------

def parent_meta(adapter: Path) -> dict:
    """The parent's run.json (voice, version, base_model, dataset...); a clear error when it is not an adapter."""
    from catalog_writer.training import registry

    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").exists():
        raise CatalogWriterError("not an adapter folder (adapter_config.json missing)", file=adapter)
    return registry.read_adapter_meta(adapter) or {}


def child_version(meta: dict, adapter: Path) -> tuple[str, str]:
    """(voice, next free version): voice@vN -> vN+1, or past the newest version the voice already has."""
    from catalog_writer.training import registry

    voice = meta.get("voice") or Path(adapter).name
    m = re.fullmatch(r"v(\d+)", str(meta.get("version") or "v1"))
    if not m:
        raise CatalogWriterError(f"cannot number a child of version {meta.get('version')!r} (expected vN)",
                                 file=Path(adapter) / "run.json")
    return voice, registry.next_version(registry.models_root(adapter), voice, m.group(0))


@dataclass(frozen=True)
class Child:
    """A child adapter about to be trained: its parent's run.json, voice, next free version and folder."""

    meta: dict
    voice: str
    version: str
    out: Path

    @property
    def parent_version(self) -> str:
        return self.meta.get("version") or "v1"


def plan_child(adapter: Path, out: Path | None) -> Child:
    """Where and as what a child of a finished `adapter` goes (retrain, dpo and improve share this)."""
    meta = parent_meta(adapter)
    voice, version = child_version(meta, adapter)
    return Child(meta, voice, version, child_dir(adapter, voice, version, out))


def child_dir(adapter: Path, voice: str, version: str, out: Path | None) -> Path:
    """`-o` or a sibling folder `<voice>-<version>`; refuses to overwrite a finished adapter."""
    path = Path(out) if out is not None else Path(adapter).parent / f"{voice}-{version}"
    if (path / "adapter_config.json").exists():
        raise CatalogWriterError("already holds an adapter; choose another -o", file=path)
    return path


def base_of(adapter: Path, meta: dict, base_model: Path | None = None) -> Path:
    from catalog_writer.training import modeling

    return modeling.resolve_base(base_model or modeling.adapter_base(Path(adapter)) or meta.get("base_model"))


def register_child(voice: str, out: Path) -> None:
    """Add the child as a version of its voice (the active version stays, unless the voice had none)."""
    from catalog_writer.training import registry

    registry.register_voice(voice, out, root=registry.models_root(out))


# ---- evaluation of parent vs child -------------------------------------------------------------------

def compare_adapters(test_file: Path, parent: Path, child: Path, base_model: Path | None = None,
                     limit: int | None = None, batch_size: int = 16, max_new_tokens: int | None = None) -> dict:
    """Score parent and child with the evaluation code on the same held-out records and greedy decoding
    (`max_new_tokens` overrides the dataset's length budget, e.g. for a quick check), as `evaluate` does:
    exemplar facts banned in decoding, the dataset's house phrases not counted as claims."""
    from dataclasses import replace

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from catalog_writer.core.fileio import read_jsonl
    from catalog_writer.dataset.retrieval import records_leak_terms
    from catalog_writer.evaluation import evaluate
    from catalog_writer.quality.house import load_house
    from catalog_writer.quality.metrics import score_system

    records = evaluate.load_records(test_file, limit)
    train = Path(test_file).parent / "train.jsonl"
    avoid = records_leak_terms(records, read_jsonl(train)) \
        if train.is_file() and any(r.get("exemplars") for r in records) else None
    house = load_house(Path(test_file).parent)
    settings = evaluate.decoding_settings(test_file, batch_size)
    if max_new_tokens is not None:
        settings = replace(settings, max_new_tokens=max_new_tokens, target_words=None)
    result: dict = {"test_file": str(test_file), "n": len(records)}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        for name, path in (("parent", parent), ("child", child)):
            texts, version = evaluate.generate_system(name, records, settings, base_model, Path(path), None,
                                                      progress, avoid)
            result[name] = {"model_version": version, **score_system(texts, records, house)}
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
    from catalog_writer.feedback.exports import was_edited

    records, counts = [], {"approved_edits": 0, "other_systems": 0, "test_products": 0}
    for g in store.generations():
        if not (g["review"] and g["review"]["status"] == "approved" and was_edited(g)):
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
                base_model: Path | None = None, eval_max_new_tokens: int | None = None,
                train_overrides: dict[str, dict] | None = None) -> dict:
    """Child adapter = parent + SFT on (parent's training data + approved edits x weight); compare both.

    The child trains with the parent's recipe, method and base (`train_overrides` as in train.run_training).
    """
    from catalog_writer.training import registry
    from catalog_writer.training import train as train_mod
    from catalog_writer.feedback.store import Store
    from catalog_writer.core.fileio import read_jsonl

    if weight < 1:
        raise CatalogWriterError(f"--weight must be at least 1, not {weight}")
    adapter = Path(adapter)
    child = plan_child(adapter, out)
    meta, voice, version, out = child.meta, child.voice, child.version, child.out
    data = dataset_of(adapter, meta)
    test_file = data / "test.jsonl"
    test_ids = {str(r["id"]) for r in read_jsonl(test_file)} if test_file.exists() else set()
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
        version=version, voice=voice, overrides=train_overrides,
        resume=True,  # an interrupted retrain continues from its last checkpoint (none: starts fresh)
    )
    result = {"parent": str(adapter), "child": str(out), "approved_edits": len(records), "weight": weight,
              "skipped": counts}
    try:
        result["comparison"] = compare_adapters(test_file, adapter, out, base, limit=eval_limit,
                                                max_new_tokens=eval_max_new_tokens)
    except CatalogWriterError as e:  # the child is trained and saved; say why it could not be compared
        console.print(f"[yellow]no parent/child comparison: {e}[/]")
        result["comparison"] = None
    registry.add_metrics(out, {"retrain": result})
    if result["comparison"]:
        print_comparison(result["comparison"], f"{voice}: parent {meta.get('version', 'v1')} vs child {version}")
    return result

