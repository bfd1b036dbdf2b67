"""Adapter metadata, models list, voices: register, promote, rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_writer.training import registry
from catalog_writer.core.errors import CatalogWriterError


def _adapter(root: Path, name: str, version: str, loss: float, finished: bool = True) -> Path:
    d = root / "adapters" / name
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text("{}")
    if finished:
        registry.write_adapter_meta(d, {"voice": "aurora", "version": version, "parent": None, "method": "qlora",
                                        "base_model": "models/base", "metrics": {"steps": 10, "eval_loss": loss},
                                        "created_at": "2026-11-22T08:00:00+00:00"})
    return d


def test_register_promote_rollback(tmp_path):
    v1 = _adapter(tmp_path, "aurora", "v1", 1.5)
    v2 = _adapter(tmp_path, "aurora-v2", "v2", 1.2)
    registry.register_voice("aurora", v1, tmp_path)
    registry.register_voice("aurora", v2, tmp_path)
    # The first version goes active by itself; later ones wait for promote.
    assert registry.resolve_voice("aurora", tmp_path).resolve() == v1.resolve()
    assert registry.resolve_voice("aurora@v2", tmp_path).resolve() == v2.resolve()
    registry.promote(tmp_path, "aurora@v2")
    assert registry.resolve_voice("aurora", tmp_path).resolve() == v2.resolve()
    registry.rollback(tmp_path, "aurora")
    assert registry.resolve_voice("aurora", tmp_path).resolve() == v1.resolve()
    voices = json.loads((tmp_path / "voices.json").read_text())["voices"]["aurora"]
    assert voices["versions"] == {"v1": "adapters/aurora", "v2": "adapters/aurora-v2"}  # relative to root
    assert [h["active"] for h in voices["history"]] == ["v1", "v2", "v1"]


def test_errors(tmp_path):
    v1 = _adapter(tmp_path, "aurora", "v1", 1.5)
    registry.register_voice(None, v1, tmp_path)
    with pytest.raises(CatalogWriterError, match="unknown voice 'nova'"):
        registry.resolve_voice("nova", tmp_path)
    with pytest.raises(CatalogWriterError, match="no version 'v9'"):
        registry.promote(tmp_path, "aurora@v9")
    with pytest.raises(CatalogWriterError, match="VOICE@VERSION"):
        registry.promote(tmp_path, "aurora")
    with pytest.raises(CatalogWriterError, match="nothing to roll back"):
        registry.rollback(tmp_path, "aurora")
    with pytest.raises(CatalogWriterError, match="run.json"):
        registry.read_adapter_meta(tmp_path / "adapters" / "missing")


def test_list_and_print(tmp_path, capsys):
    v1 = _adapter(tmp_path, "aurora", "v1", 1.5)
    _adapter(tmp_path, "broken", "v1", 0.0, finished=False)
    (v1 / "checkpoint-4").mkdir()
    (v1 / "checkpoint-4" / "adapter_config.json").write_text("{}")
    registry.register_voice("aurora", v1, tmp_path)
    rows = {Path(r["path"]).name: r for r in registry.list_adapters(tmp_path)}
    assert set(rows) == {"aurora", "broken"}  # checkpoints are not adapters
    assert rows["aurora"]["active"] and rows["aurora"]["metrics"]["eval_loss"] == 1.5
    assert rows["broken"]["status"] == "unfinished" and not rows["broken"]["active"]
    registry.print_models(tmp_path, as_json=True)
    data = json.loads(capsys.readouterr().out)
    assert data["base"] is None and len(data["adapters"]) == 2 and "aurora" in data["voices"]
    registry.print_models(tmp_path)
    out = capsys.readouterr().out
    assert "aurora" in out and "1.500" in out and "not fetched" in out


def test_add_metrics_merges_into_run_json(tmp_path):
    d = _adapter(tmp_path, "aurora", "v1", 1.5)
    meta = registry.add_metrics(d, {"test_rougeL": 0.3, "eval_loss": 1.4})
    assert meta["metrics"] == {"steps": 10, "eval_loss": 1.4, "test_rougeL": 0.3}  # others kept, same key replaced
    assert registry.read_adapter_meta(d) == meta and meta["voice"] == "aurora"
    (d / registry.RUN_FILE).write_text("[1, 2]")
    with pytest.raises(CatalogWriterError, match=r"run\.json.*not a JSON object"):
        registry.add_metrics(d, {"x": 1})
    assert (d / registry.RUN_FILE).read_text() == "[1, 2]"  # nothing written over a broken file
