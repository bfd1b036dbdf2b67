"""Background jobs for the app: `catalog-writer` commands run in a detached subprocess.

A job is a folder `runs/jobs/<id>/` holding `job.json` (what to run), `status.json` (state, exit code,
written by the runner) and `log.txt` (the commands' stdout/stderr). The runner (`python -m
catalog_writer.app.jobs DIR`) starts in its own session, so the job keeps going when the browser tab or even
the Streamlit server goes away; the UI only reads the folder. Commands run one after the other and the
job stops at the first failure (e.g. `prepare` then `train`). Restarting a job re-runs its commands in
the same folder: `generate` resumes from its journal and `train --resume` from its last checkpoint.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.core.fileio import write_json_atomic

JOBS_ROOT = Path("runs/jobs")
FINISHED = ("done", "failed", "cancelled")


@dataclass
class Job:
    """One background job folder."""

    id: str
    dir: Path
    kind: str
    commands: list[list[str]]
    created_at: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return self.dir / "log.txt"

    def status(self) -> dict:
        """Current state: queued|running|done|failed|cancelled|lost, plus rc, step, times."""
        return job_status(self)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def start_job(
    kind: str,
    commands: list[list[str]],
    root: Path = JOBS_ROOT,
    meta: dict | None = None,
    env: dict[str, str] | None = None,
) -> Job:
    """Create a job folder and launch its runner detached; returns at once.

    `commands` are `catalog-writer` argument lists without the program name, e.g.
    `[["generate", "shop.csv", "-o", "{job}/out.csv"]]`; `{job}` in an argument becomes the job folder.
    `env` entries are added to this process's environment.
    """
    job_id = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{kind}-{uuid.uuid4().hex[:6]}"
    job_dir = Path(root) / job_id
    job_dir.mkdir(parents=True, exist_ok=False)
    job_dir = job_dir.resolve()
    commands = [[str(a).replace("{job}", str(job_dir)) for a in c] for c in commands]
    job = Job(job_id, job_dir, kind, commands, _now(), meta or {})
    write_json_atomic(job_dir / "job.json", {
        "id": job.id, "kind": kind, "commands": job.commands, "created_at": job.created_at,
        "meta": job.meta, "cwd": os.getcwd(), "env": env or {},
    })
    _launch(job)
    return job


def _launch(job: Job) -> None:
    write_json_atomic(job.dir / "status.json", {"state": "queued", "queued_at": _now()})
    with open(job.log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "catalog_writer.app.jobs", str(job.dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # survives Ctrl-C on the server and the tab closing
        )
    (job.dir / "runner.pid").write_text(str(proc.pid))
    # Reap the runner when it ends so it does not linger as a zombie of the server process.
    threading.Thread(target=proc.wait, daemon=True).start()


def restart_job(job: Job) -> Job:
    """Run a finished (or lost) job's commands again in the same folder; the commands resume."""
    if job_status(job)["state"] in ("queued", "running"):
        return job
    with open(job.log_path, "a", encoding="utf-8") as log:
        log.write(f"\n--- restarted {_now()} ---\n")
    _launch(job)
    return job


def load_job(job_dir: Path) -> Job:
    d = _read_json(Path(job_dir) / "job.json")
    if not d:
        raise FileNotFoundError(f"no job in {job_dir}")
    return Job(d["id"], Path(job_dir).resolve(), d["kind"], d["commands"], d.get("created_at", ""),
               d.get("meta", {}))


def list_jobs(root: Path = JOBS_ROOT, kind: str | None = None) -> list[Job]:
    """Jobs under `root`, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    jobs = []
    for d in sorted(root.iterdir(), reverse=True):
        if (d / "job.json").is_file():
            job = load_job(d)
            if kind is None or job.kind == kind:
                jobs.append(job)
    return jobs


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_status(job: Job) -> dict:
    st = _read_json(job.dir / "status.json") or {"state": "queued"}
    # A runner killed hard (machine reboot, kill -9) never writes its final state.
    if st.get("state") in ("queued", "running") and (pid := _runner_pid(job, st)) and not _alive(pid):
        st = {**st, "state": "lost"}
    return st


def _runner_pid(job: Job, status: dict) -> int | None:
    if status.get("pid"):
        return int(status["pid"])
    try:
        return int((job.dir / "runner.pid").read_text())
    except (OSError, ValueError):
        return None


def cancel_job(job: Job) -> None:
    """Stop a running job (its whole process group)."""
    st = job_status(job)
    pid = _runner_pid(job, st)
    if st.get("state") in ("queued", "running") and pid:
        try:
            os.killpg(pid, signal.SIGTERM)  # the runner leads its own process group
        except ProcessLookupError:
            pass


def log_tail(job: Job, lines: int = 40) -> str:
    """Last lines of the log; progress-bar carriage returns become line breaks."""
    try:
        with open(job.log_path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64_000))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "\n")
    return "\n".join([ln for ln in text.splitlines() if ln.strip()][-lines:])


_METRIC_DICT = re.compile(r"\{['\"](?:loss|eval_loss|train_loss)['\"][^{}]*\}")
_BAR_LOSS = re.compile(r"(\d+)/(\d+) \[[^\]]*?loss=([0-9.eE+-]+)")
_VAL_LOSS = re.compile(r"step (\d+): val loss ([0-9.eE+-]+)")


def metrics_from_log(text: str) -> list[dict]:
    """Loss points from a training log: the trainer's printed `{'loss': ...}` dicts, the tqdm bar's
    `12/40 [..., loss=2.31]` postfix (one point per step, last wins) and `step N: val loss X` lines."""
    rows: list[dict] = []
    by_step: dict[tuple[str, int], dict] = {}
    for line in text.splitlines():
        for m in _METRIC_DICT.finditer(line):
            try:
                rows.append({k: to_number(v) for k, v in ast.literal_eval(m.group(0)).items()})
            except (ValueError, SyntaxError):
                continue
        if m := _BAR_LOSS.search(line):
            by_step[("loss", int(m.group(1)))] = {"step": int(m.group(1)), "loss": float(m.group(3))}
        if m := _VAL_LOSS.search(line):
            by_step[("eval", int(m.group(1)))] = {"step": int(m.group(1)), "eval_loss": float(m.group(2))}
    return rows + [by_step[k] for k in sorted(by_step, key=lambda k: (k[1], k[0]))]


def to_number(v):
    """A float where the text is a number, the value unchanged otherwise."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def trainer_history(run_dir: Path) -> list[dict]:
    """`log_history` of the newest trainer_state.json in an adapter/run folder (checkpoints included)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    states = list(run_dir.glob("trainer_state.json")) + list(run_dir.glob("checkpoint-*/trainer_state.json"))
    if not states:
        return []
    newest = max(states, key=lambda p: p.stat().st_mtime)
    return _read_json(newest).get("log_history", [])


def _run(job_dir: Path) -> int:
    """Runner body: execute the commands in order, recording state in status.json."""
    spec = _read_json(job_dir / "job.json")
    status = {"state": "running", "pid": os.getpid(), "started_at": _now(), "step": 0,
              "steps": len(spec["commands"])}
    write_json_atomic(job_dir / "status.json", status)
    env = {**os.environ, **spec.get("env", {}), "PYTHONUNBUFFERED": "1"}
    child: subprocess.Popen | None = None

    def _term(signum, frame):  # cancel: stop the child, record, leave
        if child and child.poll() is None:
            child.terminate()
        write_json_atomic(job_dir / "status.json", {**status, "state": "cancelled", "finished_at": _now()})
        os._exit(143)

    signal.signal(signal.SIGTERM, _term)
    rc = 0
    for i, cmd in enumerate(spec["commands"]):
        status.update(step=i + 1, command=cmd)
        write_json_atomic(job_dir / "status.json", status)
        print(f"$ catalog-writer {' '.join(cmd)}", flush=True)
        t0 = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "catalog_writer.app.cli", *cmd],
                                 cwd=spec.get("cwd"), env=env)
        rc = child.wait()
        print(f"[exit {rc} after {time.monotonic() - t0:.1f} s]", flush=True)
        if rc != 0:
            break
    status.update(state="done" if rc == 0 else "failed", rc=rc, finished_at=_now())
    write_json_atomic(job_dir / "status.json", status)
    return rc


if __name__ == "__main__":
    sys.exit(_run(Path(sys.argv[1])))
