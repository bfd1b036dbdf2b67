"""Batch page: write descriptions for many products as a background job, review, download.

The job is `catalog-writer generate` in a detached subprocess (catalog_writer.app.jobs): it keeps running
when the tab closes, and a restarted job resumes from the batch journal.
"""

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from catalog_writer.app import batch_jobs

from catalog_writer.ingest import catalog

from catalog_writer.app import jobs
from catalog_writer.inference.batch import journal_path
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.app.ui import state

cfg = state.config()
cat = state.current_catalog()
st.title("Batch")
st.caption(f"Catalog: {Path(cat.path).name} ({len(cat.products)} products)")

# --- start a job ------------------------------------------------------------------------------------
voices = state.voices()
state.forget_stale("batch_voice", voices)
c1, c2, c3 = st.columns(3)
scope = c1.radio("Products", ["missing description only", "all", "filtered"], key="batch_scope")
limit = int(c2.number_input("Limit (0 = no limit)", 0, 1_000_000, 0, key="batch_limit"))
voice = c3.selectbox("Voice / adapter", list(voices), key="batch_voice")
settings = state.settings_input("batch", variants=False)

query = "" if scope != "filtered" else st.text_input(
    "Filter: title, id or category contains", key="batch_filter")
selected = [p for p in cat.products if scope != "missing description only" or not catalog.has_reference(p)]
if scope == "filtered":
    q = query.strip().lower()
    selected = [p for p in selected if q and q in f"{p.id} {p.title} {' > '.join(p.category)}".lower()]
if limit:
    selected = selected[:limit]
st.write(f"{len(selected)} product(s) will be written.")

if st.button("Start batch job", type="primary", key="batch_start", disabled=not selected):
    src = Path(cat.path)
    if scope == "filtered":  # the generate command takes a file: give it just these products' rows
        ids = {p.id for p in selected}
        digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:12]
        src = batch_jobs.write_subset(cat, ids, cfg.runs / "subsets" / f"{src.stem}-{digest}.csv")
    # The platform's own file (flags in OUT.flags.csv); CSV/JSONL are converted from it for download.
    out = f"{{job}}/{src.stem}.filled{src.suffix}"
    cmd = ["generate", str(src), "-o", out, "--format", "same", "--batch-size", "4"]
    fmt = st.session_state.get("catalog_format") or cat.format  # a subset keeps the detected format
    cmd += ["--input-format", fmt]
    if voices[voice] is not None:
        cmd += ["--adapter", str(voices[voice])]
    if cfg.base is not None:
        cmd += ["--base-model", str(cfg.base)]
    if scope == "missing description only":
        cmd.append("--only-missing")
    if limit:
        cmd += ["--limit", str(limit)]
    cmd += settings.cli_args()  # the decoding options that differ from the defaults
    job = jobs.start_job("generate", [cmd], root=cfg.jobs, env=state.job_env(cfg), meta={
        "catalog": str(src), "format": fmt, "out": out,
        "total": len(selected), "voice": voice,
    })
    st.session_state["batch_job"] = str(job.dir)

# --- follow a job -------------------------------------------------------------------------------------
all_jobs = jobs.list_jobs(cfg.jobs, kind="generate")
if not all_jobs:
    st.info("No batch jobs yet.")
    st.stop()
dirs = [str(j.dir) for j in all_jobs]
current = st.session_state.get("batch_job")
st.subheader("Job")
job_dir = st.selectbox("Job", dirs, index=dirs.index(current) if current in dirs else 0,
                       format_func=lambda d: Path(d).name, key=f"batch_pick_{current}")
st.session_state["batch_job"] = job_dir
job = jobs.load_job(Path(job_dir))
out_path = Path(job.meta["out"].replace("{job}", str(job.dir)))


@st.cache_data(max_entries=8, show_spinner=False)
def _results(job_dir: str, out: str, state: str, stamp: float) -> list[dict]:
    """Rows written so far; `state` and `stamp` (file times) make a new key whenever they change."""
    return batch_jobs.batch_results(jobs.load_job(Path(job_dir)), Path(out))


def _stamp(out: Path) -> float:
    files = [out, journal_path(out)]
    return max((f.stat().st_mtime for f in files if f.exists()), default=0.0)


@st.fragment(run_every=2 if job.status()["state"] in ("queued", "running") else None)  # poll while it runs
def live_progress() -> None:
    """Poll the job's status and journal every 2 s (results so far included); rerun the page once when
    it finishes."""
    status = job.status()
    done, total = batch_jobs.batch_progress(job, out_path)
    fraction = min(1.0, done / total) if total else 0.0
    st.progress(fraction, text=f"{status['state']}: {done} of {total} products")
    with st.expander("Log", expanded=status["state"] in ("failed", "lost")):
        st.code(jobs.log_tail(job, 30) or "(no output yet)", language=None)
    try:
        results = _results(str(job.dir), str(out_path), status["state"], _stamp(out_path))
    except CatalogWriterError as e:  # e.g. the source catalog was moved since the job ran
        st.warning(str(e))
        results = []
    if results:
        st.subheader(f"Results ({len(results)})")
        cols = ["id", "title", "unsupported", "missing", "coverage", "description", "model_version"]
        table = pd.DataFrame(results)[cols]
        flagged = table["unsupported"].astype(bool)
        st.caption(f"{int(flagged.sum())} description(s) flagged with unsupported claims (highlighted).")
        styled = table.style.apply(
            lambda row: ["background-color: #fde2e1" if flagged[row.name] else "" for _ in row], axis=1)
        st.dataframe(styled, hide_index=True, width="stretch")
    state.rerun_when_finished(job, status, "batch")


live_progress()
status = job.status()
running = state.stop_button(job, status, "batch")
resumable = not running and (status["state"] != "done" or not out_path.exists())
help_resume = "Runs the job again; finished products are kept."
if resumable and st.button("Resume", key="batch_resume", help=help_resume):
    jobs.restart_job(job)
    st.rerun()

# --- download ---------------------------------------------------------------------------------------
if status["state"] == "done" and out_path.exists():
    st.subheader("Download")
    d1, d2, d3 = st.columns(3)
    d1.download_button(f"Catalog ({job.meta.get('format')} file)", out_path.read_bytes(),
                       file_name=out_path.name, key="batch_dl_same", type="primary")
    for col, fmt in ((d2, "csv"), (d3, "jsonl")):
        try:
            data = batch_jobs.batch_export(job, out_path, fmt).read_bytes()
        except CatalogWriterError as e:
            col.error(str(e))
            continue
        col.download_button(f"Records as {fmt.upper()}", data, file_name=f"{out_path.stem}.{fmt}",
                            key=f"batch_dl_{fmt}")
