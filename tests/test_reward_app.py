"""The Write page with a reward model configured: variants ordered by reward, the score shown."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("streamlit")

from test_ui_apptest import _app, _small, _store, app_env  # noqa: F401  (app_env is a fixture)


@pytest.fixture()
def reward_env(app_env, tiny_model_dir, monkeypatch):  # noqa: F811
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from catalog_writer.training import registry

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"], task_type="SEQ_CLS"))
    out = app_env["tmp"] / "rewards" / "rm"
    model.save_pretrained(out)
    registry.write_adapter_meta(out, {"kind": "reward", "name": "rm", "base_model": str(tiny_model_dir),
                                      "window": 96})
    monkeypatch.setenv("CATALOG_WRITER_REWARD", str(out))
    return app_env


def test_write_page_orders_variants_by_reward(reward_env):
    at = _app("write_page.py")
    _small(at, "write")
    at.selectbox(key="write_product").set_value("heron-blanket")
    at.number_input(key="write_variants").set_value(3)
    at.button(key="write_generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    gens = _store(reward_env).generations(product_id="heron-blanket")
    assert len(gens) == 3 and all(isinstance(g["flags"].get("reward"), float) for g in gens)
    heads = [m.value for m in at.markdown if m.value.startswith("**#")]
    shown = [(int(re.match(r"\*\*#(\d+)", h).group(1)), float(re.search(r"reward ([+-][\d.]+)", h).group(1)))
             for h in heads]
    by_id = {g["id"]: g["flags"]["reward"] for g in gens}
    assert [gid for gid, _ in shown] == sorted(by_id, key=lambda i: -by_id[i])  # best first
    assert all(abs(score - round(by_id[gid], 2)) < 0.006 for gid, score in shown)
