"""training.adapter.Adapter: a folder opened once into weights, template, run metadata, version and base."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from adapter_helpers import save_lora

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.prompts import PromptTemplate
from catalog_writer.training import registry
from catalog_writer.training.adapter import Adapter, open_adapter

CATS = Path(__file__).parent / "fixtures" / "catalogs"


def _lora(base: Path, out: Path, run: dict | None = None) -> Path:
    """A real (random) LoRA adapter on `base` with a template and, unless None, a run.json."""
    return save_lora(base, out, seed=3, template=PromptTemplate(voice="Fernhill & Co."), meta=run,
                     r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("adapters") / "fern"
    return _lora(tiny_model_dir, out, {"voice": "fernhill", "version": "v3", "base_model": str(tiny_model_dir)})


def test_open_reads_the_folder_into_one_object(adapter_dir, tiny_model_dir):
    a = Adapter.open(adapter_dir)
    assert a.path == adapter_dir and a.model_version == "fernhill@v3" and a.rank == 4
    assert a.base == tiny_model_dir and a.meta["version"] == "v3"
    assert a.template.voice == "Fernhill & Co." and [w.name for w in a.weights] == ["adapter_model.safetensors"]
    assert open_adapter(a) is a and open_adapter(None) is None and open_adapter(adapter_dir) == a


def test_fingerprint_follows_the_weights_not_run_json(adapter_dir):
    before = Adapter.open(adapter_dir).fingerprint()
    registry.add_metrics(adapter_dir, {"test_rougeL": 0.2})  # evaluation writes run.json: same weights
    assert Adapter.open(adapter_dir).fingerprint() == before
    weights = adapter_dir / "adapter_model.safetensors"
    st = weights.stat()
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # retrained in place
    assert Adapter.open(adapter_dir).fingerprint() != before


def test_a_folder_trained_elsewhere_has_a_folder_version(tiny_model_dir, tmp_path):
    a = Adapter.open(_lora(tiny_model_dir, tmp_path / "bought", run=None))
    assert a.meta == {} and a.model_version == "bought@v1"
    assert a.base == tiny_model_dir  # from adapter_config.json's base_model_name_or_path


@pytest.mark.parametrize("name, text, needle", [
    ("run.json", "{", "not a valid run.json"),
    ("run.json", "[1]", "not a valid run.json (holds an array"),
    ("template.json", "{oops", "not a valid template.json"),
    ("template.json", '{"system": 5}', "'system' must be str"),
    ("adapter_config.json", "", "not a valid adapter_config.json"),
])
def test_a_corrupt_file_is_one_line_naming_it(adapter_dir, tmp_path, name, text, needle):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(adapter_dir, broken)
    (broken / name).write_text(text, encoding="utf-8")
    with pytest.raises(CatalogWriterError) as e:
        Adapter.open(broken)
    message = str(e.value)
    assert str(broken / name) in message and needle in message and "\n" not in message


def test_missing_folder_and_weights(adapter_dir, tmp_path):
    with pytest.raises(CatalogWriterError, match="adapter folder not found"):
        Adapter.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogWriterError, match="adapter_config.json missing"):
        Adapter.open(tmp_path / "empty")
    import shutil

    shutil.copytree(adapter_dir, tmp_path / "noweights")
    (tmp_path / "noweights" / "adapter_model.safetensors").unlink()
    with pytest.raises(CatalogWriterError, match="weights missing"):
        Adapter.open(tmp_path / "noweights")


def test_a_batch_job_opens_the_adapter_once(adapter_dir, tiny_model_dir, tmp_path, monkeypatch):
    from catalog_writer.inference import batch
    from catalog_writer.inference.settings import GenerationSettings

    opened = []
    real_open = Adapter.open.__func__
    monkeypatch.setattr(Adapter, "open", classmethod(lambda cls, path: opened.append(path) or real_open(cls, path)))
    out = batch.run_batch(CATS / "shopify_old.csv", tmp_path / "o.jsonl", adapter=adapter_dir, out_format="jsonl",
                          limit=1, settings=GenerationSettings(max_new_tokens=4))
    assert opened == [adapter_dir]  # template, version, fingerprint, base and weights from one read
    assert json.loads(out.read_text().splitlines()[0])["model_version"] == "fernhill@v3"
