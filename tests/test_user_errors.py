"""User errors through the real command line: exit code 2, one line naming the file (and field, row or
column where known), no traceback, nothing half-written. Ctrl-C: exit 130, one line, and the job resumes.

Most cases run `catalog_writer.app.cli.main()` in-process (the console entry point itself, fast); the
Ctrl-C cases run the installed command in a subprocess and send it a real SIGINT.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from adapter_helpers import save_lora

from catalog_writer.app.cli import main


def run_cli(args: list[str], capsys, monkeypatch, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `catalog-writer ARGS` run through the console entry point."""
    monkeypatch.setattr(sys, "argv", ["catalog-writer", *map(str, args)])
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main()
    out, err = capsys.readouterr()
    code = e.value.code if isinstance(e.value.code, int) else (0 if e.value.code is None else 1)
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> str:
    """Exit 2, a single `error:` line on stderr that contains every needle, no traceback."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- 1. recipes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, section", [("lora: 16\n", "lora"), ("sft:\n  - 1\n  - 2\n", "sft"),
                                           ("model: qlora\n", "model")])
def test_recipe_section_that_is_not_a_mapping(text, section, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    out = tmp_path / "adapter"
    code, _, err = run_cli(["train", tmp_path / "data", "-o", out, "--config", bad], capsys, monkeypatch)
    assert_one_line_error(code, err, str(bad), repr(section), "mapping")
    assert not out.exists()


def test_recipe_misspelt_key_still_an_error(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lroa:\n  r: 8\n")  # (test_train covers keys inside sections, which import TRL)
    code, _, err = run_cli(["train", tmp_path / "data", "-o", tmp_path / "a", "--config", bad], capsys, monkeypatch)
    assert_one_line_error(code, err, str(bad), "lroa", "did you mean 'lora'")
    assert not (tmp_path / "a").exists()





# --- 2. corrupt run.json / template.json in an adapter -----------------------------------------------------

CORRUPT = {"run.json": '{"voice": "shop", "version": "v2"', "template.json": "[1, 2]", "adapter_config.json": ""}


def _adapters(folders, tiny_model_dir, root: Path) -> dict[str, Path]:
    """models/adapters/{good, bad-run, bad-template}: the tiny LoRA adapter with run.json and template.json,
    then one of the two files spoilt."""
    import json
    import shutil

    from catalog_writer.dataset.prompts import PromptTemplate

    made = {}
    for name in ("good", "bad-run", "bad-template", "bad-config"):
        d = Path(shutil.copytree(folders["adapter"], root / "adapters" / name))
        (d / "run.json").write_text(json.dumps({"voice": name, "version": "v1", "base_model": str(tiny_model_dir),
                                                "metrics": {"steps": 3}}))
        PromptTemplate().save(d / "template.json")
        made[name] = d
    (made["bad-run"] / "run.json").write_text(CORRUPT["run.json"])
    (made["bad-template"] / "template.json").write_text(CORRUPT["template.json"])
    (made["bad-config"] / "adapter_config.json").write_text(CORRUPT["adapter_config.json"])
    return made


def test_models_list_shows_broken_adapters(folders, tiny_model_dir, tmp_path, capsys, monkeypatch):
    import json

    made = _adapters(folders, tiny_model_dir, tmp_path / "models")
    code, out, err = run_cli(["models", "list", "--root", tmp_path / "models"], capsys, monkeypatch)
    assert code == 0 and "Traceback" not in err, err
    broken = [line for line in out.splitlines() if line.startswith("broken: ")]
    assert len(broken) == 3
    assert str(made["bad-config"] / "adapter_config.json") in broken[0]
    assert str(made["bad-run"] / "run.json") in broken[1] and str(made["bad-template"] / "template.json") in broken[2]
    code, out, _ = run_cli(["models", "list", "--root", tmp_path / "models", "--json"], capsys, monkeypatch)
    rows = {Path(a["path"]).name: a for a in json.loads(out)["adapters"]}
    assert code == 0 and rows["good"]["status"] == "finished" and rows["good"]["version"] == "v1"
    assert rows["bad-run"]["status"].startswith("broken: ") and "run.json" in rows["bad-run"]["status"]
    assert rows["bad-template"]["status"].startswith("broken: ") and "a JSON object" in rows["bad-template"]["status"]


@pytest.mark.parametrize("spoilt", ["run.json", "template.json", "adapter_config.json"])
def test_generate_and_evaluate_refuse_a_broken_adapter(spoilt, folders, tiny_model_dir, demo_data, tmp_path,
                                                       capsys, monkeypatch):
    """No draft is ever stored as FOLDER@v1 because run.json could not be read: the command stops first."""
    made = _adapters(folders, tiny_model_dir, tmp_path / "models")
    adapter = made[{"run.json": "bad-run", "template.json": "bad-template"}.get(spoilt, "bad-config")]
    work = tmp_path / "work"
    work.mkdir()
    code, _, err = run_cli(_generate(work, "--adapter", adapter), capsys, monkeypatch)
    assert_one_line_error(code, err, str(adapter / spoilt), f"not a valid {spoilt}")
    code, _, err = run_cli(["evaluate", demo_data / "test.jsonl", "--adapter", adapter, "--report", work / "report"],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, str(adapter / spoilt), f"not a valid {spoilt}")
    assert sorted(work.iterdir()) == []  # no output, journal or report


# --- 3. missing or mismatched weights ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def folders(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    """A LoRA adapter of the tiny model, the same without weights, a base without weights, and a base of
    another width (hidden 32 instead of 64) that the adapter does not fit."""
    import json
    import shutil

    from transformers import LlamaConfig, LlamaForCausalLM

    root = tmp_path_factory.mktemp("weights")
    save_lora(tiny_model_dir, root / "adapter", r=4, target_modules="all-linear", task_type="CAUSAL_LM")
    no_weights = Path(shutil.copytree(root / "adapter", root / "adapter-no-weights"))
    (no_weights / "adapter_model.safetensors").unlink()
    bare = Path(shutil.copytree(tiny_model_dir, root / "base-no-weights"))
    (bare / "model.safetensors").unlink()
    narrow = Path(shutil.copytree(tiny_model_dir, root / "base-narrow"))
    config = json.loads((narrow / "config.json").read_text())
    LlamaForCausalLM(LlamaConfig(**{**config, "hidden_size": 32, "intermediate_size": 64})).save_pretrained(narrow)
    return {"adapter": root / "adapter", "adapter-no-weights": no_weights, "base-no-weights": bare,
            "base-narrow": narrow}


def _generate(tmp_path, *extra) -> list:
    return ["generate", DEMO, "-o", tmp_path / "out.csv", "--limit", "2", "--max-new-tokens", "4", *extra]


def test_base_without_weights(folders, tmp_path, capsys, monkeypatch):
    bare = folders["base-no-weights"]
    code, _, err = run_cli(_generate(tmp_path, "--base-model", bare), capsys, monkeypatch)
    assert_one_line_error(code, err, str(bare), "no model weights")
    code, _, err = run_cli(["train", tmp_path / "data", "-o", tmp_path / "a", "--base-model", bare], capsys, monkeypatch)
    assert_one_line_error(code, err, str(bare), "no model weights")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_adapter_without_weights(folders, tiny_model_dir, tmp_path, capsys, monkeypatch):
    adapter = folders["adapter-no-weights"]
    code, _, err = run_cli(_generate(tmp_path, "--base-model", tiny_model_dir, "--adapter", adapter),
                           capsys, monkeypatch)
    assert_one_line_error(code, err, str(adapter), "adapter weights missing", "adapter_model.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_adapter_of_another_base(folders, tiny_model_dir, demo_data, tmp_path, capsys, monkeypatch):
    """Trained on the 64-wide tiny model, loaded on a 32-wide one: one line naming both, not 28 lines of
    state_dict size mismatches, and checked before any weights load."""
    import re

    adapter, narrow = folders["adapter"], folders["base-narrow"]
    code, _, err = run_cli(_generate(tmp_path, "--base-model", narrow, "--adapter", adapter), capsys, monkeypatch)
    line = assert_one_line_error(code, err, str(adapter), f"does not fit base model {narrow}", str(tiny_model_dir))
    assert re.search(r"model\.layers\.0\.\S+ has (in|out)_features=(32|64), the adapter expects (64|128)", line)
    report = tmp_path / "report"
    code, _, err = run_cli(["evaluate", demo_data / "test.jsonl", "--base-model", narrow, "--adapter", adapter,
                            "--report", report], capsys, monkeypatch)
    assert_one_line_error(code, err, str(adapter), "does not fit")
    assert sorted(tmp_path.iterdir()) == []


# --- 4. the feedback database ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["feedback", "stats"], ["feedback", "export", "--kind", "sft", "-o", "x.jsonl"]])
@pytest.mark.parametrize("content", [b"product,description\nJar,A jar.\n", bytes(range(256)) * 8])
def test_db_that_is_not_sqlite(command, content, tmp_path, capsys, monkeypatch):
    """CATALOG_WRITER_DB pointing at a text (or random binary) file: one line naming the file and the
    variable; the file is left exactly as it was and no WAL files appear."""
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(command, capsys, monkeypatch, env={"CATALOG_WRITER_DB": str(notes)})
    assert_one_line_error(code, err, str(notes), "CATALOG_WRITER_DB", "not a database")
    assert notes.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # no x.jsonl, no -wal/-shm



# --- 5. JSONL lines that are not objects -------------------------------------------------------------------

NOT_OBJECTS = [("[1, 2]", "array"), ("3", "number"), ('"text"', "string"), ("null", "null")]


def _spoil(path: Path, line: str, at: int = 2) -> None:
    """Put `line` in as line `at` of a JSONL file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(at - 1, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("line, kind", NOT_OBJECTS[:2])
@pytest.mark.parametrize("split", ["train", "val"])
def test_train_jsonl_line_not_an_object(line, kind, split, tiny_model_dir, tmp_path, capsys, monkeypatch):
    from train_helpers import make_dataset

    data = make_dataset(tmp_path / "data", n_train=4, n_val=2)
    _spoil(data / f"{split}.jsonl", line)
    out = tmp_path / "adapter"
    code, _, err = run_cli(["train", data, "-o", out, "--base-model", tiny_model_dir, "--max-steps", "1"],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, str(data / f"{split}.jsonl"), "row 2", kind, "not a JSON object")
    assert not out.exists()


@pytest.mark.parametrize("line, kind", NOT_OBJECTS)
def test_test_jsonl_line_not_an_object(line, kind, demo_data, tiny_model_dir, tmp_path, capsys, monkeypatch):
    import shutil

    data = Path(shutil.copytree(demo_data, tmp_path / "data"))
    _spoil(data / "test.jsonl", line, at=3)
    report = tmp_path / "report"
    code, _, err = run_cli(["evaluate", data / "test.jsonl", "--base-model", tiny_model_dir, "--report", report],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, str(data / "test.jsonl"), "row 3", kind, "not a JSON object")
    assert not report.exists()


@pytest.mark.parametrize("line, kind", NOT_OBJECTS[:2])
def test_preferences_line_not_an_object(line, kind, folders, tiny_model_dir, tmp_path, capsys, monkeypatch):
    import json
    import shutil

    parent = Path(shutil.copytree(folders["adapter"], tmp_path / "models" / "adapters" / "shop"))
    (parent / "run.json").write_text(json.dumps({"voice": "shop", "version": "v1", "base_model": str(tiny_model_dir)}))
    msgs = [{"role": "user", "content": "Jar"}]
    pair = {"prompt": msgs, "chosen": [{"role": "assistant", "content": "A jar."}],
            "rejected": [{"role": "assistant", "content": "A pot."}], "product_id": "p1"}
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps(pair) + "\n" + json.dumps(pair) + "\n")
    _spoil(prefs, line)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _, err = run_cli(["dpo", "--adapter", parent, "--preferences", prefs], capsys, monkeypatch)
    assert_one_line_error(code, err, str(prefs), "row 2", kind, "not a JSON object")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no child, no work folder


# --- 6. Ctrl-C ---------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "data" / "demo-catalog.csv"


def assert_interrupted(code: int, err: str, command: str, hint: str) -> None:
    """Exit 130, the last stderr line is `interrupted: COMMAND; ...HINT...`, no traceback."""
    last = err.strip().splitlines()[-1]
    assert code == 130, err[-2000:]
    assert last.startswith(f"interrupted: {command}; ") and hint in last, last
    assert "Traceback" not in err and "Aborted" not in err


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    """`prepare` on the demo catalog with a 4-word target (a small token budget keeps decoding short)."""
    from catalog_writer.dataset import pairs
    from catalog_writer.ingest import catalog

    out = tmp_path_factory.mktemp("demo") / "data"
    pairs.prepare_dataset(catalog.read_catalog(DEMO), out, target_words=4)
    return out


def test_ctrl_c_generate_real_sigint_then_resume(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """A real SIGINT after the first journaled batch: exit 130, one line, no output file; the same command
    again keeps the journaled batch (its text, marked here, reaches the output) and writes the rest."""
    import csv
    import json
    import os
    import signal
    import subprocess
    import time

    out = tmp_path / "out.csv"
    journal = tmp_path / "out.csv.journal.jsonl"
    args = ["generate", str(DEMO), "-o", str(out), "--base-model", str(tiny_model_dir), "--limit", "12",
            "--batch-size", "1", "--max-new-tokens", "24"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen([sys.executable, "-m", "catalog_writer.app.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (journal.exists() and journal.stat().st_size) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert_interrupted(proc.returncode, err, "generate", "run the same command again to resume")
    assert not out.exists() and not list(tmp_path.glob(".out.csv*"))  # no output, no temp file
    lines = journal.read_text(encoding="utf-8").splitlines()
    assert 1 <= len(lines) < 12  # stopped part-way: some of the 12 products journaled, not all
    first = json.loads(lines[0])
    first["variants"][0]["html"] = "<p>Journaled before the interrupt.</p>"
    journal.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n", encoding="utf-8")

    code, _, err = run_cli(args[:], capsys, monkeypatch)
    assert code == 0, err[-2000:]
    with (tmp_path / "out.csv.flags.csv").open(encoding="utf-8", newline="") as f:
        assert len(list(csv.DictReader(f))) == 12  # one line per written product
    assert out.read_text(encoding="utf-8").count("Journaled before the interrupt.") == 1
    assert not journal.exists()


def test_ctrl_c_evaluate_keeps_predictions(demo_data, tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Interrupted at the second batch: predictions of the first are kept and not decoded again."""
    from catalog_writer.inference import generate

    calls = []
    real = generate.Generator.complete_messages

    def interrupt_second(self, prompts, *args, **kwargs):
        calls.append(len(prompts))
        if len(calls) == 2 and interrupt:
            raise KeyboardInterrupt
        return real(self, prompts, *args, **kwargs)

    monkeypatch.setattr(generate.Generator, "complete_messages", interrupt_second)
    report = tmp_path / "report"
    args = ["evaluate", demo_data / "test.jsonl", "--base-model", tiny_model_dir, "--limit", "3",
            "--batch-size", "1", "--report", report]
    interrupt = True
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert_interrupted(code, err, "evaluate", "run the same command again to resume")
    assert len((report / "predictions.jsonl").read_text().splitlines()) == 1
    assert not list(report.glob("*.md"))  # no half report

    interrupt, calls[:] = False, []
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err[-2000:]
    assert sum(calls) == 2  # 3 products, 1 kept from the interrupted run
    assert len((report / "predictions.jsonl").read_text().splitlines()) == 3


def test_ctrl_c_train_says_resume_and_resumes(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Interrupted at step 3 (checkpoint at step 2): exit 130 naming --resume, no run.json; --resume
    continues from step 2."""
    import json

    from transformers import TrainerCallback

    from catalog_writer.training import train
    from train_helpers import make_dataset

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3 and armed:
                raise KeyboardInterrupt

    build = train.build_trainer

    def build_armed(*a, **kw):
        trainer = build(*a, **kw)
        trainer.add_callback(Interrupt())
        return trainer

    monkeypatch.setattr(train, "build_trainer", build_armed)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "model: {method: lora, torch_dtype: float32}\nlora: {r: 4, lora_alpha: 8, target_modules: all-linear}\n"
        "sft: {max_length: 128, per_device_train_batch_size: 2, learning_rate: 1.0e-3, bf16: false,\n"
        "      activation_checkpointing: false, save_strategy: steps, save_steps: 2, eval_strategy: 'no',\n"
        "      report_to: none, logging_steps: 1, dataloader_num_workers: 0}\n")
    data = make_dataset(tmp_path / "data", n_train=8, n_val=2)
    out = tmp_path / "adapter"
    args = ["train", data, "-o", out, "--config", recipe, "--base-model", tiny_model_dir, "--max-steps", "4"]
    armed = True
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert_interrupted(code, err, "train", "--resume")
    assert not (out / "run.json").exists() and (out / "checkpoint-2" / "trainer_state.json").exists()

    armed = False
    code, _, err = run_cli([*args, "--resume"], capsys, monkeypatch)
    assert code == 0, err[-2000:]
    meta = json.loads((out / "run.json").read_text())
    assert meta["metrics"]["steps"] == 4 and meta["metrics"]["resumed_from_step"] == 2


@pytest.mark.parametrize("argv, module, func, hint", [
    (["prepare", "x.csv", "-o", "d"], "catalog_writer.dataset.pairs", "prepare_dataset", "nothing was written"),
    (["retrain", "--adapter", "a"], "catalog_writer.improve.retrain", "run_retrain", "run the same command again"),
    (["dpo", "--adapter", "a", "--preferences", "p.jsonl"], "catalog_writer.improve.dpo", "run_dpo",
     "run the same command again"),
    (["evaluate", "t.jsonl"], "catalog_writer.evaluation.evaluate", "run_evaluation", "--report DIR"),
    (["models", "fetch", "-o", "m"], "catalog_writer.training.modeling", "fetch_base_model", "nothing was changed"),
])
def test_ctrl_c_message_per_command(argv, module, func, hint, tmp_path, capsys, monkeypatch):
    import importlib

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib.import_module(module), func, interrupted)
    if argv[0] == "prepare":  # prepare reads the catalog before it writes anything
        argv = ["prepare", str(DEMO), "-o", str(tmp_path / "d")]
    code, _, err = run_cli(argv, capsys, monkeypatch)
    command = " ".join(argv[:2]) if argv[0] == "models" else argv[0]
    assert_interrupted(code, err, command, hint)
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "d").exists()


def test_ctrl_c_prepare_midway_leaves_nothing(tmp_path, capsys, monkeypatch):
    """Interrupted after the first split file is written: the staging folder goes, no dataset folder."""
    from catalog_writer.dataset import pairs

    written = []
    real = pairs.write_jsonl_atomic

    def second_interrupts(path, records):
        if written:
            raise KeyboardInterrupt
        written.append(path)
        return real(path, records)

    monkeypatch.setattr(pairs, "write_jsonl_atomic", second_interrupts)
    code, _, err = run_cli(["prepare", DEMO, "-o", tmp_path / "data"], capsys, monkeypatch)
    assert_interrupted(code, err, "prepare", "nothing was written")
    assert written and list(tmp_path.iterdir()) == []
