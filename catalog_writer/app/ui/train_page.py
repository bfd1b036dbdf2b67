"""Train page: fine-tune a voice on the catalog, or retrain on approved edits, as a background job.

Shows the live loss curve (trainer_state.json in the adapter folder, else the trainer's printed logs),
the log tail and, when the job evaluated the adapter, its report with charts.
"""

import re
from pathlib import Path

import pandas as pd
import streamlit as st

from catalog_writer.ingest import catalog

from catalog_writer.app import jobs

from catalog_writer.training import registry

from catalog_writer.improve import retrain
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.app.ui import state

cfg = state.config()
cat = state.current_catalog()
st.title("Train")
env = state.job_env(cfg)
base_args = ["--base-model", str(cfg.base)] if cfg.base else []


def _free_folder(name: str) -> Path:
    """models/adapters/<name>, or <name>-2, -3... so an earlier adapter is never overwritten."""
    root = cfg.models / "adapters"
    out, n = root / name, 2
    while out.exists():
        out, n = root / f"{name}-{n}", n + 1
    return out


new_tab, retrain_tab = st.tabs(["Fine-tune on this catalog", "Retrain on approved edits"])
with new_tab:
    usable = sum(catalog.has_reference(p) for p in cat.products)
    st.caption(f"Catalog: {Path(cat.path).name}: {usable} of {len(cat.products)} products have a description "
               "long enough to learn from.")
    c1, c2 = st.columns(2)
    default_name = re.sub(r"[^a-z0-9-]+", "-", Path(cat.path).stem.lower()).strip("-") or "voice"
    name = c1.text_input("Adapter name (voice)", default_name, key="train_name")
    brand = c2.text_input("Brand voice written into prompts (optional)", key="train_brand")
    configs = sorted((state.REPO / "configs").glob("*.yaml"))
    c3, c4, c5 = st.columns(3)
    config = c3.selectbox("Recipe", [None, *configs], key="train_config",
                          format_func=lambda p: "default" if p is None else p.name)
    method = c4.selectbox("Method", ["default", "qlora", "lora"], key="train_method")
    steps = int(c5.number_input("Max steps (0 = recipe)", 0, 100_000, 0, key="train_steps"))
    eval_limit = int(st.number_input("Evaluate on N test products afterwards (0 = skip)", 0, 10_000, 16,
                                     key="train_eval"))
    if st.button("Start training", type="primary", key="train_start"):
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")
        if not slug:
            st.error("Give the adapter a name.")
        else:
            out = _free_folder(slug)
            prepare = ["prepare", str(cat.path), "-o", "{job}/data"]
            if st.session_state.get("catalog_format"):
                prepare += ["--format", st.session_state["catalog_format"]]
            if brand.strip():
                prepare += ["--voice", brand.strip()]
            # --resume from the start: a fresh folder trains from step 0, and Restart (which runs the same
            # commands again) continues a killed run from its last checkpoint instead of refusing.
            train = ["train", "{job}/data", "-o", str(out), *base_args, "--resume"]
            if config:
                train += ["--config", str(config)]
            if method != "default":
                train += ["--method", method]
            if steps:
                train += ["--max-steps", str(steps)]
            commands = [prepare, train]
            if eval_limit:
                commands.append(["evaluate", "{job}/data/test.jsonl", "--adapter", str(out), *base_args,
                                 "--limit", str(eval_limit), "--report", "{job}/report"])
            job = jobs.start_job("train", commands, root=cfg.jobs, env=env,
                                 meta={"adapter": str(out), "report": "{job}/report"})
            st.session_state["train_job"] = str(job.dir)

with retrain_tab:
    try:
        adapters = [a for a in registry.list_adapters(cfg.models) if a.get("status") == "finished"]
    except CatalogWriterError as e:
        adapters = []
        st.error(str(e))
    if not adapters:
        st.info("Retraining needs a trained adapter first.")
    else:
        paths = [str(a["path"]) for a in adapters]
        state.forget_stale("retrain_parent", paths)
        parent = st.selectbox("Parent adapter", paths, key="retrain_parent",
                              format_func=lambda p: f"{Path(p).name} ({p})")
        r1, r2 = st.columns(2)
        min_approved = int(r1.number_input("Minimum approved edits", 1, 100_000, 1, key="retrain_min"))
        r_steps = int(r2.number_input("Max steps (0 = recipe)", 0, 100_000, 0, key="retrain_steps"))
        if st.button("Start retraining", type="primary", key="retrain_start"):
            try:  # the child goes where the retrain command will put it
                voice, version = retrain.child_version(registry.read_adapter_meta(parent), Path(parent))
                child = retrain.child_dir(Path(parent), voice, version, None)
            except CatalogWriterError as e:
                st.error(str(e))
            else:
                cmd = ["retrain", "--adapter", parent, "--min-approved", str(min_approved)]
                if r_steps:
                    cmd += ["--max-steps", str(r_steps)]
                job = jobs.start_job("retrain", [cmd], root=cfg.jobs, env=env, meta={"adapter": str(child)})
                st.session_state["train_job"] = str(job.dir)

# --- follow a job ---------------------------------------------------------------------------------
all_jobs = jobs.list_jobs(cfg.jobs, kind="train") + jobs.list_jobs(cfg.jobs, kind="retrain")
if not all_jobs:
    st.stop()
all_jobs.sort(key=lambda j: j.id, reverse=True)
dirs = [str(j.dir) for j in all_jobs]
current = st.session_state.get("train_job")
st.subheader("Job")
job_dir = st.selectbox("Job", dirs, index=dirs.index(current) if current in dirs else 0,
                       format_func=lambda d: Path(d).name, key=f"train_pick_{current}")
job = jobs.load_job(Path(job_dir))


def _meta_path(key: str) -> Path | None:
    v = job.meta.get(key)
    return Path(v.replace("{job}", str(job.dir))) if v else None


@st.fragment(run_every=3 if job.status()["state"] in ("queued", "running") else None)  # poll while it runs
def live() -> None:
    """Loss curve and log tail, refreshed every 3 s while the page is open."""
    status = job.status()
    step = f" (step {status.get('step')}/{status.get('steps')}: {' '.join(status.get('command', [])[:1])})" \
        if status.get("steps") else ""
    st.markdown(f"**{status['state']}**{step}")
    adapter = _meta_path("adapter")
    history = jobs.trainer_history(adapter) if adapter else []
    history = history or jobs.metrics_from_log(jobs.log_tail(job, 10_000))
    points = pd.DataFrame([h for h in history if "step" in h and ("loss" in h or "eval_loss" in h)])
    if not points.empty:
        series = [c for c in ("loss", "eval_loss") if c in points]
        st.line_chart(points.groupby("step")[series].last(), y=series, x_label="step", y_label="loss")
    with st.expander("Log", expanded=status["state"] in ("failed", "lost")):
        st.code(jobs.log_tail(job, 40) or "(no output yet)", language=None)
    state.rerun_when_finished(job, status, "train")


live()
status = job.status()
running = state.stop_button(job, status, "train")
failed = status["state"] in ("failed", "cancelled", "lost")
if failed and st.button("Restart", key="train_restart", help="Runs the job's commands again."):
    jobs.restart_job(job)
    st.rerun()

# --- evaluation report ----------------------------------------------------------------------------------
report_dir = _meta_path("report")
if report_dir and (report_dir / "report.md").exists():
    st.subheader("Evaluation report")
    text = (report_dir / "report.md").read_text(encoding="utf-8")
    st.markdown(re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text))  # images are shown below from the files
    for png in sorted(report_dir.glob("*.png")):
        st.image(str(png), caption=png.stem)

adapter = _meta_path("adapter")
if adapter and (adapter / registry.RUN_FILE).exists():
    meta = registry.read_adapter_meta(adapter)
    st.subheader(f"Adapter {registry.version_label(meta, adapter)}")
    metrics = {k: v for k, v in (meta.get("metrics") or {}).items() if isinstance(v, (int, float))}
    if metrics:
        st.dataframe(pd.DataFrame([metrics]), hide_index=True)
    if (meta.get("metrics") or {}).get("retrain"):
        with st.expander("Parent / child comparison"):
            st.json(meta["metrics"]["retrain"])
