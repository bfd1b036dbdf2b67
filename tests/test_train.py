"""SFT training on the tiny model: weights move, base stays, adapter reloads, resume after SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import killer_script, make_dataset, record

from catalog_writer.training import modeling

from catalog_writer.training import recipe

from catalog_writer.training import registry
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.training.modeling import sha256_file
from catalog_writer.training.train import run_training

REPO = Path(__file__).resolve().parent.parent
QUIET = {"sft": {"report_to": "none", "eval_strategy": "no", "save_strategy": "no",
                 "load_best_model_at_end": False, "logging_steps": 1}}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matrices: one thread is ~10x faster than two on a busy shared machine (OMP spin-waits)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def trained(tiny_model_dir, dataset, tmp_path_factory):
    """(adapter, base hash before training): 2 LoRA steps on the tiny model."""
    before = sha256_file(tiny_model_dir / "model.safetensors")
    out = tmp_path_factory.mktemp("models") / "adapters" / "tiny"
    run_training(dataset, out, base_model=tiny_model_dir, method="lora", max_steps=2, overrides=QUIET)
    return out, before


def test_two_steps_change_lora_and_keep_base(trained, tiny_model_dir):
    from safetensors.torch import load_file

    adapter, before = trained
    assert sha256_file(tiny_model_dir / "model.safetensors") == before
    lora = load_file(adapter / "adapter_model.safetensors")
    b_weights = [v for k, v in lora.items() if "lora_B" in k]
    assert b_weights, "no LoRA B matrices saved"
    # lora_B starts at zero: after two optimizer steps it must have moved.
    assert any(v.abs().sum() > 0 for v in b_weights)
    # The base weights inside a reloaded (unmerged) model are the original file's.
    model, _ = modeling.load_for_inference(tiny_model_dir, adapter, dtype="float32", merge=False)
    base = load_file(tiny_model_dir / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    inner = dict(model.named_parameters())
    loaded = next(v for k, v in inner.items() if k.endswith("layers.0.self_attn.q_proj.base_layer.weight"))
    assert (loaded.float() - base[name].float()).abs().max() == 0


def test_adapter_is_self_describing_and_generates(trained, tiny_model_dir, dataset):
    adapter, _ = trained
    meta = registry.read_adapter_meta(adapter)
    assert meta["method"] == "lora" and meta["version"] == "v1" and meta["voice"] == "tiny"
    assert meta["metrics"]["steps"] == 2 and math.isfinite(meta["metrics"]["final_train_loss"])
    assert meta["base_model_sha256"] == sha256_file(tiny_model_dir / "model.safetensors")
    assert meta["config"]["sft"]["learning_rate"] == pytest.approx(recipe.load_recipe(None)["sft"]["learning_rate"])
    assert meta["config"]["lora"]["r"] == 16
    assert json.loads((adapter / "template.json").read_text())["voice"] == "Test"
    assert not list(adapter.glob("checkpoint-*"))
    assert registry.resolve_voice("tiny", adapter.parent.parent).resolve() == adapter.resolve()

    stamp = (adapter / "run.json").stat().st_mtime_ns  # same data + recipe again: kept, not retrained
    run_training(dataset, adapter, base_model=tiny_model_dir, method="lora", max_steps=2, overrides=QUIET)
    assert (adapter / "run.json").stat().st_mtime_ns == stamp

    merged, tok = modeling.load_for_inference(None, adapter, dtype="float32")  # base found via run.json
    plain, _ = modeling.load_for_inference(tiny_model_dir, dtype="float32")
    w = lambda m: dict(m.named_parameters())["model.layers.0.self_attn.q_proj.weight"]
    assert (w(merged) - w(plain)).abs().max() > 0  # the LoRA delta was merged in
    ids = tok.apply_chat_template(record(0)["prompt"], add_generation_prompt=True, return_tensors="pt",
                                  return_dict=True)
    out = merged.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]


def test_parent_and_extra_records(trained, tiny_model_dir, dataset, tmp_path):
    adapter, _ = trained
    child = tmp_path / "adapters" / "tiny-v2"
    run_training(dataset, child, method="lora", max_steps=1, overrides=QUIET, parent=adapter,
                 extra_train_records=[record(7)] * 3)
    meta = registry.read_adapter_meta(child)
    # The child inherits the parent's voice and takes the next version number.
    assert meta["parent"] == str(adapter) and meta["voice"] == "tiny" and meta["version"] == "v2"
    assert meta["base_model"] == str(tiny_model_dir) and meta["metrics"]["extra_records"] == 3
    with pytest.raises(CatalogWriterError, match="message list"):
        run_training(dataset, tmp_path / "bad", base_model=tiny_model_dir, method="lora", max_steps=1,
                     overrides=QUIET, extra_train_records=[{"prompt": "not messages"}])
    with pytest.raises(CatalogWriterError, match="already there"):
        run_training(dataset, child, base_model=tiny_model_dir, method="lora", max_steps=1, overrides=QUIET)


def test_a_finished_adapter_with_another_config_is_refused_or_replaced(tiny_model_dir, dataset, tmp_path, capsys):
    """Same config (even after `prepare` rewrote manifest.json): kept. More steps: refused with what differs,
    unless --force. A run.json from before fingerprints still shows a changed step count and method."""
    out = tmp_path / "adapter"
    kw = dict(base_model=tiny_model_dir, method="lora", overrides=QUIET, register=False)
    run_training(dataset, out, max_steps=1, **kw)
    stamp = (out / "run.json").stat().st_mtime_ns
    manifest = dataset / "manifest.json"
    manifest.write_text(manifest.read_text().replace("{", '{"created_at": "later", ', 1))  # prepare ran again
    run_training(dataset, out, max_steps=1, **kw)
    assert (out / "run.json").stat().st_mtime_ns == stamp and "already trained" in capsys.readouterr().out

    with pytest.raises(CatalogWriterError, match=r"sft\.max_steps 1 -> 2.*--force"):
        run_training(dataset, out, max_steps=2, **kw)
    assert (out / "run.json").stat().st_mtime_ns == stamp  # refused: nothing touched
    run_training(dataset, out, max_steps=2, force=True, **kw)
    assert "replacing the adapter" in capsys.readouterr().out
    assert registry.read_adapter_meta(out)["metrics"]["steps"] == 2

    meta = registry.read_adapter_meta(out)  # as written before run.json kept the resolved config
    del meta["config"]["resolved"]
    registry.write_adapter_meta(out, meta)
    with pytest.raises(CatalogWriterError, match=r"model\.method lora -> qlora.*sft\.max_steps 2 -> 3"):
        run_training(dataset, out, max_steps=3, **{**kw, "method": "qlora"})
    run_training(dataset, out, max_steps=2, **kw)  # the legacy file's steps, method and base match: kept


def test_cli_refuses_another_config_in_one_line(tiny_model_dir, dataset, tmp_path, capsys, monkeypatch):
    """`catalog-writer train` again with more steps: exit 2, one line naming what differs."""
    from catalog_writer.app.cli import main

    args = ["catalog-writer", "train", str(dataset), "-o", str(tmp_path / "adapter"), "--base-model",
            str(tiny_model_dir), "--method", "lora", "--max-steps"]
    codes = []
    for steps in ("1", "2"):
        monkeypatch.setattr(sys, "argv", [*args, steps])
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main()
        codes.append(e.value.code)
    err = capsys.readouterr().err.strip().splitlines()  # of the second run
    assert codes == [0, 2] and len(err) == 1 and "Traceback" not in err[0]
    assert "sft.max_steps 1 -> 2" in err[0] and "--force" in err[0]


# Runs `catalog-writer ARGS` in a subprocess that SIGKILLs itself at the end of step KILL_AT_STEP, before
# that step's checkpoint could be written: a deterministic "killed between checkpoints".
KILLER = killer_script('from catalog_writer.app.cli import app\napp(sys.argv[1:], prog_name="catalog-writer")')


def test_killed_between_checkpoints_resumes_from_the_last_one(tiny_model_dir, tmp_path):
    """The CPU recipe checkpoints every 10 steps: killed at step 12 of 13, --resume restarts at step 10."""
    config = REPO / "configs" / "lora.yaml"
    sft = recipe.load_recipe(config)["sft"]
    assert (sft["save_strategy"], sft["save_steps"]) == ("steps", 10)
    data = make_dataset(tmp_path / "data", n_train=16, n_val=2)
    out = tmp_path / "run"
    args = ["train", str(data), "-o", str(out), "--config", str(config), "--base-model", str(tiny_model_dir),
            "--max-steps", "13"]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "KILL_AT_STEP": "12"}
    killed = subprocess.run([sys.executable, "-c", KILLER, *args], cwd=REPO, env=env, capture_output=True,
                            text=True, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert [d.name for d in out.glob("checkpoint-*")] == ["checkpoint-10"] and not (out / "run.json").exists()

    with pytest.raises(CatalogWriterError, match="--resume"):  # no silent restart over checkpoints
        run_training(data, out, config=config, base_model=tiny_model_dir, max_steps=13)
    run_training(data, out, config=config, base_model=tiny_model_dir, max_steps=13, resume=True)
    metrics = registry.read_adapter_meta(out)["metrics"]
    assert metrics["resumed_from_step"] == 10  # lost 2 steps, not 12
    assert metrics["steps"] == 13


def test_default_recipe_trains_qlora_not_just_loads_it(tiny_model_dir, dataset, tmp_path, monkeypatch):
    """The default recipe (cpu-qlora) on the tiny model: 4-bit nf4 base, LoRA on top, and the validation
    loss falls over 4 steps (a 4-bit model that ran generate() first would load fine and then stall)."""
    if modeling.qlora_problem() is not None:
        pytest.skip(f"bitsandbytes 4-bit not available here: {modeling.qlora_problem()}")
    from safetensors.torch import load_file

    from catalog_writer.training import train

    trainers, build = [], train.build_trainer
    monkeypatch.setattr(train, "build_trainer", lambda *a, **kw: trainers.append(build(*a, **kw)) or trainers[-1])
    out = tmp_path / "adapter"
    run_training(dataset, out, base_model=tiny_model_dir, max_steps=4, register=False, overrides={"sft": {
        **QUIET["sft"], "eval_strategy": "steps", "eval_steps": 4, "eval_on_start": True, "learning_rate": 1e-2}})
    meta = registry.read_adapter_meta(out)
    assert meta["method"] == "qlora" and meta["method_fallback"] is None and meta["metrics"]["steps"] == 4
    assert meta["config"]["model"]["bnb_4bit_quant_type"] == "nf4"
    base = trainers[0].model.get_base_model()
    assert type(base.model.layers[0].mlp.down_proj.base_layer).__name__ == "Linear4bit"
    evals = [h["eval_loss"] for h in trainers[0].state.log_history if "eval_loss" in h]
    assert len(evals) == 2 and evals[1] < evals[0] - 0.05, evals  # it learned (random start ~ ln 512 = 6.24)
    assert any(v.abs().sum() > 0 for k, v in load_file(out / "adapter_model.safetensors").items() if "lora_B" in k)


@pytest.fixture()
def no_4bit_kernel(monkeypatch):
    """bitsandbytes as on a machine without 4-bit kernels (the probe's result is cached: clear it)."""
    F = pytest.importorskip("bitsandbytes.functional")

    def fail(*a, **kw):
        raise NotImplementedError("no 4-bit kernel for this device\nsecond line")

    monkeypatch.setattr(F, "quantize_4bit", fail)
    modeling.qlora_problem.cache_clear()
    yield F
    modeling.qlora_problem.cache_clear()  # monkeypatch restores quantize_4bit after this; probe again then


def test_qlora_fallback_is_recorded_and_printed_with_its_reason(no_4bit_kernel, tiny_model_dir, dataset, tmp_path,
                                                                capsys):
    out = tmp_path / "adapter"
    run_training(dataset, out, base_model=tiny_model_dir, method="qlora", max_steps=1, overrides=QUIET,
                 register=False)
    meta = registry.read_adapter_meta(out)
    reason = "NotImplementedError: no 4-bit kernel for this device"
    assert meta["method"] == "lora" and meta["method_requested"] == "qlora" and reason in meta["method_fallback"]
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("adapter saved:") and "lora, fell back from qlora" in summary and reason in summary


def test_a_bug_in_the_4bit_probe_is_not_taken_for_a_missing_kernel(no_4bit_kernel, monkeypatch):
    def bug(*a, **kw):
        raise TypeError("quantize_4bit() got an unexpected keyword argument")

    monkeypatch.setattr(no_4bit_kernel, "quantize_4bit", bug)
    with pytest.raises(TypeError):
        modeling.qlora_problem()


class Killed(Exception):
    """Stands in for a SIGKILL in-process: raised at the end of a step, before its checkpoint."""


def _die_at(step: int):
    from transformers import TrainerCallback

    from catalog_writer.training import train

    class Die(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Killed(step)

    build = train.build_trainer
    return lambda *a, **kw: (trainer := build(*a, **kw), trainer.add_callback(Die()))[0]


def test_train_page_restart_resumes_from_the_last_checkpoint(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """The Train page's commands, run as its job runner runs them (Restart runs them again): the train
    command carries --resume, so a job killed at step 12 of 13 continues from checkpoint-10."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from catalog_writer.app import jobs
    from catalog_writer.app.cli import main
    from catalog_writer.training import train

    for key, value in {"BASE": tiny_model_dir, "DB": f"sqlite:///{tmp_path / 'f.db'}", "MODELS": tmp_path / "models",
                       "RUNS": tmp_path / "runs", "CATALOG": REPO / "tests" / "fixtures" / "ui" / "shop.csv"}.items():
        monkeypatch.setenv(f"CATALOG_WRITER_{key}", str(value))
    monkeypatch.setattr(jobs, "_launch", lambda job: None)  # this test runs the commands itself
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60).run()
    at.switch_page("catalog_writer/app/ui/train_page.py").run()
    at.text_input(key="train_name").input("shop")
    at.selectbox(key="train_method").set_value("lora")
    at.number_input(key="train_steps").set_value(13)
    at.number_input(key="train_eval").set_value(0)
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = jobs.load_job(Path(at.session_state["train_job"]))
    prepare, train_cmd = job.commands
    assert train_cmd[0] == "train" and "--resume" in train_cmd

    def run(cmd):
        monkeypatch.setattr(sys, "argv", ["catalog-writer", *cmd])
        with pytest.raises(SystemExit) as e:
            main()
        return e.value.code

    assert run(prepare) == 0
    with monkeypatch.context() as m:
        m.setattr(train, "build_trainer", _die_at(12))
        with pytest.raises((Killed, SystemExit)):  # SystemExit if the CLI ever wraps unexpected errors
            run(train_cmd)
    out = Path(job.meta["adapter"])
    assert [d.name for d in out.glob("checkpoint-*")] == ["checkpoint-10"]
    assert run(prepare) == 0 and run(train_cmd) == 0  # what Restart runs
    metrics = registry.read_adapter_meta(out)["metrics"]
    assert (metrics["resumed_from_step"], metrics["steps"]) == (10, 13)
    assert run(prepare) == 0 and run(train_cmd) == 0  # restarted after a later step failed: kept
    assert "already trained" in capsys.readouterr().out


# --- recipes ----------------------------------------------------------------------------------------------

def _is_training_recipe(path: Path) -> bool:
    """configs/ also holds accelerate, reward and improve configs: training recipes have an `sft:` section."""
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    return isinstance(data, dict) and "sft" in data and set(data) <= set(recipe.SECTIONS)


RECIPES = sorted(p for p in (REPO / "configs").glob("*.yaml") if _is_training_recipe(p))


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_builds_its_library_objects(path, tmp_path):
    from peft import LoraConfig
    from trl import SFTConfig

    from catalog_writer.training import recipe

    r = recipe.load_recipe(path)
    args = recipe.sft_config(r, tmp_path)
    assert isinstance(args, SFTConfig) and isinstance(recipe.lora_config(r), LoraConfig)
    # The TRL defaults that are wrong for LoRA are always set explicitly in our recipes.
    for key in ("learning_rate", "bf16", "max_length", "eval_strategy", "save_strategy", "report_to"):
        assert key in r["sft"], f"{path.name}: sft.{key} not set"
    assert "activation_checkpointing" in r["sft"] or "gradient_checkpointing" in r["sft"]
    assert 1e-4 <= args.learning_rate <= 2e-3 and args.load_best_model_at_end  # LoRA range, not TRL's 2e-5
    assert r["model"]["method"] in ("qlora", "lora")


def test_accelerate_config_parses():
    import yaml

    cfg = yaml.safe_load((REPO / "configs" / "accelerate-multi-gpu.yaml").read_text())
    assert cfg["distributed_type"] in ("MULTI_GPU", "FSDP") and cfg["num_processes"] >= 2
    assert "bnb_4bit_quant_storage" in (REPO / "configs" / "accelerate-multi-gpu.yaml").read_text()


def test_misspelt_key_is_an_error(tmp_path):
    from catalog_writer.training import recipe

    bad = tmp_path / "bad.yaml"
    bad.write_text("sft:\n  learning_rte: 1.0e-4\n")
    with pytest.raises(CatalogWriterError, match=r"sft\.learning_rte.*learning_rate") as e:
        recipe.load_recipe(bad)
    assert str(bad) in str(e.value)
    bad.write_text("lora:\n  r: 8\nmodle:\n  method: lora\n")
    with pytest.raises(CatalogWriterError, match="modle"):
        recipe.load_recipe(bad)
