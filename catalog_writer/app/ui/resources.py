"""Cached resources of the review app: the feedback Store, Generators, the reward model, read catalogs.

`st.cache_resource` objects are shared by every browser session and thread, so only thread-safe objects
live there: the feedback Store (a SQLAlchemy engine, never a raw connection) and Generators, each paired
with a lock so two sessions never run the same model at once. A Generator is keyed by its adapter's files
as well as its path, so an adapter retrained in place is loaded afresh, not served from the old weights.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import streamlit as st

from catalog_writer.app.ui.config import config
from catalog_writer.core.errors import CatalogWriterError

# What decides an adapter's output: weights, LoRA config, run.json (written last by training), template.
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json", "run.json",
                 "template.json")


@st.cache_resource(show_spinner=False)
def _store(url: str | None):
    from catalog_writer.feedback.store import Store

    return Store(url)


def store():
    """The feedback Store for CATALOG_WRITER_DB, one per process (thread-safe engine)."""
    return _store(config().db_url)


def adapter_stamp(adapter: Path | str | None) -> tuple[tuple[str, int, int, int], ...]:
    """(file, inode, mtime ns, size) of each of ADAPTER_FILES present: changes when training rewrites the
    folder (atomic writes give new inodes), costs a few stat calls rather than hashing the weights."""
    if adapter is None:
        return ()
    out = []
    for name in ADAPTER_FILES:
        try:
            info = (Path(adapter) / name).stat()
        except OSError:  # absent (or unreadable: the Generator will say so)
            continue
        out.append((name, info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(out)


@st.cache_resource(show_spinner="Loading the model...", max_entries=3)
def _generator(base: str | None, adapter: str | None, stamp: tuple = ()):  # stamp: part of the key only
    from catalog_writer.inference.generate import Generator

    gen = Generator(base_model=Path(base) if base else None, adapter=Path(adapter) if adapter else None)
    return gen, threading.Lock()


def generator(adapter: Path | None):
    """(Generator, lock) for the configured base plus `adapter`; hold the lock while generating. With a
    reward model configured (CATALOG_WRITER_REWARD) it ranks the candidates and variants."""
    base = config().base
    gen, lock = _generator(str(base) if base else None, str(adapter) if adapter else None,
                           adapter_stamp(adapter))
    gen.reward = reward_model()
    return gen, lock


@st.cache_resource(show_spinner="Loading the reward model...", max_entries=2)
def _reward(path: str):
    from catalog_writer.inference.reward_scorer import RewardScorer

    return RewardScorer(path)


def reward_model():
    """The reward model of CATALOG_WRITER_REWARD (a `reward train` folder), loaded once; None when unset."""
    path = os.environ.get("CATALOG_WRITER_REWARD")
    return _reward(str(Path(path).expanduser().resolve())) if path else None


@st.cache_data(show_spinner="Reading the catalog...", max_entries=16)
def _read(path: str, fmt: str | None, mtime: float):
    from catalog_writer.ingest import catalog

    return catalog.read_catalog(Path(path), format=fmt)


def read_catalog(path: Path, fmt: str | None = None):
    """Cached catalog.read_catalog; the file's mtime is part of the key so edits are picked up."""
    path = Path(path)
    if not path.is_file():
        raise CatalogWriterError("file not found", file=path)
    return _read(str(path.resolve()), fmt, path.stat().st_mtime)
