"""`generate --workers N`: the batch job on Ray Data, on a local Ray cluster or one at `--ray-address`.

The driver (the `catalog-writer` process) forms exactly the batches the single-process job would (prompts
sorted by token length, longest first, cut every `batch_size`), so greedy output is byte-for-byte the
same, and sampled output too (each batch is seeded by its content). Each batch is one row of a Ray
Dataset; `map_batches` sends rows to N actors, each of which loads the engine and adapter once. Records
come back to the driver as batches finish and are appended to the same journal as the single-process job
(`OUT.journal.jsonl`), so:

- a worker that dies is restarted by Ray Data (actors `max_restarts=-1`) and its unfinished batch is run
  again there (`max_task_retries=-1`); a batch is journaled only once, by the driver;
- a killed driver loses only the batches not yet journaled: the same command resumes from the journal.

Ray is imported inside functions (`pip install 'catalog-writer[scale]'`).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import append_jsonl
from catalog_writer.inference.generate import Engine, Generator, load_template
from catalog_writer.inference.settings import GenerationSettings

KILL_ENV = "CATALOG_WRITER_KILL_WORKER"
"""Fault injection for tests: "K:MARKER" makes the first worker that has written K products exit hard
(os._exit, no cleanup), once per MARKER file; Ray restarts it and retries its batch."""

OBJECT_STORE_BYTES = 200 * 1024**2  # records and pickled products are small; Ray's default is 30% of RAM


@contextmanager
def ray_session(workers: int, address: str | None = None) -> Iterator[float]:
    """Connect to Ray (already initialised, `address`, or a new local cluster of `workers` CPUs) and
    yield the seconds it took; a cluster started here is shut down afterwards."""
    try:
        import ray
    except ImportError:
        raise CatalogWriterError("--workers needs Ray: pip install 'catalog-writer[scale]'") from None
    start = time.perf_counter()
    if ray.is_initialized():
        yield 0.0
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no network here; and no prompt about it
    kwargs = dict(log_to_driver=False, configure_logging=False)
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=workers, object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False, **kwargs)
    try:
        yield time.perf_counter() - start
    finally:
        ray.shutdown()


@contextmanager
def _user_errors() -> Iterator[None]:
    """A CatalogWriterError raised in a worker (no vLLM there, a missing model folder) comes out as itself,
    one line, instead of inside the Ray errors that carry it back."""
    try:
        yield
    except Exception as exc:
        seen, stack = set(), [exc]
        while stack:
            e = stack.pop()
            if e is None or id(e) in seen:
                continue
            seen.add(id(e))
            cause = getattr(e, "cause", None)  # ray.exceptions.RayTaskError: the worker's own exception
            if isinstance(cause, CatalogWriterError):
                raise CatalogWriterError(f"a Ray worker stopped: {cause}") from None
            # ActorDiedError (the engine failed to load) carries only the worker's traceback as text
            said = re.findall(r"CatalogWriterError: (.+)", str(getattr(e, "error_msg", "")))
            if said:
                raise CatalogWriterError(f"a Ray worker stopped: {said[-1].strip()}") from None
            stack += [e.__cause__, e.__context__, cause]
        raise


class PromptSizer:
    """An HF engine's template, exemplar index and tokenizer without its model: the driver measures
    prompt lengths exactly as the single-process job does (the engine's own methods), to form the same
    batches. It generates nothing, so it is no Engine."""

    exemplars_for, messages = Engine.exemplars_for, Engine.messages
    encode, prompt_lengths = Generator.encode, Generator.prompt_lengths

    def __init__(self, base_model: Path | None, adapter: Path | None) -> None:
        from catalog_writer.dataset.retrieval import template_index
        from catalog_writer.training import modeling

        self.template = load_template(adapter)
        self.exemplar_index = template_index(self.template, adapter)
        if base_model is None and adapter is not None:
            base_model = modeling.adapter_base(Path(adapter))
        self.tokenizer = modeling.load_tokenizer(modeling.resolve_base(base_model))


def plan_batches(todo: list, settings: GenerationSettings, engine: str, base_model: Path | None,
                 adapter: Path | None) -> list[list]:
    """The single-process job's batches: longest prompts first (HF engine), `batch_size` products each."""
    if engine == "hf":
        sizes = PromptSizer(base_model, adapter).prompt_lengths(todo, settings)
        lengths = dict(zip((p.id for p in todo), sizes))
        todo = sorted(todo, key=lambda p: -lengths[p.id])
    return [todo[i : i + settings.batch_size] for i in range(0, len(todo), settings.batch_size)]


class BatchWorker:
    """A Ray Data actor: loads the engine once, turns rows (one batch of products each) into records."""

    def __init__(self, engine: str, base_model: str | None, adapter: str | None, job: str,
                 settings: GenerationSettings, kill: str | None = None) -> None:
        import torch

        from catalog_writer.inference.batch import make_engine

        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))  # Ray sets it to num_cpus
        self.gen = make_engine(engine, Path(base_model) if base_model else None,
                               Path(adapter) if adapter else None)
        self.job, self.settings, self.kill, self.written = job, settings, kill, 0

    def __call__(self, rows: dict) -> dict:
        from catalog_writer.inference.batch import _record

        out = []
        for payload in rows["payload"]:
            products, hashes = pickle.loads(payload)
            drafts = self.gen.generate(products, self.settings)
            records = [_record(self.job, h, d) for h, d in zip(hashes, drafts)]
            out.append(json.dumps(records, ensure_ascii=False))
            self.written += len(products)
            self._maybe_die()
        return {"records": out}

    def _maybe_die(self) -> None:
        if not self.kill:
            return
        after, marker = self.kill.split(":", 1)
        if self.written >= int(after):
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))  # only the first worker to get here dies
            except FileExistsError:
                return
            os._exit(1)


@dataclass
class RayRunner:
    """Runs a batch job's products on Ray workers: pass as `batch.run_batch(..., runner=RayRunner(2))`."""

    workers: int
    address: str | None = None
    gpus_per_worker: float = 0.0
    startup_s: float | None = None
    """Seconds Ray took to start or connect (set by the last call; 0.0 when it was already running)."""

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise CatalogWriterError(f"--workers must be 1 or more (got {self.workers})")
        if self.gpus_per_worker < 0:
            raise CatalogWriterError(f"--gpus-per-worker must be 0 or more (got {self.gpus_per_worker})")

    def __call__(self, todo: list, settings: GenerationSettings, done: dict, jpath: Path, job: str,
                 p_hash: dict, total: int, *, engine: str, base_model: Path | None, adapter: Path | None,
                 on_batch: Callable[[int], None] | None = None) -> None:
        """Generate `todo` on the workers, journaling each finished batch in `jpath` (see the module doc)."""
        from catalog_writer.inference.batch import _progress_bar

        base_model = Path(base_model).resolve() if base_model else None  # workers may run in another folder
        adapter = Path(adapter).resolve() if adapter else None
        batches = plan_batches(todo, settings, engine, base_model, adapter)
        rows = [{"payload": pickle.dumps((b, [p_hash[p.id] for p in b]))} for b in batches]
        with ray_session(self.workers, self.address) as self.startup_s:
            import ray

            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False  # ours counts products across workers
            ctx.print_on_execution_start = False
            logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # failures still raise; no chatter
            # One row per batch, one block per row: a dead worker costs only the batches it held.
            worker = dict(engine=engine, base_model=str(base_model) if base_model else None,
                          adapter=str(adapter) if adapter else None, job=job, settings=settings,
                          kill=os.environ.get(KILL_ENV))
            ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                BatchWorker, batch_size=1, fn_constructor_kwargs=worker, num_cpus=1,
                num_gpus=self.gpus_per_worker or None,
                compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(rows))),
            )
            start, n_done, tokens = time.perf_counter(), 0, 0
            with _progress_bar() as bar, _user_errors():
                task = bar.add_task("generate", total=total, completed=total - len(todo), rate="")
                for i, row in enumerate(ds.iter_rows()):
                    records = json.loads(row["records"])
                    append_jsonl(jpath, records)  # only the driver writes the journal
                    for r in records:
                        done[r["id"]] = r
                    n_done += sum(len(r["variants"]) for r in records)
                    tokens += sum(v["new_tokens"] for r in records for v in r["variants"])
                    dt = max(time.perf_counter() - start, 1e-9)
                    rate = f"{n_done / dt:.2f} desc/s {tokens / dt:.0f} tok/s, {self.workers} workers"
                    bar.update(task, advance=len(records), rate=rate)
                    if on_batch:
                        on_batch(i)

