"""Batch (`generate`) jobs seen from the app: progress, results and exports read from the job's files.

The job itself is `catalog-writer generate` run by catalog_writer.app.jobs; this module only reads its
journal, output and flags file, so the Batch page works the same while the job runs, after it stops, and
after the Streamlit server restarts.
"""

from __future__ import annotations

from pathlib import Path

from catalog_writer.core.fileio import atomic_write, read_jsonl, unescape_formula
from catalog_writer.app.jobs import Job, job_status, to_number


def batch_progress(job: Job, out: Path) -> tuple[int, int]:
    """(products done, products selected): journal lines while running, everything once done."""
    from catalog_writer.inference.batch import journal_path

    total = int(job.meta.get("total") or 0)
    if job_status(job)["state"] == "done" and Path(out).exists():
        return total, total
    ids = {r["id"] for r in _journal(journal_path(Path(out)))}
    return min(len(ids), total) if total else len(ids), total


def _journal(path: Path) -> list[dict]:
    """Journal records (a line cut short by a kill is skipped, as the batch job itself does)."""
    return [r for r in read_jsonl(path, skip_broken=True) if r.get("id") and r.get("variants")]


def _flags_file(out: Path) -> list[dict]:
    """The `OUT.flags.csv` side file (id, row, model_version, unsupported, missing, coverage...)."""
    import csv

    path = Path(out).with_name(Path(out).name + ".flags.csv")
    if not path.exists():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [{k: unescape_formula(v or "") for k, v in row.items()} for row in csv.DictReader(f)]


def batch_results(job: Job, out: Path) -> list[dict]:
    """One row per written product: id, title, description (plain text), model version and flags.

    From the finished file and its flags side file, or from the journal while the job runs.
    """
    from catalog_writer.inference.batch import journal_path
    from catalog_writer.ingest.catalog import read_catalog

    src = {p.id: p for p in read_catalog(Path(job.meta["catalog"]), format=job.meta.get("format")).products}
    rows = []
    if job_status(job)["state"] == "done" and Path(out).exists():
        written = {p.id: p for p in read_catalog(Path(out), format=job.meta.get("format")).products}
        for f in _flags_file(out):
            p = written.get(f["id"])
            rows.append({"id": f["id"], "title": p.title if p else "",
                         "description": p.description if p else "",
                         "model_version": f.get("model_version", ""),
                         "coverage": to_number(f.get("coverage") or None),
                         "unsupported": f.get("unsupported", ""), "missing": f.get("missing", "")})
        return rows
    latest = {r["id"]: r for r in _journal(journal_path(Path(out)))}
    for pid, r in latest.items():
        v = r["variants"][0]
        flags = v.get("flags") or {}
        rows.append({"id": pid, "title": src[pid].title if pid in src else "",
                     "description": v.get("text", ""),
                     "model_version": r.get("model_version", ""), "coverage": flags.get("coverage"),
                     "unsupported": "; ".join(flags.get("unsupported", [])),
                     "missing": "; ".join(flags.get("missing", []))})
    return rows


def batch_export(job: Job, out: Path, fmt: str) -> Path:
    """The finished job's catalog as `csv` or `jsonl` records (written once, next to the output)."""
    from catalog_writer.ingest.catalog import read_catalog
    from catalog_writer.ingest.writeback import write_catalog

    target = Path(out).with_name(f"{Path(out).stem}.export.{fmt}")
    if target.exists() and target.stat().st_mtime >= Path(out).stat().st_mtime:
        return target
    src = read_catalog(Path(job.meta["catalog"]), format=job.meta.get("format"))
    written = {p.id: p for p in read_catalog(Path(out), format=job.meta.get("format")).products}
    flags = {f.pop("id"): f for f in _flags_file(out)}
    texts = {pid: written[pid].description_html for pid in flags if pid in written}
    extra = {pid: {k: v for k, v in f.items() if k != "row"} for pid, f in flags.items()}
    return write_catalog(src, texts, target, out_format=fmt, extra=extra)


def write_subset(cat, ids: set[str], out: Path) -> Path:
    """A CSV with the header and only the source rows of products `ids`, for a batch job on a filtered
    selection (the generate command takes whole files). Rows are copied as read; atomic write."""
    import csv

    keep = sorted({r - 2 for p in cat.products if p.id in ids for r in p.rows if r >= 2})

    def write(f) -> None:
        w = csv.writer(f, delimiter=cat.delimiter if cat.encoding != "xlsx" else ",")
        w.writerow(cat.header)
        w.writerows(cat.table[i] for i in keep if i < len(cat.table))

    return atomic_write(Path(out), write)
