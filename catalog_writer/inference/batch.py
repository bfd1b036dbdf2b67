"""`catalog-writer generate`: descriptions for a whole catalog, resumable, written back in its own format.

Resume: every finished batch is appended to `OUT.journal.jsonl` (one JSON line per product, flushed and
fsync'ed per batch). Each line carries the product id, a hash of the job settings (model, adapter
weights, decoding settings, engine) and a hash of the product's prompt. Re-running the same command
skips products whose line matches both hashes; a changed command or an edited product is regenerated.
A line cut short by a kill is ignored. The final file is written atomically from the journal, so every
product appears exactly once. The journal is removed after the final file is written (it holds nothing
the output and its flags file do not), so a later re-run starts fresh.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from catalog_writer.ingest.catalog import Catalog, Product, has_reference
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import append_jsonl, read_jsonl
from catalog_writer.inference.generate import Draft, GenerationSettings
from catalog_writer.training.adapter import Adapter, open_adapter

OUT_FORMATS = ("same", "csv", "jsonl")
ENGINES = ("auto", "hf", "ct2", "ct2-int8", "vllm")


def journal_path(out: Path) -> Path:
    return Path(out).with_name(Path(out).name + ".journal.jsonl")


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()[:16]


def job_hash(settings: GenerationSettings, *, engine: str, adapter: Adapter | None, base_model: Path | None,
             model_version: str) -> str:
    """Everything that changes a product's output. batch_size is left out (it does not change results);
    a retrained adapter in the same folder changes its weights' fingerprint."""
    s = asdict(settings.effective())
    s.pop("batch_size")
    return _sha({"settings": s, "engine": engine, "adapter": str(adapter.path.resolve()) if adapter else None,
                 "adapter_files": adapter.fingerprint() if adapter else {}, "model_version": model_version,
                 "base": str(Path(base_model).resolve()) if base_model else None})


def read_journal(path: Path, job: str) -> dict[str, dict]:
    """Journaled records of this job by product id (later lines win; broken lines are ignored)."""
    # skip_broken: the tail of a batch cut by a kill is generated again
    return {rec["id"]: rec for rec in read_jsonl(path, skip_broken=True) if rec.get("job") == job and "id" in rec}


def select_products(cat: Catalog, only_missing: bool, limit: int | None) -> list[Product]:
    # "Missing" = no usable description (catalog.has_reference): stubs like "Coming soon." get written too.
    products = [p for p in cat.products if not (only_missing and has_reference(p))]
    return products[:limit] if limit is not None else products


def resolve_engine(engine: str, settings: GenerationSettings | None = None, template=None) -> str:
    """`auto`: CTranslate2 fp32 where it is installed (same greedy text as hf, faster on CPU for plain
    prompts, see ct2_engine.py); hf when the settings need an HF-only logits processor or the prompts show
    exemplars (their per-row word bans make CTranslate2 decode rows one by one: slower than hf, measured)."""
    if engine != "auto":
        return engine
    from catalog_writer.inference import ct2_engine

    # Copy guidance (an HF logits processor) only acts on prompts with exemplars, which pick hf already.
    if getattr(template, "exemplars_k", 0) or not ct2_engine.available():
        return "hf"
    import torch

    return "hf" if torch.cuda.is_available() else "ct2"


def make_engine(engine: str, base_model: Path | None, adapter: Adapter | Path | None):
    engine = resolve_engine(engine)
    if engine in ("ct2", "ct2-int8"):
        from catalog_writer.inference.ct2_engine import Ct2Generator

        return Ct2Generator(base_model=base_model, adapter=adapter,
                            compute_type="int8" if engine == "ct2-int8" else "float32")
    if engine == "vllm":
        from catalog_writer.inference.vllm_engine import VllmGenerator

        return VllmGenerator(base_model=base_model, adapter=adapter)
    from catalog_writer.inference.generate import Generator

    return Generator(base_model=base_model, adapter=adapter)


def _record(job: str, product_hash: str, drafts: list[Draft]) -> dict:
    first = drafts[0]
    return {"id": first.product_id, "job": job, "product": product_hash, "model_version": first.model_version,
            "variants": [{"text": d.text, "html": d.html, "flags": d.flags, "new_tokens": d.new_tokens}
                         for d in drafts]}


def _flag_columns(rec: dict) -> dict[str, str]:
    """Side-file / extra columns: model version, faithfulness flags, extra variants."""
    first = rec["variants"][0]
    flags = first.get("flags") or {}
    cols = {"model_version": rec["model_version"],
            "unsupported": "; ".join(flags.get("unsupported", [])),
            "missing": "; ".join(flags.get("missing", [])),
            "coverage": "" if flags.get("coverage") is None else str(flags["coverage"])}
    for i, v in enumerate(rec["variants"][1:], start=2):
        cols[f"variant_{i}"] = v["html"]
    return cols


def _progress_bar():
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]generating"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
        console=Console(stderr=True),
    )


def run_batch(
    file: Path, out: Path, *, adapter: Adapter | Path | None = None, voice: str | None = None,
    base_model: Path | None = None, input_format: str | None = None, mapping: list[str] | None = None,
    only_missing: bool = False, limit: int | None = None, out_format: str = "same",
    settings: GenerationSettings | None = None, engine: str = "hf", models_root: Path = Path("models"),
    keep_journal: bool = False, generator=None, on_batch: Callable[[int], None] | None = None,
    runner: Callable | None = None, reward: Path | None = None,
) -> Path:
    """Generate descriptions for FILE and write OUT; see the module doc for resume semantics.

    `settings` default to GenerationSettings(); `generator` (an Engine) replaces loading one (tests, the
    app); `on_batch(i)` runs after batch i is journaled (tests use it to simulate a crash); `runner`
    generates the products elsewhere into the same journal (distributed.RayRunner: `--workers N`);
    `reward` (a reward model folder) ranks each product's candidates instead of the claim checker.
    """
    from catalog_writer.ingest import catalog
    from catalog_writer.ingest import writeback

    if out_format not in OUT_FORMATS:
        raise CatalogWriterError(f"unknown --format {out_format!r}: use same, csv or jsonl")
    if engine not in ENGINES:
        raise CatalogWriterError(f"unknown --engine {engine!r}: use {', '.join(ENGINES)}")
    if adapter and voice:
        raise CatalogWriterError("give --adapter or --voice, not both")
    if limit is not None and limit < 0:
        raise CatalogWriterError(f"--limit must be 0 or more (got {limit})")
    settings = (settings or GenerationSettings()).validate()  # before anything is read or loaded
    if voice:
        from catalog_writer.training.registry import resolve_voice

        adapter = resolve_voice(voice, models_root)
    adapter = open_adapter(adapter)  # once for the whole job: template, version, base, weights; errors now
    out = Path(out)
    if out.resolve() == Path(file).resolve():
        raise CatalogWriterError("-o must differ from the input file (the input is never overwritten)", file=out)

    cat = catalog.read_catalog(file, format=input_format, mapping=catalog.parse_mapping(mapping))
    products = select_products(cat, only_missing, limit)
    if generator is None:
        from catalog_writer.inference.generate import adapter_version, load_template

        template, version = load_template(adapter), adapter_version(adapter)
    else:
        template, version = generator.template, generator.model_version
    # The budget the engine will apply (the adapter's length profile) is part of the job.
    settings = settings.for_template(template)
    engine = resolve_engine(engine, settings, template) if generator is None else engine
    job = job_hash(settings, engine=engine, adapter=adapter, base_model=base_model, model_version=version)
    if reward is not None:  # another ranking is another job: its journal lines are not reused
        from catalog_writer.inference.reward_scorer import read_reward_meta

        if runner is not None:
            raise CatalogWriterError("--reward ranks candidates in this process: leave out --workers")
        job = _sha([job, str(Path(reward).resolve()), read_reward_meta(reward).get("created_at")])
    p_hash = {p.id: _sha(template.messages(p, target_words=settings.target_words)) for p in products}

    jpath = journal_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {pid: r for pid, r in read_journal(jpath, job).items() if r.get("product") == p_hash.get(pid)}
    todo = [p for p in products if p.id not in done]
    if todo and runner is not None:
        runner(todo, settings, done, jpath, job, p_hash, len(products), engine=engine, base_model=base_model,
               adapter=adapter.path if adapter else None, on_batch=on_batch)
    elif todo:
        gen = generator or make_engine(engine, base_model, adapter)
        if reward is not None:
            from catalog_writer.inference.reward_scorer import RewardScorer

            gen.reward = RewardScorer(reward)  # on the base it was trained on (its run.json)
        _generate(todo, settings, done, jpath, job, p_hash, gen, len(products), on_batch)

    chosen = [done[p.id] for p in products]
    texts = {r["id"]: (r["variants"][0]["text"] if cat.format == "merchant" else r["variants"][0]["html"])
             for r in chosen}  # Merchant Center descriptions are plain text
    extra = {r["id"]: _flag_columns(r) for r in chosen}
    if out_format != "same":
        for r in chosen:
            extra[r["id"]]["description_text"] = r["variants"][0]["text"]
    writeback.write_catalog(cat, texts, out, out_format=out_format, extra=extra)
    if not keep_journal:
        jpath.unlink(missing_ok=True)
    return out


def _generate(todo, settings, done, jpath, job, p_hash, gen, total, on_batch) -> None:
    """Generate `todo` in batches sorted by prompt length, journaling each batch."""
    if hasattr(gen, "prompt_lengths"):
        lengths = dict(zip((p.id for p in todo), gen.prompt_lengths(todo, settings)))
        todo = sorted(todo, key=lambda p: -lengths[p.id])
    start, tokens, n_done = time.perf_counter(), 0, 0
    with _progress_bar() as bar:
        task = bar.add_task("generate", total=total, completed=total - len(todo), rate="")
        for i in range(0, len(todo), settings.batch_size):
            chunk = todo[i : i + settings.batch_size]
            drafts = gen.generate(chunk, settings)
            records = [_record(job, p_hash[p.id], d) for p, d in zip(chunk, drafts)]
            append_jsonl(jpath, records)  # fsync'ed: a kill after this loses nothing
            for r in records:
                done[r["id"]] = r
            n_done += sum(len(d) for d in drafts)  # descriptions, variants included
            tokens += sum(v["new_tokens"] for r in records for v in r["variants"])
            dt = max(time.perf_counter() - start, 1e-9)
            bar.update(task, advance=len(chunk), rate=f"{n_done / dt:.2f} desc/s {tokens / dt:.0f} tok/s")
            if on_batch:
                on_batch(i // settings.batch_size)
