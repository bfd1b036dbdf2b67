"""`generate --workers N` on Ray Data: the same file as one process (greedy), every product exactly once
after a worker dies mid-job, and a job whose driver died resumes from the journal. One local Ray cluster
(2 CPUs, 200 MB object store) serves the module: each job still starts its own actors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from engine_helpers import Spy

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.inference import batch
from catalog_writer.inference.settings import GenerationSettings
from catalog_writer.ingest.catalog import read_catalog

ray = pytest.importorskip("ray")
distributed = pytest.importorskip("catalog_writer.inference.distributed")

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo-catalog.csv"
LIMIT = 10
SETTINGS = GenerationSettings(batch_size=2, max_new_tokens=8)  # greedy
CLI_OPTS = ["--limit", str(LIMIT), "--batch-size", "2", "--max-new-tokens", "8"]
IDS = [p.id for p in read_catalog(DEMO).products[:LIMIT]]


@pytest.fixture(scope="module")
def cluster() -> str:
    """A local Ray cluster for the module (RayRunner reuses an initialised Ray); yields its address."""
    start = time.perf_counter()
    with distributed.ray_session(2):
        print(f"\nlocal Ray cluster started in {time.perf_counter() - start:.1f} s")
        yield ray.get_runtime_context().gcs_address


@pytest.fixture(scope="module")
def single(varied_dir, tmp_path_factory) -> bytes:
    """The single-process job's output file."""
    out = tmp_path_factory.mktemp("single") / "out.csv"
    batch.run_batch(DEMO, out, base_model=varied_dir, limit=LIMIT, settings=SETTINGS)
    return out.read_bytes()


@pytest.mark.slow
def test_two_workers_write_the_same_file_as_one_process(cluster, varied_dir, single, tmp_path):
    from typer.testing import CliRunner

    from catalog_writer.app.cli import app

    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["generate", str(DEMO), "-o", str(out), "--base-model", str(varied_dir),
                                   *CLI_OPTS, "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == single  # byte for byte
    assert f"{LIMIT}/{LIMIT}" in res.output and "2 workers" in res.output  # products across workers
    assert not batch.journal_path(out).exists()


@pytest.mark.slow
def test_killed_worker_and_killed_driver_give_every_product_once(cluster, varied_dir, single, tmp_path,
                                                                  monkeypatch):
    out, marker = tmp_path / "out.csv", tmp_path / "killed"
    # The first worker to have written 3 products (its second batch) exits hard before returning that
    # batch; Ray Data restarts the actor and runs the batch again. Only the driver writes the journal.
    monkeypatch.setenv(distributed.KILL_ENV, f"3:{marker}")
    batch.run_batch(DEMO, out, base_model=varied_dir, limit=LIMIT, settings=SETTINGS,
                    runner=distributed.RayRunner(workers=2), keep_journal=True)
    assert marker.exists()  # a worker did die
    journal = batch.journal_path(out)
    lines = journal.read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(IDS)  # each product once
    assert out.read_bytes() == single

    # A driver killed after journaling two batches, one more cut mid-line: the same job resumes from the
    # journal (here in one process: the journal is the same) and writes the same file.
    from catalog_writer.inference.generate import Generator

    out.unlink()
    journal.write_text("\n".join(lines[:4]) + "\n" + lines[4][:30])
    spy = Spy(Generator(base_model=varied_dir, dtype="float32"))
    batch.run_batch(DEMO, out, base_model=varied_dir, limit=LIMIT, settings=SETTINGS, generator=spy)
    assert sorted(spy.seen) == sorted(set(IDS) - {json.loads(line)["id"] for line in lines[:4]})
    assert out.read_bytes() == single


def test_bad_worker_counts_are_one_line_errors(tmp_path):
    from typer.testing import CliRunner

    from catalog_writer.app.cli import app

    res = CliRunner().invoke(app, ["generate", str(DEMO), "-o", str(tmp_path / "o.csv"), "--workers", "0"])
    assert isinstance(res.exception, CatalogWriterError)
    assert "--workers must be 1 or more" in str(res.exception)
    with pytest.raises(CatalogWriterError, match="--gpus-per-worker"):
        distributed.RayRunner(workers=1, gpus_per_worker=-1)


def test_a_worker_that_cannot_load_its_engine_is_one_line(cluster, varied_dir, tmp_path):
    from typer.testing import CliRunner

    from catalog_writer.app.cli import app

    import importlib.util

    if importlib.util.find_spec("vllm"):
        pytest.skip("vLLM is installed here: the worker's engine would load")
    out = tmp_path / "out.csv"
    res = CliRunner().invoke(app, ["generate", str(DEMO), "-o", str(out), "--base-model", str(varied_dir),
                                   "--limit", "2", "--engine", "vllm", "--workers", "1"])
    assert isinstance(res.exception, CatalogWriterError), res.output
    assert str(res.exception).startswith("a Ray worker stopped: --engine vllm needs vLLM")
    assert not out.exists()
