"""`train --processes N`: DDP on CPU (gloo) under accelerate launch, on the tiny model.

Two processes with one row each per step must follow the loss curve of one process with two rows per step
(same effective batch, same data order, LoRA dropout 0); a run killed at step 5 resumes with 2 processes
from its step-4 checkpoint and ends where the single process ends.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from train_helpers import killer_script, make_dataset

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.training import launch, registry, train

REPO = Path(__file__).resolve().parent.parent
STEPS = 6
TOLERANCE = 1e-4  # per step, |loss(2 processes) - loss(1 process)|; measured <= 1e-6 (fp32 rounding)
RECIPE = {
    "model": {"method": "lora", "torch_dtype": "float32"},
    "lora": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear",
             "task_type": "CAUSAL_LM"},
    "sft": {"max_steps": STEPS, "learning_rate": 1e-3, "lr_scheduler_type": "cosine", "warmup_steps": 0,
            "max_length": 256, "packing": False, "per_device_train_batch_size": 1,
            "gradient_accumulation_steps": 1, "activation_checkpointing": False, "bf16": False,
            "completion_only_loss": True, "eval_strategy": "no", "save_strategy": "steps", "save_steps": 2,
            "save_total_limit": 2, "load_best_model_at_end": False, "logging_steps": 1, "report_to": "none",
            "seed": 13},
}
NEVER = ["-c", "raise SystemExit(3)"]  # a launch target that fails: where nothing may be launched
# Run as each DDP process: train.main, with every rank killing itself at the end of step KILL_AT_STEP
# (after the step-4 checkpoint, before step 6's): a deterministic "killed between checkpoints".
KILLER = killer_script("train.main()")


def losses(log_history: list[dict]) -> dict[int, float]:
    return {h["step"]: h["loss"] for h in log_history if "loss" in h}


@pytest.fixture()
def setup(tmp_path):
    data = make_dataset(tmp_path / "data", n_train=16, n_val=2)
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(RECIPE))
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    return data, config, killer


def single_process_losses(data: Path, config: Path, base: Path, out: Path, monkeypatch) -> dict[int, float]:
    """One process, two rows per step: the same effective batch as 2 processes x 1 row."""
    seen = []
    build = train.build_trainer

    def keep(*a, **kw):
        seen.append(build(*a, **kw))
        return seen[-1]

    monkeypatch.setattr(train, "build_trainer", keep)
    train.run_training(data, out, config=config, base_model=base,
                       overrides={"sft": {"per_device_train_batch_size": 2}})
    return losses(seen[0].state.log_history)


@pytest.mark.slow
def test_two_processes_match_one_and_resume_at_the_right_step(setup, tiny_model_dir, tmp_path, monkeypatch):
    data, config, killer = setup
    out = tmp_path / "ddp"
    with pytest.raises(CatalogWriterError, match="2 processes failed"):
        launch.run_processes(2, data, out, config=config, base_model=tiny_model_dir, target=[str(killer)],
                             env={"KILL_AT_STEP": "5"})
    assert sorted(d.name for d in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (out / "run.json").exists()
    ddp = losses(json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())["log_history"])
    with pytest.raises(CatalogWriterError, match="written by 2 process"):  # per-rank states: same N only
        launch.run_processes(3, data, out, config=config, base_model=tiny_model_dir, resume=True)

    launch.run_processes(2, data, out, config=config, base_model=tiny_model_dir, resume=True,
                         target=[str(killer)])
    meta = registry.read_adapter_meta(out)
    assert meta["world_size"] == 2 and meta["metrics"]["resumed_from_step"] == 4
    assert meta["metrics"]["steps"] == STEPS and meta["metrics"]["epochs"] == pytest.approx(STEPS * 2 / 16)

    one = single_process_losses(data, config, tiny_model_dir, tmp_path / "one", monkeypatch)
    assert sorted(ddp) == [1, 2, 3, 4] and sorted(one) == list(range(1, STEPS + 1))
    gaps = {s: abs(ddp[s] - one[s]) for s in ddp}
    gaps[STEPS] = abs(meta["metrics"]["final_train_loss"] - one[STEPS])  # after the resume
    print("\nper-step |loss(2 processes) - loss(1 process)|:", {s: f"{g:.2e}" for s, g in gaps.items()})
    assert max(gaps.values()) < TOLERANCE, (ddp, one, meta["metrics"])
    assert one[1] != one[STEPS]  # the curve moves: agreement is not two flat lines

    # The same command again: kept, decided once in the launcher (no processes start).
    launch.run_processes(2, data, out, config=config, base_model=tiny_model_dir, target=NEVER)


def test_launch_is_the_accelerate_config_spelled_out(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(REPO / "configs" / "accelerate-cpu-ddp.yaml"))
    cmd = launch.launch_command(3, ["DATA", "-o", "OUT"])
    flags = dict(zip(cmd, cmd[1:]))
    assert cfg.distributed_type == "MULTI_GPU" and "--multi_gpu" in cmd  # torch.distributed.run processes
    assert flags["--mixed_precision"] == cfg.mixed_precision == "no"
    assert int(flags["--num_machines"]) == cfg.num_machines == 1
    assert int(flags["--main_process_port"]) == cfg.main_process_port == 0
    assert flags["--num_processes"] == "3" and cmd[-5:] == [*launch.TARGET, "DATA", "-o", "OUT"]
    args = launch.train_args(tmp_path / "d", tmp_path / "o", max_steps=4, resume=True, method="lora")
    assert args == [str(tmp_path / "d"), "-o", str(tmp_path / "o"), "--method", "lora", "--max-steps", "4",
                    "--resume"]


def test_user_errors_are_caught_once_before_launching(setup, tmp_path):
    data, config, _ = setup
    with pytest.raises(CatalogWriterError, match="--processes must be 1 or more"):
        launch.run_processes(0, data, tmp_path / "o", config=config)
    with pytest.raises(CatalogWriterError, match="train.jsonl missing"):
        launch.run_processes(2, tmp_path, tmp_path / "o", config=config)
    (tmp_path / "o" / "checkpoint-2").mkdir(parents=True)
    (tmp_path / "o" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    with pytest.raises(CatalogWriterError, match="--resume"):
        launch.run_processes(2, data, tmp_path / "o", config=config, target=NEVER)
    (tmp_path / "o" / "checkpoint-2" / "rng_state.pth").write_bytes(b"")  # written by one process
    with pytest.raises(CatalogWriterError, match="checkpoint-2 was written by 1 process.*--processes 1"):
        launch.run_processes(2, data, tmp_path / "o", config=config, resume=True, target=NEVER)
