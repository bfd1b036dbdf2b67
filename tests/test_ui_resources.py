"""The app's cached Generator follows its adapter folder: a retrain in place is served, not the old
weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from catalog_writer.app.ui import resources  # noqa: E402
from catalog_writer.training import registry  # noqa: E402


@pytest.fixture()
def loads(monkeypatch, tmp_path):
    """Every Generator the cache builds, as (base, adapter); a stand-in so no model is loaded."""
    from catalog_writer.inference import generate

    built: list[tuple[Path | None, Path | None]] = []

    class CountingGenerator:
        def __init__(self, base_model=None, adapter=None):
            built.append((base_model, adapter))

    monkeypatch.setattr(generate, "Generator", CountingGenerator)
    monkeypatch.setenv("CATALOG_WRITER_BASE", str(tmp_path / "base"))
    monkeypatch.delenv("CATALOG_WRITER_REWARD", raising=False)
    resources._generator.clear()
    yield built
    resources._generator.clear()


def _adapter(root: Path, weights: bytes, created: str) -> Path:
    out = root / "adapters" / "aurora"
    out.mkdir(parents=True, exist_ok=True)
    (out / "adapter_config.json").write_text('{"r": 4}')
    (out / "adapter_model.safetensors").write_bytes(weights)
    registry.write_adapter_meta(out, {"voice": "aurora", "version": "v1", "created_at": created})
    return out


def test_generator_is_cached_per_adapter_and_reloaded_after_a_retrain_in_place(loads, tmp_path):
    adapter = _adapter(tmp_path, b"A" * 64, "2026-01-01T00:00:00+00:00")
    first, _ = resources.generator(adapter)
    assert resources.generator(adapter)[0] is first and len(loads) == 1  # same folder, same files: cached
    assert resources.generator(None)[0] is not first and loads[-1] == (tmp_path / "base", None)

    # `train --force -o` the same folder: same-sized weights rewritten in place, run.json replaced atomically
    mtime = (adapter / "adapter_model.safetensors").stat().st_mtime_ns
    _adapter(tmp_path, b"B" * 64, "2026-01-02T00:00:00+00:00")
    os.utime(adapter / "adapter_model.safetensors", ns=(mtime + 10**9, mtime + 10**9))
    again, _ = resources.generator(adapter)
    assert again is not first and loads[-1] == (tmp_path / "base", adapter)
    assert resources.generator(adapter)[0] is again and len(loads) == 3


def test_adapter_stamp_changes_with_any_file_that_decides_the_output(tmp_path):
    adapter = _adapter(tmp_path, b"A" * 64, "2026-01-01T00:00:00+00:00")
    stamp = resources.adapter_stamp(adapter)
    assert [s[0] for s in stamp] == ["adapter_model.safetensors", "adapter_config.json", "run.json"]
    assert resources.adapter_stamp(adapter) == stamp and resources.adapter_stamp(None) == ()
    (adapter / "template.json").write_text("{}")
    with_template = resources.adapter_stamp(adapter)
    assert with_template != stamp
    (adapter / "adapter_config.json").write_text('{"r": 8}')  # a size change alone is seen too
    assert resources.adapter_stamp(adapter) not in (stamp, with_template)
