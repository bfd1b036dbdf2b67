"""`train --processes N`: the same training in N processes (DDP), launched with `accelerate launch`.

accelerate's multi-process launcher starts N local processes under torch.distributed.run, each running
`python -m catalog_writer.training.train` (train.main). In each, the Trainer joins the process group
through accelerate: gloo where there is no CUDA (the recipe loader sets `use_cpu`), NCCL on GPUs. Every
process holds the whole model and 1/N of each batch, so the effective batch is
per_device_train_batch_size x gradient_accumulation_steps x N. Rank 0 writes checkpoints, the adapter and
run.json (with `world_size`); checkpoints are the Trainer's own, per-rank RNG states included, so
`--resume` works as in one process, with the same N. The flags below are configs/accelerate-cpu-ddp.yaml
spelled out, so an installed package needs no config file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError

TARGET = ["-m", "catalog_writer.training.train"]


def launch_command(processes: int, train_args: list[str], target: list[str] | None = None) -> list[str]:
    """`accelerate launch` for `processes` local processes running train.main with `train_args`."""
    threads = max(1, (os.cpu_count() or 1) // processes)  # N processes share the cores, never oversubscribe
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
            "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", "0", "--num_cpu_threads_per_process", str(threads),
            *(target or TARGET), *train_args]


def train_args(data: Path, out: Path, *, config: Path | None = None, base_model: Path | None = None,
               method: str | None = None, max_steps: int | None = None, epochs: float | None = None,
               resume: bool = False, force: bool = False, save_steps: int | None = None) -> list[str]:
    """The command line of train.main for these options (paths made absolute)."""
    args = [str(Path(data).resolve()), "-o", str(Path(out).resolve())]
    for flag, value in (("--config", config), ("--base-model", base_model)):
        if value is not None:
            args += [flag, str(Path(value).resolve())]
    for flag, value in (("--method", method), ("--max-steps", max_steps), ("--epochs", epochs),
                        ("--save-steps", save_steps)):
        if value is not None:
            args += [flag, str(value)]
    return args + ["--resume"] * resume + ["--force"] * force


def check_before_launch(processes: int, data: Path, out: Path, config: Path | None, resume: bool) -> None:
    """The user errors N processes would each print, caught once here: recipe, dataset, leftover
    checkpoints, and a checkpoint written by another number of processes (its data position and RNG
    states are per rank)."""
    from catalog_writer.training import recipe, train

    recipe.load_recipe(config)
    for name in ("train.jsonl", "val.jsonl", "template.json", "manifest.json"):
        if not (Path(data) / name).exists():
            raise CatalogWriterError(f"{name} missing: not a `prepare` output folder", file=data)
    train._check_output(Path(out), resume)
    last = train._last_checkpoint(Path(out)) if resume else None
    if last is not None:
        ranks = len(list(Path(last).glob("rng_state_*.pth"))) or 1  # one process writes rng_state.pth
        if ranks != processes:
            raise CatalogWriterError(f"{Path(last).name} was written by {ranks} process(es): resume with "
                                     f"--processes {ranks}", file=out)


def keep_finished(processes: int, data: Path, out: Path, options: dict) -> bool:
    """A finished adapter in OUT is kept (same config) or, with --force, removed here, once, rather than by
    each of N processes at the same moment. The fingerprint is run_training's, for `processes` processes."""
    from catalog_writer.training import fingerprints, modeling, recipe, registry, train

    if not (Path(out) / registry.RUN_FILE).exists():
        return False
    resolved = recipe.load_recipe(options.get("config"), overrides=train._merge(
        None, max_steps=options.get("max_steps"), epochs=options.get("epochs")))
    base = modeling.resolve_base(options.get("base_model"))
    fp = fingerprints.run_fingerprint(Path(data), resolved, base, None, options.get("method"),
                                      world_size=processes)
    return fingerprints.keep_finished(Path(out), fp, options.get("force", False))


def run_processes(processes: int, data: Path, out: Path, *, target: list[str] | None = None,
                  env: dict[str, str] | None = None, **options) -> Path:
    """Train DATA into OUT with `processes` DDP processes; `options` are train_args' keywords."""
    if processes < 1:
        raise CatalogWriterError(f"--processes must be 1 or more (got {processes})")
    check_before_launch(processes, data, out, options.get("config"), options.get("resume", False))
    if keep_finished(processes, data, out, options):
        return Path(out)
    cmd = launch_command(processes, train_args(data, out, **options), target)
    code = subprocess.call(cmd, env={**os.environ, **(env or {})})
    if code != 0:
        raise CatalogWriterError(f"training in {processes} processes failed (exit code {code}): "
                                 "their output is above", file=out)
    return Path(out)
