"""Batch job: journal + resume after SIGKILL, stale-journal rejection, format round trips, formula
injection, the CLI wiring and the vLLM error path."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from adapter_helpers import save_lora
from engine_helpers import Spy

from catalog_writer.inference import batch
from catalog_writer.ingest.catalog import read_catalog
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.inference.generate import Engine, GenerationSettings, Generator
from catalog_writer.dataset.prompts import PromptTemplate

CATS = Path(__file__).parent / "fixtures" / "catalogs"
FORMAT_FILES = ["shopify_old.csv", "shopify_new.csv", "woocommerce.csv", "magento.csv", "merchant.tsv"]


class Fixed(Engine):
    """An engine that answers every prompt with one given text (to test escaping end to end)."""

    def __init__(self, text: str):
        self.text, self.template, self.model_version = text, PromptTemplate(), "fixed@v1"

    def _complete(self, prompts, s, progress, avoid=None):
        return [[(self.text, 5, False)] * s.candidates for _ in prompts]


def rows(path: Path, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline=""), delimiter=delimiter))


@pytest.fixture(scope="module")
def generator(varied_dir):
    return Generator(base_model=varied_dir, dtype="float32")


# ------------------------------------------------------------------------------------------ resume


def test_resume_after_sigkill(varied_dir, generator, tmp_path):
    src, out = CATS / "shopify_old.csv", tmp_path / "out.csv"
    n = len(read_catalog(src).products)
    assert n >= 3
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from catalog_writer.inference import batch
        from catalog_writer.inference.settings import GenerationSettings
        def die(i):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: a real crash
        batch.run_batch(Path({str(src)!r}), Path({str(out)!r}), base_model=Path({str(varied_dir)!r}),
                        settings=GenerationSettings(batch_size=2, max_new_tokens=8), on_batch=die)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == -9, proc.stderr[-2000:]
    journal = batch.journal_path(out)
    assert not out.exists() and journal.exists()
    first = [json.loads(line)["id"] for line in journal.read_text().splitlines()]
    assert len(first) == 2
    with journal.open("a") as f:
        f.write('{"id": "half-written')  # a batch cut mid-line by the kill must be ignored

    spy = Spy(generator)
    batch.run_batch(src, out, base_model=varied_dir, settings=GenerationSettings(batch_size=2, max_new_tokens=8),
                    generator=spy)
    ids = [p.id for p in read_catalog(src).products]
    assert sorted(spy.seen) == sorted(set(ids) - set(first))  # journaled products are not regenerated
    assert not journal.exists()  # removed after the final file is written
    again = read_catalog(out)
    assert [p.id for p in again.products] == ids  # every product exactly once
    assert all(p.description_html.startswith("<p>") for p in again.products)
    flags = rows(out.with_name(out.name + ".flags.csv"))
    assert flags[0][:3] == ["id", "row", "model_version"] and sorted(r[0] for r in flags[1:]) == sorted(ids)


def test_changed_settings_do_not_reuse_journal(generator, tmp_path):
    src, out = CATS / "shopify_old.csv", tmp_path / "out.csv"

    def crash(i):
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        batch.run_batch(src, out, settings=GenerationSettings(batch_size=1, max_new_tokens=6), generator=generator,
                        on_batch=crash)
    assert len(batch.journal_path(out).read_text().splitlines()) == 1
    n = len(read_catalog(src).products)
    spy = Spy(generator)  # another seed + sampling: a different job, nothing may be reused
    sampled = GenerationSettings(batch_size=4, max_new_tokens=6, do_sample=True, seed=3)
    batch.run_batch(src, out, settings=sampled, generator=spy, keep_journal=True)
    assert len(spy.seen) == n
    spy2 = Spy(generator)  # same job again, only the batch size differs: everything is reused
    batch.run_batch(src, out, settings=replace(sampled, batch_size=2), generator=spy2)
    assert spy2.seen == []


# ------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("name", FORMAT_FILES)
def test_same_format_round_trip_through_batch(generator, tmp_path, name):
    src, out = CATS / name, tmp_path / name
    cat = read_catalog(src)
    batch.run_batch(src, out, settings=GenerationSettings(max_new_tokens=8, batch_size=4), generator=generator, limit=2)
    again = read_catalog(out)
    assert again.format == cat.format and again.header == cat.header and len(again.table) == len(cat.table)
    col = cat.header.index(cat.description_column)
    changed = {i for i, (a, b) in enumerate(zip(cat.table, again.table)) if a != b}
    for i in changed:  # only description cells differ
        assert [c for j, c in enumerate(again.table[i]) if j != col] == [c for j, c in enumerate(cat.table[i]) if j != col]
    done = cat.products[:2]
    assert {p.main_row for p in done} <= changed
    for before, after in zip(cat.products, again.products):
        assert after.id == before.id and after.attributes == before.attributes and after.options == before.options
        if before in done:
            assert after.description and after.description != before.description
            assert ("<" in after.description_html) == (cat.format != "merchant")  # Merchant: plain text
        else:
            assert after.description_html == before.description_html


def test_only_missing_and_jsonl_csv_exports(generator, tmp_path):
    src = CATS / "shopify_old.csv"
    cat = read_catalog(src)
    missing = [p.id for p in cat.products if not p.description.strip()]
    spy = Spy(generator)
    out = batch.run_batch(src, tmp_path / "o.jsonl", out_format="jsonl", only_missing=True,
                          settings=GenerationSettings(max_new_tokens=8), generator=spy)
    assert sorted(spy.seen) == sorted(missing)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == [p.id for p in cat.products]
    for r in recs:
        assert bool(r.get("model_version")) == (r["id"] in missing)
    out_csv = batch.run_batch(src, tmp_path / "o.csv", out_format="csv", limit=1,
                              settings=GenerationSettings(max_new_tokens=8), generator=generator)
    header = rows(out_csv)[0]
    assert {"id", "description", "model_version", "unsupported", "missing", "description_text"} <= set(header)


@pytest.mark.parametrize("out_format", ["same", "csv"])
def test_formula_injection_escaped(tmp_path, out_format):
    evil = '=HYPERLINK("http://evil.example","x")\n- +cmd|calc'
    src = CATS / "merchant.tsv"  # plain-text description cells: the formula reaches the cell as is
    out = batch.run_batch(src, tmp_path / f"o.{out_format}", out_format=out_format, generator=Fixed(evil))
    delim = "\t" if out_format == "same" else ","
    cat = read_catalog(src)
    cells = [c for r in rows(out, delim)[1:] for c in r]
    ours = [c for c in cells if "HYPERLINK" in c]
    assert ours and all(c.startswith("'") for c in ours)
    if out_format == "same":
        again = read_catalog(out)
        assert again.products[0].description.startswith('=HYPERLINK("http://evil.example","x")')
        assert len(again.products) == len(cat.products)


# ------------------------------------------------------------------------------------ CLI and errors


def test_cli_generate_csv(varied_dir, tmp_path):
    from typer.testing import CliRunner

    from catalog_writer.app.cli import app

    out = tmp_path / "cli.csv"
    res = CliRunner().invoke(app, ["generate", str(CATS / "woocommerce.csv"), "-o", str(out), "--base-model",
                                   str(varied_dir), "--limit", "2", "--batch-size", "2", "--max-new-tokens",
                                   "6", "--format", "csv"])
    assert res.exit_code == 0, res.output
    body = rows(out)
    assert len(body) == 1 + len(read_catalog(CATS / "woocommerce.csv").products)
    assert sum(1 for r in body[1:] if r[body[0].index("description")]) == 2


def test_bad_options_and_missing_vllm(tmp_path):
    src = CATS / "shopify_old.csv"
    with pytest.raises(CatalogWriterError, match="not both"):
        batch.run_batch(src, tmp_path / "o.csv", adapter=tmp_path, voice="x")
    with pytest.raises(CatalogWriterError, match="--format"):
        batch.run_batch(src, tmp_path / "o.csv", out_format="xlsx")
    with pytest.raises(CatalogWriterError, match="differ"):
        batch.run_batch(src, src)
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(CatalogWriterError, match="pip install"):
            batch.make_engine("vllm", None, None)


@pytest.mark.gpu
def test_vllm_engine_runs(real_base_dir, tmp_path):
    out = batch.run_batch(CATS / "shopify_old.csv", tmp_path / "v.csv", base_model=real_base_dir, engine="vllm",
                          out_format="csv", settings=GenerationSettings(max_new_tokens=32))
    assert all(r[rows(out)[0].index("description")] for r in rows(out)[1:])


def _adapter(base: Path, out: Path, voice: str, version: str, seed: int) -> Path:
    return save_lora(base, out, seed=seed, template=PromptTemplate(voice=voice.title()),
                     meta={"voice": voice, "version": version, "base_model": str(base)},
                     r=4, target_modules="all-linear", init_lora_weights=False)


def test_voices_pick_their_adapter(varied_dir, tmp_path):
    from catalog_writer.training import registry

    root = tmp_path / "models"
    for voice, seed in (("fernhill", 1), ("aurora", 2)):
        registry.register_voice(None, _adapter(varied_dir, root / "adapters" / voice, voice, "v1", seed), root)
    src, texts = CATS / "shopify_old.csv", {}
    for voice in ("fernhill", "aurora"):
        out = batch.run_batch(src, tmp_path / f"{voice}.jsonl", voice=voice, models_root=root,
                              base_model=varied_dir, out_format="jsonl", limit=2,
                              settings=GenerationSettings(max_new_tokens=8))
        recs = [json.loads(line) for line in out.read_text().splitlines()][:2]
        assert {r["model_version"] for r in recs} == {f"{voice}@v1"}
        texts[voice] = [r["description"] for r in recs]
    assert texts["fernhill"] != texts["aurora"]  # a different adapter really ran
    with pytest.raises(CatalogWriterError, match="unknown voice"):
        batch.run_batch(src, tmp_path / "x.csv", voice="nobody", models_root=root)


def test_only_missing_includes_stub_descriptions():
    """"Missing" is the rule prepare uses: the demo's "Description coming soon." stub gets written too."""
    cat = read_catalog(Path(__file__).resolve().parent.parent / "data" / "demo-catalog.csv")
    chosen = batch.select_products(cat, only_missing=True, limit=None)
    stubs = [p for p in chosen if p.description.strip()]
    assert len(chosen) == 21 and len(stubs) == 1 and len(stubs[0].description.split()) < 8
    assert len(batch.select_products(cat, only_missing=False, limit=5)) == 5
