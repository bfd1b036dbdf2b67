"""Exports (SFT / preference / KTO JSONL), stats with Wilson intervals, the CLI, and TRL trainers on them."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from catalog_writer.feedback import exports
from catalog_writer.app.cli import app
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.feedback.store import Store

P1 = [{"role": "system", "content": "You write copy."}, {"role": "user", "content": "Title: Wool socks"}]
P2 = [{"role": "system", "content": "You write copy."}, {"role": "user", "content": "Title: Felt hat"}]


def _read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture()
def db(tmp_path):
    """A store with every kind of signal; the expected exports are worked out in the tests below."""
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    s = Store(url)
    socks = s.snapshot_product({"id": "socks", "title": "Wool socks", "attributes": {"Material": "Merino"}}, "demo")
    hat = s.snapshot_product({"id": "hat", "title": "Felt hat", "attributes": {"Material": "Felt"}}, "demo")
    g = {}
    g[1] = s.add_generation(socks, P1, "Soft socks.", "v1")
    g[2] = s.add_generation(socks, P1, "Warm socks for winter.", "v2")
    g[3] = s.add_generation(hat, P2, "A felt hat.", "v1")
    g[4] = s.add_generation(hat, P2, "Hat hat hat.", "v2")
    g[5] = s.add_generation(hat, P2, "A hand-made felt hat.", "v2")
    g[6] = s.add_generation(hat, P2, "Cheap hat.", "v2")
    s.add_review(g[1], "ann", "approved", rating=4, edited_text="Soft merino socks.", seconds=30)
    s.add_review(g[2], "bob", "rejected", rating=2)
    s.add_review(g[3], "ann", "approved", rating=5)
    s.add_review(g[4], "bob", "draft", rating=3)
    s.add_review(g[5], "bob", "approved", rating=5)
    s.add_review(g[6], "ann", "approved")
    s.add_review(g[6], "bob", "rejected")  # the latest review decides
    s.add_comparison(g[1], g[2], "A", "ann")  # v1 wins
    s.add_comparison(g[1], g[2], "tie", "bob")
    s.add_comparison(g[4], g[3], "left", "carol", a_side="right")  # B (g3, v1) was on the left and won
    s.g = g
    yield s
    s.close()


def test_sft_export(db, tmp_path):
    out = tmp_path / "sft.jsonl"
    assert exports.export("sft", out, db) == 3
    rows = _read(out)
    assert [r["completion"] for r in rows] == [[{"role": "assistant", "content": "Soft merino socks."}],
                                               [{"role": "assistant", "content": "A felt hat."}],
                                               [{"role": "assistant", "content": "A hand-made felt hat."}]]
    assert rows[0]["prompt"] == P1 and rows[0]["edited"] is True and rows[1]["edited"] is False
    assert [r["generation_id"] for r in rows] == [db.g[1], db.g[3], db.g[5]]


def test_kto_export(db, tmp_path):
    out = tmp_path / "kto.jsonl"
    assert exports.export("kto", out, db) == 5
    got = {(r["generation_id"], r["completion"][0]["content"], r["label"]) for r in _read(out)}
    g = db.g
    assert got == {(g[1], "Soft merino socks.", True), (g[2], "Warm socks for winter.", False),
                   (g[3], "A felt hat.", True), (g[5], "A hand-made felt hat.", True), (g[6], "Cheap hat.", False)}


def test_preference_export_sources_and_dedup(db, tmp_path):
    out = tmp_path / "pref.jsonl"
    assert exports.export("preference", out, db) == 4
    rows = _read(out)
    summary = [(r["source"], r["chosen"][0]["content"], r["rejected"][0]["content"], r["margin"]) for r in rows]
    # the rating pairs socks g1>g2 and hat g3>g4 repeat the A/B pairs: kept once, as "ab"
    assert summary == [
        ("ab", "Soft socks.", "Warm socks for winter.", None),
        ("ab", "A felt hat.", "Hat hat hat.", None),
        ("edit", "Soft merino socks.", "Soft socks.", None),
        ("rating", "A hand-made felt hat.", "Hat hat hat.", 2.0),
    ]
    assert rows[0]["prompt"] == P1 and rows[0]["comparison_id"] is not None and rows[0]["product_id"] == "socks"
    assert rows[2]["review_id"] is not None and rows[2]["rejected_generation_id"] == db.g[1]
    assert (rows[3]["chosen_generation_id"], rows[3]["rejected_generation_id"]) == (db.g[5], db.g[4])
    assert all(r["chosen"][0]["role"] == "assistant" for r in rows)


def test_export_errors_leave_no_file(tmp_path):
    empty = Store(f"sqlite:///{tmp_path / 'db' / 'empty.db'}")
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    with pytest.raises(CatalogWriterError, match="nothing to export"):
        exports.export("sft", out, empty)
    with pytest.raises(CatalogWriterError, match="--kind"):
        exports.export("rlhf", out, empty)
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["db", "out.jsonl"]


def test_wilson_interval():
    lo, hi = exports.wilson_interval(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)  # textbook value for 8/10
    assert exports.wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = exports.wilson_interval(0, 5)
    assert lo == 0.0 and 0.4 < hi < 0.5


def test_stats(db):
    st = exports.stats(db)
    assert st["by_status"] == {"approved": 3, "rejected": 2, "draft": 1}  # g6's latest review is a rejection
    assert st["by_model"]["v1"] == {"generations": 2, "approved": 2, "rejected": 0, "draft": 0, "unreviewed": 0,
                                    "edited": 1, "rated": 2, "mean_rating": 4.5}
    assert st["by_model"]["v2"]["rejected"] == 2 and st["by_model"]["v2"]["mean_rating"] == round(10 / 3, 3)
    assert st["by_reviewer"]["ann"]["reviews"] == 3 and st["by_reviewer"]["ann"]["comparisons"] == 1
    assert st["by_reviewer"]["carol"] == {"reviews": 0, "approved": 0, "rejected": 0, "draft": 0,
                                          "comparisons": 1, "seconds": 0.0}
    (ab,) = st["ab"]
    assert (ab["model_a"], ab["model_b"], ab["wins_a"], ab["wins_b"], ab["ties"], ab["comparisons"]) == \
        ("v1", "v2", 2, 0, 1, 3)
    assert ab["win_rate_a"] == 1.0 and ab["ci95_a"] == [round(x, 4) for x in exports.wilson_interval(2, 2)]
    # the A/B page's running curve: one point per decisive comparison (the tie is left out), ending on that row
    curve = exports.win_rate_curve(db.comparisons(), "v1", "v2")
    assert [p["comparison"] for p in curve] == [1, 2] and curve[-1]["win rate"] == ab["win_rate_a"]
    assert [curve[-1]["low"], curve[-1]["high"]] == ab["ci95_a"]
    assert exports.win_rate_curve(db.comparisons(), "v2", "v1")[-1]["win rate"] == 0.0


def test_cli_export_and_stats(db, tmp_path):
    runner = CliRunner()
    out = tmp_path / "kto.jsonl"
    res = runner.invoke(app, ["feedback", "export", "--kind", "kto", "-o", str(out), "--db", db.url])
    assert res.exit_code == 0, res.output
    assert len(_read(out)) == 5
    res = runner.invoke(app, ["feedback", "stats", "--json"], env={"CATALOG_WRITER_DB": db.url})
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["ab"][0]["wins_a"] == 2
    res = runner.invoke(app, ["feedback", "stats", "--db", db.url])
    assert res.exit_code == 0 and "Wilson" in res.stdout and "ann" in res.stdout
    # the real entry point: one line on stderr, exit code 2
    proc = subprocess.run([sys.executable, "-m", "catalog_writer.app.cli", "feedback", "export", "--kind", "nope",
                           "-o", str(tmp_path / "x.jsonl"), "--db", db.url], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("error:") and "Traceback" not in proc.stderr


# ---- TRL trainers accept the exported files (tiny random model, 1 step each) -------------------------

def _trainer_args(cls, tmp_path, **extra):
    return cls(output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=2, learning_rate=1e-4,
               bf16=False, activation_checkpointing=False, report_to=[], save_strategy="no", logging_steps=1,
               use_cpu=True, dataloader_num_workers=0, **extra)


def _load(tiny_model_dir):
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(tiny_model_dir), lora


@pytest.mark.parametrize("kind", ["sft", "preference", "kto"])
def test_trl_trainers_accept_exports(kind, db, tmp_path, tiny_model_dir):
    from datasets import load_dataset

    out = exports.export(kind, tmp_path / f"{kind}.jsonl", db) and tmp_path / f"{kind}.jsonl"
    ds = load_dataset("json", data_files=str(out), split="train")
    model, tok, lora = _load(tiny_model_dir)
    if kind == "sft":
        from trl import SFTConfig as Config
        from trl import SFTTrainer as Trainer
    elif kind == "preference":
        from trl import DPOConfig as Config
        from trl import DPOTrainer as Trainer
    else:
        from trl import KTOConfig as Config
        from trl import KTOTrainer as Trainer
    args = _trainer_args(Config, tmp_path, max_length=128)
    trainer = Trainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    result = trainer.train()
    assert result.global_step == 1
    assert math.isfinite(result.training_loss)
