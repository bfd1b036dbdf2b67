"""Retraining from feedback: child naming, held-out split, approved-edit selection, DPO and SFT children."""

from __future__ import annotations

import json

import pytest
from adapter_helpers import save_lora

from catalog_writer.improve import dpo

from catalog_writer.feedback import exports

from catalog_writer.improve import retrain
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.feedback.store import Store

GOOD = "Soft merino wool socks that keep feet warm on cold days."
BAD = "Hat hat hat hat hat."


def _prompt(i: int) -> list[dict]:
    return [{"role": "system", "content": "You write product copy."},
            {"role": "user", "content": f"Title: Wool socks model {i}\nMaterial: Merino"}]


def test_child_version_and_folder(tmp_path):
    parent = tmp_path / "adapters" / "aurora"
    assert retrain.child_version({"voice": "aurora", "version": "v3"}, parent) == ("aurora", "v4")
    assert retrain.child_version({}, parent) == ("aurora", "v2")  # no run.json: folder name, v1
    with pytest.raises(CatalogWriterError, match="vN"):
        retrain.child_version({"version": "latest"}, parent)
    assert retrain.child_dir(parent, "aurora", "v4", None) == tmp_path / "adapters" / "aurora-v4"
    sibling = tmp_path / "adapters" / "aurora-v4"  # e.g. a retrained child: a DPO child of v3 becomes v5
    sibling.mkdir(parents=True)
    (sibling / "run.json").write_text(json.dumps({"voice": "aurora", "version": "v4"}))
    assert retrain.child_version({"voice": "aurora", "version": "v3"}, parent) == ("aurora", "v5")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "adapter_config.json").write_text("{}")
    with pytest.raises(CatalogWriterError, match="already holds an adapter"):
        retrain.child_dir(parent, "aurora", "v4", taken)


def test_split_by_product_keeps_products_whole():
    rows = [{"prompt": _prompt(i), "product_id": f"p{i % 10}", "n": i} for i in range(40)]
    train, held = dpo.split_by_product(rows, 0.2, seed=1)
    held_ids = {r["product_id"] for r in held}
    assert len(held_ids) == 2 and len(held) == 8 and len(train) == 32
    assert not held_ids & {r["product_id"] for r in train}
    assert dpo.split_by_product(rows, 0.2, seed=1) == (train, held)  # deterministic
    with pytest.raises(CatalogWriterError, match="at least 2 products"):
        dpo.split_by_product([r for r in rows if r["product_id"] == "p0"])


def test_load_preferences_reports_the_row(tmp_path):
    f = tmp_path / "p.jsonl"
    ok = {"prompt": _prompt(1), "chosen": [{"role": "assistant", "content": GOOD}],
          "rejected": [{"role": "assistant", "content": BAD}]}
    f.write_text(json.dumps(ok) + "\n{broken\n")
    with pytest.raises(CatalogWriterError, match="row 2"):
        dpo.load_preferences(f)
    f.write_text(json.dumps(ok) + "\n" + json.dumps({**ok, "chosen": "plain"}) + "\n")
    with pytest.raises(CatalogWriterError, match="row 2.*chosen"):
        dpo.load_preferences(f)
    with pytest.raises(CatalogWriterError, match="not found"):
        dpo.load_preferences(tmp_path / "missing.jsonl")


def test_approved_edits_selection(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'fb.db'}")
    gens = {}
    for pid, version in (("p1", "tiny@v1"), ("p2", "tiny@v2"), ("p3", "other@v1"), ("test-1", "tiny@v1"),
                         ("p4", "tiny@v1"), ("p5", "tiny@v1")):
        sid = s.snapshot_product({"id": pid, "title": pid.upper(), "attributes": {"Material": "Wool"}}, "demo")
        gens[pid] = s.add_generation(sid, _prompt(1), "Original text.", version)
    for pid in ("p1", "p2", "p3", "test-1"):
        s.add_review(gens[pid], "ann", "approved", edited_text=f"Edited {pid}.")
    s.add_review(gens["p4"], "ann", "approved")  # approved without an edit: not an edit
    s.add_review(gens["p5"], "ann", "approved", edited_text="Edited p5.")
    s.add_review(gens["p5"], "bob", "rejected")  # the latest review decides
    records, counts = retrain.approved_edits(s, "tiny", {"test-1"})
    assert [r["id"] for r in records] == ["p1", "p2"]
    assert records[0]["completion"] == [{"role": "assistant", "content": "Edited p1."}]
    assert records[0]["prompt"] == _prompt(1) and records[0]["attributes"] == {"Material": "Wool"}
    assert counts == {"approved_edits": 4, "other_systems": 1, "test_products": 1}


# ---- training on the tiny model ----------------------------------------------------------------------

@pytest.fixture()
def parent_adapter(tiny_model_dir, tmp_path):
    """A LoRA adapter of the tiny model with run.json, as a trained voice would have."""
    return save_lora(tiny_model_dir, tmp_path / "adapters" / "tiny",
                     meta={"voice": "tiny", "version": "v1", "parent": None, "base_model": str(tiny_model_dir),
                           "method": "lora"},
                     r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")


def _preference_file(tmp_path) -> tuple[str, object]:
    """Store -> A/B choices on 10 products -> preference export (the path a user takes)."""
    s = Store(f"sqlite:///{tmp_path / 'fb.db'}")
    for i in range(10):
        sid = s.snapshot_product({"id": f"socks-{i}", "title": f"Wool socks {i}", "attributes": {}}, "demo")
        good = s.add_generation(sid, _prompt(i), GOOD, "tiny@v1")
        bad = s.add_generation(sid, _prompt(i), BAD, "tiny@v1")
        s.add_comparison(bad, good, "B", "ann")
    out = tmp_path / "pref.jsonl"
    assert exports.export("preference", out, s) == 10
    return out


def test_dpo_child_records_parent_and_wins(parent_adapter, tmp_path, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from catalog_writer.training import registry
    from catalog_writer.training.modeling import load_tokenizer

    prefs = _preference_file(tmp_path)
    meta = dpo.run_dpo(parent_adapter, prefs, max_steps=3, learning_rate=5e-3, batch_size=2, seed=0)
    child = parent_adapter.parent / "tiny-v2"
    saved = registry.read_adapter_meta(child)
    assert saved["parent"] == str(parent_adapter) and saved["version"] == "v2" and saved["voice"] == "tiny"
    assert saved["method"] == "dpo" and saved["metrics"]["steps"] == 3
    win = meta["metrics"]["dpo_win_rate_vs_parent"]
    assert win["pairs"] == 2 and 0 <= win["ci95"][0] <= win["win_rate"] <= win["ci95"][1] <= 1
    # three steps towards "chosen" at a high learning rate: the child prefers GOOD more than the parent did
    assert win["wins"] == 2 and win["mean_margin_child"] > win["mean_margin_parent"]
    assert not (parent_adapter.parent / ".tiny-v2.work").exists()  # checkpoints cleaned after success
    assert registry.resolve_voice("tiny@v2", tmp_path) == child.resolve()

    # The saved child alone (one adapter, no "ref") reproduces the reported margins when reloaded.
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(child))
    model.load_adapter(str(parent_adapter), adapter_name="ref")
    assert set(model.peft_config) == {"default", "ref"}
    _, held = dpo.split_by_product(dpo.load_preferences(prefs), 0.2, seed=0)
    again = dpo.preference_win_rate(model.float(), load_tokenizer(tiny_model_dir), held)
    assert again["wins"] == 2
    assert again["mean_margin_child"] == pytest.approx(win["mean_margin_child"], rel=0.05, abs=0.5)
    lora_b = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    changed = [not torch.equal(p, lora_b[n.replace(".default.", ".ref.")]) for n, p in lora_b.items()
               if ".default." in n]
    assert changed and any(changed)  # the child's weights moved away from the parent's


DEMO = __import__("pathlib").Path(__file__).resolve().parent.parent / "data" / "demo-catalog.csv"


def test_retrain_child_from_approved_edits(tiny_model_dir, tmp_path):
    """prepare -> train a parent -> approved edits in the store -> retrain -> child with parent + comparison."""
    from typer.testing import CliRunner

    from catalog_writer.ingest import catalog

    from catalog_writer.core.fileio import read_jsonl
    from catalog_writer.dataset import pairs

    from catalog_writer.training import registry
    from catalog_writer.app.cli import app
    from catalog_writer.training.train import run_training

    if not DEMO.exists():
        pytest.skip("data/demo-catalog.csv missing")
    data = tmp_path / "ds"
    pairs.prepare_dataset(catalog.read_catalog(DEMO), data)
    # one eval, no checkpoints: the recipe's per-epoch eval/checkpoints/tensorboard only slow a 1-step test
    quick = {"sft": {"eval_strategy": "steps", "eval_steps": 1, "save_strategy": "no",
                     "load_best_model_at_end": False, "report_to": []}}
    parent = run_training(data, tmp_path / "adapters" / "tiny", base_model=tiny_model_dir, method="lora",
                          max_steps=1, overrides=quick)
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    s = Store(url)
    train_recs, test_recs = read_jsonl(data / "train.jsonl")[:3], read_jsonl(data / "test.jsonl")[:1]
    for rec in train_recs + test_recs:
        gid = s.add_generation(s.snapshot_product(rec, "demo-catalog.csv"), rec["prompt"], "Model text.", "tiny@v1")
        s.add_review(gid, "ann", "approved", rating=5, edited_text=f"Edited: {rec['title']} in brand voice.")

    # too few approved edits: a user error (exit code 2 from the CLI), nothing trained
    res = CliRunner().invoke(app, ["retrain", "--adapter", str(parent), "--min-approved", "4", "--db", url])
    assert isinstance(res.exception, CatalogWriterError) and "3 usable approved edits" in str(res.exception)
    assert not (tmp_path / "adapters" / "tiny-v2").exists()

    result = retrain.run_retrain(parent, min_approved=3, db_url=url, max_steps=1, eval_limit=2,
                                 eval_max_new_tokens=12, train_overrides=quick)
    child = tmp_path / "adapters" / "tiny-v2"
    meta = registry.read_adapter_meta(child)
    assert meta["parent"] == str(parent) and meta["voice"] == "tiny" and meta["version"] == "v2"
    assert meta["metrics"]["extra_records"] == 9  # 3 approved edits x3; the test product's edit left out
    assert meta["metrics"]["retrain"]["skipped"]["test_products"] == 1
    cmp = result["comparison"]
    assert cmp["n"] == 2 and cmp["parent"]["model_version"] == "tiny@v1" and cmp["child"]["model_version"] == "tiny@v2"
    assert 0 <= cmp["child"]["rouge1"] <= 1 and "coverage" in cmp["parent"]
    assert registry.resolve_voice("tiny@v2", tmp_path) == child  # registered as a version, v1 stays active
    assert registry.resolve_voice("tiny", tmp_path) == parent

    # DPO from the same parent on the store's edit pairs: with the parent's dataset here it also runs the
    # test-split comparison, and `-o` names the child (voice tiny, next free version is still v2 by number)
    prefs = tmp_path / "pref.jsonl"
    assert exports.export("preference", prefs, s) == 4  # one "edit" pair per approved edit
    dpo_meta = dpo.run_dpo(parent, prefs, out=tmp_path / "adapters" / "tiny-dpo", max_steps=1, batch_size=2,
                               eval_limit=1, eval_max_new_tokens=8)
    assert dpo_meta["dataset"] == str(data)  # a DPO child can itself be retrained on the same data
    assert dpo_meta["parent"] == str(parent) and dpo_meta["metrics"]["dpo_win_rate_vs_parent"]["pairs"] == 1
    cmp = registry.read_adapter_meta(tmp_path / "adapters" / "tiny-dpo")["metrics"]["comparison_vs_parent"]
    assert cmp["n"] == 1 and set(cmp["parent"]) >= {"rouge1", "coverage", "unsupported_per_output"}
