"""Evaluation: tuned adapter vs base model zero-shot vs a copy baseline, on the same test products.

Both models get the test records' own prompts and the same greedy decoding settings. Outputs are
post-processed exactly as the batch job does before scoring. With a report folder every prediction is
appended to `predictions.jsonl` as soon as its batch is done, and a re-run reuses them (resumable).
The pure metrics live in `catalog_writer.quality.metrics` and are re-exported here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import append_jsonl, iter_jsonl, read_jsonl
from catalog_writer.evaluation.picking import filtered_drafts, record_picker
from catalog_writer.evaluation.report import SYSTEMS, print_summary, write_report
from catalog_writer.training.adapter import Adapter, open_adapter
from catalog_writer.quality.metrics import (  # noqa: F401  (re-exported: the team's evaluation API)
    attribute_coverage,
    copy_baseline,
    distinct_n,
    faithfulness_flags,
    missing_attributes,
    rouge_scores,
    score_lengths,
    score_system,
    unsupported_claims,
)

PREDICTIONS = "predictions.jsonl"


def load_records(test_file: Path, limit: int | None = None) -> list[dict]:
    """Test records with a reference completion; clear errors for a wrong file."""
    test_file = Path(test_file)
    if not test_file.is_file():
        raise CatalogWriterError("test file not found (run `catalog-writer prepare` first)", file=test_file)
    records = []
    for line, r in iter_jsonl(test_file):
        if not r.get("prompt") or not (r.get("completion") or [{}])[0].get("content"):
            raise CatalogWriterError("record has no prompt or reference completion", file=test_file, row=line)
        records.append(r)
    records = records[:limit] if limit else records
    if not records:
        raise CatalogWriterError("no test records to evaluate", file=test_file)
    return records


def dataset_template(test_file: Path):
    """The prompt template `prepare` wrote beside the test file (the default template without one)."""
    from catalog_writer.dataset.prompts import PromptTemplate

    path = Path(test_file).parent / "template.json"
    return PromptTemplate.load(path) if path.exists() else PromptTemplate()


def decoding_settings(test_file: Path, batch_size: int, copy_bias: float | None = None):
    """Greedy decoding, the generation defaults otherwise; the dataset's word target and token budget.
    `strict` stays False here: the greedy drafts are generated whole and stripped afterwards."""
    from catalog_writer.inference.generate import GenerationSettings

    template = dataset_template(test_file)
    settings = GenerationSettings(do_sample=False, num_variants=1, batch_size=batch_size,
                                  target_words=template.target_words, strict=False)
    # Copy guidance as generation applies it for this voice, unless given.
    settings = replace(settings, copy_bias=replace(settings, copy_bias=copy_bias).copy_bias_for(
        template.reference_self_similarity))
    settings.validate()
    # Tuned and base get the dataset's token budget (the base model's default template has no length profile).
    return replace(settings, max_new_tokens=settings.budget(template.length))


def _load_predictions(path: Path | None, key: str) -> dict[str, dict]:
    """Earlier predictions with the same system/model/settings key, by record id (resume)."""
    if path is None:
        return {}
    # A line cut by a crash is skipped: that product is generated again.
    return {str(row["id"]): row for row in read_jsonl(path, skip_broken=True) if row.get("key") == key}


def generate_system(
    name: str, records: list[dict], settings, base_model: Path | None, adapter: Adapter | Path | None,
    store: Path | None, progress, avoid: list[list[str]] | None = None, pick=None,
) -> tuple[list[str], str]:
    """Outputs of one model (base + optional adapter) for every record, reusing saved ones. `avoid[i]`:
    words of record i's exemplars' facts that decoding bans (inference/leakage.py); `pick(record, raws)`
    -> (raw, text) chooses among a record's candidates (best-of, see `picking.record_picker`)."""
    from catalog_writer.inference.generate import Generator
    from catalog_writer.inference.postprocess import postprocess

    adapter = open_adapter(adapter)
    version = adapter.model_version if adapter else "base"
    # Retraining an adapter in place changes its fingerprint: saved outputs of the old weights don't count.
    weights = adapter.fingerprint() if adapter else {}
    key = json.dumps([name, version, str(base_model), weights, asdict(settings.effective()), avoid]
                     + ([pick.key] if getattr(pick, "key", None) else []), sort_keys=True)  # ranked by a reward model
    done = _load_predictions(store, key)
    todo = [i for i, r in enumerate(records) if str(r["id"]) not in done]
    task = progress.add_task(f"{name} ({version})", total=len(records), completed=len(records) - len(todo))
    if todo:
        gen = Generator(base_model, adapter)
        try:
            # Similar prompt lengths in one batch waste little on padding.
            todo.sort(key=lambda i: -len(json.dumps(records[i]["prompt"])))
            for start in range(0, len(todo), settings.batch_size):
                chunk = todo[start : start + settings.batch_size]
                outs = gen.complete_messages([records[i]["prompt"] for i in chunk], settings,
                                             [avoid[i] for i in chunk] if avoid else None)
                raws = [[text for text, _, _ in out] for out in outs]
                # Post-processed as `generate` does it, so the scores are those of the copy it would write.
                rows = [
                    {"system": name, "key": key, "id": str(records[i]["id"]), "raw": out[0][0],
                     "text": postprocess(out[0][0], truncated=out[0][2]), "model_version": version}
                    for i, out in zip(chunk, outs)
                ]
                if pick is not None:
                    for row, i, raw in zip(rows, chunk, raws):
                        row["raw"], row["text"] = pick(records[i], raw)
                for row in rows:
                    done[row["id"]] = row
                if store is not None:
                    append_jsonl(store, rows)
                progress.advance(task, len(chunk))
        finally:
            gen.close()
    return [done[str(r["id"])]["text"] for r in records], version


def free_memory() -> None:
    """Give the previous model's memory back before the next one loads (cycles, CUDA cache)."""
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _merge_into_registry(adapter: Path, result: dict) -> bool:
    """Add the evaluation to a finished adapter's run.json (the registry owns the file)."""
    from catalog_writer.training import registry

    if not (adapter / registry.RUN_FILE).exists():
        return False  # not a finished, registered adapter: nothing to merge into
    tuned = result["tuned"]
    metrics = {f"test_{k}": tuned[k] for k in ("rouge1", "rouge2", "rougeL", "coverage",
                                               "unsupported_per_output", "distinct_2", "length_ratio")}
    metrics["evaluation"] = {k: result[k] for k in ("test_file", "n", "evaluated_at", "decoding", *SYSTEMS)
                             if k in result}
    registry.add_metrics(adapter, metrics)
    return True


def run_evaluation(
    test_file: Path,
    adapter: Path | None = None,
    base_model: Path | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    as_json: bool = False,
    report_dir: Path | None = None,
    ban_exemplar_facts: bool = True,
    with_base: bool = True,
    best_of: int = 1,
    strict: bool | None = None,
    reward: Path | None = None,
    drop_contradictions: bool = True,
    copy_bias: float | None = None,
) -> dict:
    """Score tuned (if an adapter is given), base, copy and neighbour systems; print, report, return the
    result. With `ban_exemplar_facts` decoding bans words of each prompt's exemplars' facts that the
    product lacks (as generation does). `strict` (None: generation's default for the dataset's brand,
    see GenerationSettings.strict) drops the unsupported sentences of the tuned and base drafts, as
    `generate` writes them; the drafts before it are the block `tuned_plain`. With `best_of` > 1 the
    adapter runs once more, keeping the most faithful of `best_of` samples per product, scored as the
    block `tuned_best_of`; `reward` (a reward model folder) ranks those samples instead."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from catalog_writer.training import modeling, weights

    settings = decoding_settings(test_file, batch_size, copy_bias)  # a bad option fails before any file is read
    share = dataset_template(test_file).reference_unsupported_share
    strict_on = replace(settings, strict=strict).strict_for(share)
    picked = replace(settings, best_of=best_of, strict=strict_on, drop_contradictions=drop_contradictions).validate()
    if best_of > 1 and adapter is None:
        raise CatalogWriterError("--best-of chooses among the tuned adapter's drafts: give --adapter")
    if reward is not None:
        from catalog_writer.inference.reward_scorer import read_reward_meta

        if best_of < 2:
            raise CatalogWriterError("--reward ranks the --best-of candidates: give --best-of 2 or more")
        read_reward_meta(reward)  # a wrong folder fails before any model loads
    records = load_records(test_file, limit)
    tuned = open_adapter(adapter)  # once: missing files or a corrupt run.json/template.json fail here
    if base_model is None and tuned is not None:
        base_model = tuned.base  # compare against the base it was tuned from
    base_model = modeling.resolve_base(base_model)
    if tuned is not None:  # another base's adapter: before any output
        weights.check_adapter_fits(tuned.path, base_model)
    store = None
    if report_dir is not None:
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        store = Path(report_dir) / PREDICTIONS

    preds: dict[str, list[str]] = {}
    versions: dict[str, str] = {}
    err = Console(stderr=True)  # progress on stderr keeps --json output clean
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    train_file = Path(test_file).parent / "train.jsonl"
    train = read_jsonl(train_file) if train_file.is_file() else []
    avoid = None
    if ban_exemplar_facts and any(r.get("exemplars") for r in records):
        from catalog_writer.dataset.retrieval import records_leak_terms

        avoid = records_leak_terms(records, train)
    with Progress(*columns, console=err) as progress:
        if adapter is not None:
            preds["tuned"], versions["tuned"] = generate_system(
                "tuned", records, settings, base_model, tuned, store, progress, avoid)
            free_memory()
            if best_of > 1:
                preds["tuned_best_of"], versions["tuned_best_of"] = generate_system(
                    "tuned_best_of", records, picked, base_model, tuned, store, progress, avoid,
                    pick=record_picker(strict_on, Path(test_file).parent, reward, drop_contradictions))
                free_memory()
        if with_base:  # off only in benchmarks that tune other things (it costs as much as the tuned run)
            preds["base"], versions["base"] = generate_system("base", records, settings, base_model, None,
                                                              store, progress, avoid)
    from catalog_writer.quality.house import load_house

    house = load_house(Path(test_file).parent)  # the brand's voice phrases are not claims (None when absent)
    if strict_on or drop_contradictions:  # as `generate` writes them: without unsupported (strict) or
        for name in ("tuned", "base"):  # contradicting sentences
            if name in preds:
                plain, preds[name] = preds[name], filtered_drafts(records, preds[name], house, strict_on)
                if name == "tuned" and preds[name] != plain:  # the drafts before, where that changed any
                    preds["tuned_plain"], versions["tuned_plain"] = plain, versions[name]
                versions[name] += " --strict" if strict_on else ""
    preds["copy"], versions["copy"] = [copy_baseline(r) for r in records], "copy"
    if train:  # the description of the most similar training product, as is
        from catalog_writer.dataset.retrieval import neighbour_baseline

        preds["neighbour"], versions["neighbour"] = neighbour_baseline(records, train), "neighbour"

    result: dict = {
        "test_file": str(test_file), "n": len(records), "base_model": str(base_model),
        "adapter": str(adapter) if adapter else None, "adapter_version": versions.get("tuned"),
        "decoding": asdict(replace(settings, strict=strict_on, drop_contradictions=drop_contradictions).effective()),
        "strict_from": ("--strict" if strict else "--no-strict") if strict is not None else
        f"default: the brand's reference sentences with an unsupported claim {share if share is not None else 'unmeasured'}",
        **({"decoding_best_of": asdict(picked.effective()),
            "best_of_ranking": f"reward model {reward}" if reward else "claim checker"} if "tuned_best_of" in preds
           else {}),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    published = [r["completion"][0]["content"] for r in train if r.get("completion")]  # the shop's pages
    for name, texts in preds.items():
        result[name] = {"model_version": versions[name], **score_system(texts, records, house, published)}
    # The human references through the same checks: how many "unsupported" claims real copy makes.
    refs = [r["completion"][0]["content"] for r in records]
    result["reference"] = {"model_version": "reference", **score_system(refs, records, house, published)}
    if adapter is not None:
        result["registry_updated"] = _merge_into_registry(Path(adapter), result)
    if report_dir is not None:
        result["report"] = str(write_report(Path(report_dir), result, records, preds))
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_summary(result)
    return result
