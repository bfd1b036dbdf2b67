"""run_evaluation end to end with the tiny model and a tiny LoRA adapter on a 4-record test set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from adapter_helpers import save_lora

from catalog_writer.evaluation import evaluate
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.prompts import PromptTemplate


PRODUCTS = [
    ("Fernhill Crew Sweater", {"Brand": "Fernhill", "Material": "Merino wool", "Color": "Navy, Grey"},
     "A soft crew sweater knitted from merino wool, in navy or grey."),
    ("Harbour Rain Jacket", {"Brand": "Fernhill", "Material": "Nylon", "Size": "S, M, L"},
     "A light nylon rain jacket that packs into its own pocket."),
    ("Oak Serving Board", {"Material": "Oak", "Length": "40 cm"},
     "A 40 cm serving board cut from solid oak."),
    ("Linen Tea Towel", {"Material": "Linen", "Color": "Sage"},
     "A sage linen tea towel that dries glasses without lint."),
]


@pytest.fixture()
def test_file(tmp_path) -> Path:
    """A dataset folder like `prepare` writes: test.jsonl plus template.json (short target length)."""
    data = tmp_path / "data"
    data.mkdir()
    template = PromptTemplate(target_words=4)  # keeps the token budget (and the test) small
    template.save(data / "template.json")
    with (data / "test.jsonl").open("w", encoding="utf-8") as f:
        for i, (title, facts, ref) in enumerate(PRODUCTS):
            rec = {"id": f"p{i}", "group": f"p{i}", "title": title, "attributes": facts,
                   "prompt": template.messages_from_facts(title, facts),
                   "completion": [{"role": "assistant", "content": ref}]}
            f.write(json.dumps(rec) + "\n")
    with (data / "train.jsonl").open("w", encoding="utf-8") as f:  # what the neighbour baseline copies
        for i, (title, facts, ref) in enumerate(TRAIN):
            f.write(json.dumps({"id": f"t{i}", "group": f"t{i}", "title": title, "attributes": facts,
                                "completion": [{"role": "assistant", "content": ref}]}) + "\n")
    return data / "test.jsonl"


TRAIN = [
    ("Fernhill Crew Cardigan", {"Brand": "Fernhill", "Material": "Merino wool", "Color": "Navy"},
     "A merino cardigan for cold mornings."),
    ("Harbour Rain Poncho", {"Brand": "Fernhill", "Material": "Nylon"}, "A nylon poncho for the harbour."),
    ("Walnut Serving Board", {"Material": "Walnut", "Length": "40 cm"}, "A walnut board for bread."),
]


@pytest.fixture()
def adapter(tiny_model_dir, tmp_path) -> Path:
    """A random (non-zero) LoRA adapter on the tiny model, with the template it was 'trained' with."""
    return save_lora(tiny_model_dir, tmp_path / "adapter", seed=1, template=PromptTemplate(target_words=4),
                     meta={"voice": "fernhill", "version": "v2", "metrics": {"train_loss": 1.5}},
                     r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)


def test_run_evaluation_end_to_end(test_file, adapter, tmp_path, capsys, monkeypatch):
    report = tmp_path / "report"
    result = evaluate.run_evaluation(test_file, adapter=adapter, batch_size=2, as_json=True, report_dir=report)
    printed = json.loads(capsys.readouterr().out)
    assert printed["n"] == 4 and printed["adapter_version"] == "fernhill@v2"
    assert printed["decoding"]["do_sample"] is False and printed["decoding"]["target_words"] == 4
    for system in ("tuned", "base", "copy", "neighbour", "reference"):
        block = printed[system]
        assert block["n"] == 4
        for key in ("rouge1", "rouge2", "rougeL", "coverage", "unsupported_per_output", "outputs_with_unsupported",
                    "mean_words", "length_ratio", "distinct_2"):
            assert isinstance(block[key], float) and 0.0 <= block[key] < 100, (system, key)
    # The copy baseline holds every fact, so it covers all of them and claims nothing unsupported.
    assert printed["copy"]["coverage"] == 1.0 and printed["copy"]["unsupported_per_output"] == 0.0
    assert printed["base"]["model_version"] == "base"

    rows = [json.loads(line) for line in (report / "predictions.jsonl").read_text().splitlines()]
    assert sorted((r["system"], r["id"]) for r in rows) == sorted(
        (s, f"p{i}") for s in ("tuned", "base") for i in range(4))
    tuned = {r["id"]: r["raw"] for r in rows if r["system"] == "tuned"}
    base = {r["id"]: r["raw"] for r in rows if r["system"] == "base"}
    assert tuned != base  # the adapter really was applied
    md = (report / "report.md").read_text()
    assert "| title | reference | tuned | base | copy | neighbour |" in md and "Harbour Rain Jacket" in md
    # The neighbour baseline is the nearest training product's description, unedited (same brand only).
    assert "A nylon poncho for the harbour." in md and printed["neighbour"]["model_version"] == "neighbour"
    # ... so every one of its outputs repeats a published page; the human references repeat none here.
    assert printed["neighbour"]["twins_of_published"] == 1.0 and printed["reference"]["twins_of_published"] == 0.0
    for png in ("rouge.png", "faithfulness.png", "length.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in md

    # The evaluation is merged into the adapter's run.json, training metrics kept.
    meta = json.loads((adapter / "run.json").read_text())
    assert meta["metrics"]["train_loss"] == 1.5 and printed["registry_updated"] is True
    assert meta["metrics"]["test_rougeL"] == printed["tuned"]["rougeL"]
    assert meta["metrics"]["evaluation"]["copy"] == printed["copy"]

    # A re-run reuses every saved prediction: no model is loaded at all.
    def no_model(*args, **kwargs):
        raise AssertionError("model loaded although all predictions were saved")

    monkeypatch.setattr("catalog_writer.inference.generate.Generator", no_model)
    again = evaluate.run_evaluation(test_file, adapter=adapter, batch_size=2, as_json=True, report_dir=report)
    capsys.readouterr()
    assert again["tuned"] == result["tuned"] and again["base"] == result["base"]


def test_cli_without_adapter_scores_base_and_copy(test_file, tiny_model_dir):
    from typer.testing import CliRunner

    from catalog_writer.app.cli import app

    res = CliRunner().invoke(app, ["evaluate", str(test_file), "--base-model", str(tiny_model_dir),
                                   "--limit", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert "tuned" not in out and out["adapter"] is None
    assert out["base"]["n"] == 2 and out["copy"]["n"] == 2


def test_user_errors(tmp_path, test_file, tiny_model_dir):
    with pytest.raises(CatalogWriterError, match="test file not found"):
        evaluate.run_evaluation(tmp_path / "missing.jsonl", base_model=tiny_model_dir)
    with pytest.raises(CatalogWriterError, match="adapter_config.json missing"):
        evaluate.run_evaluation(test_file, adapter=tmp_path, base_model=tiny_model_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "prompt": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(CatalogWriterError, match="no prompt or reference") as e:
        evaluate.run_evaluation(bad, base_model=tiny_model_dir)
    assert e.value.row == 1


@pytest.mark.real_model
def test_real_base_model_zero_shot(real_base_dir, test_file):
    """The embedded SmolLM2 through the same path: real text comes out and is scored (2 products)."""
    result = evaluate.run_evaluation(test_file, base_model=real_base_dir, limit=2, batch_size=2)
    assert result["base"]["n"] == 2 and result["base"]["mean_words"] > 0
    assert 0.0 <= result["base"]["rouge1"] <= 1.0 and "tuned" not in result
