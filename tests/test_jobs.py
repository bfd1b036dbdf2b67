"""Background jobs used by the app: detached runner, status, stop/restart, log parsing, subsets."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from catalog_writer.app import batch_jobs

from catalog_writer.app import jobs
from catalog_writer.core.fileio import write_json_atomic

FIXTURE = Path(__file__).parent / "fixtures" / "ui" / "shop.csv"


def _wait(job: jobs.Job, states=jobs.FINISHED, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (st := job.status())["state"] not in states:
        assert time.monotonic() < deadline, jobs.log_tail(job)
        time.sleep(0.1)
    return st


def test_commands_run_in_order_and_stop_at_first_failure(tmp_path):
    job = jobs.start_job("demo", [["inspect", str(FIXTURE), "--json"], ["models", "promote", "nope@v9",
                                  "--root", "{job}/models"], ["inspect", str(FIXTURE)]], root=tmp_path)
    st = _wait(job)
    assert st["state"] == "failed" and st["rc"] == 2 and st["step"] == 2  # the third never ran
    log = job.log_path.read_text()
    assert '"products": 3' in log and "unknown voice 'nope'" in log
    assert log.count("$ catalog-writer") == 2
    assert str(job.dir) in job.commands[1][-1]  # {job} became the job folder
    assert [j.id for j in jobs.list_jobs(tmp_path)] == [job.id]
    assert jobs.list_jobs(tmp_path, kind="other") == []

    jobs.restart_job(job)  # same folder, same commands, log appended
    assert _wait(job)["state"] == "failed"
    assert job.log_path.read_text().count("--- restarted") == 1


def test_cancel_stops_the_whole_job(tmp_path):
    # 200 quick commands in a row: long enough to be stopped half way.
    job = jobs.start_job("slow", [["--help"]] * 200, root=tmp_path)
    _wait(job, states=("running",))
    jobs.cancel_job(job)
    st = _wait(job, states=("cancelled",), timeout=20)
    assert st["step"] < 200


def test_status_of_a_runner_that_died_is_lost(tmp_path):
    job = jobs.start_job("quick", [["--help"]], root=tmp_path)
    _wait(job)
    write_json_atomic(job.dir / "status.json", {"state": "running", "pid": 2**22 + 12345})
    assert job.status()["state"] == "lost"


def test_metrics_from_trainer_logs():
    text = ("training:  50%|#  | 1/2 [00:01<00:01, loss=2.500, tok/s=90]\n"
            "training:  50%|#  | 1/2 [00:01<00:01, loss=2.450, tok/s=90]\n"
            "epoch 1.00 step 1: val loss 2.9000\n"
            "{'loss': '1.75', 'grad_norm': 0.5, 'epoch': 2.0}\n")
    rows = jobs.metrics_from_log(text)
    assert {"step": 1, "loss": 2.45} in rows and {"step": 1, "eval_loss": 2.9} in rows
    assert {"loss": 1.75, "grad_norm": 0.5, "epoch": 2.0} in rows
    assert jobs.metrics_from_log("no numbers here") == []


def test_write_subset_keeps_every_row_of_the_chosen_products(tmp_path):
    from catalog_writer.ingest import catalog

    cat = catalog.read_catalog(FIXTURE)
    out = batch_jobs.write_subset(cat, {"wren-mug", "lark-apron"}, tmp_path / "sub.csv")
    sub = catalog.read_catalog(out)
    assert [p.id for p in sub.products] == ["wren-mug", "lark-apron"]
    assert sub.products[0].options == cat.products[0].options  # both variant rows of the mug came along
    with open(out, newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == cat.header
