"""Where the review app finds things: base model, feedback DB, models, catalog and runs, from the environment.

Settings: CATALOG_WRITER_BASE (base model folder), CATALOG_WRITER_DB (feedback DB URL),
CATALOG_WRITER_MODELS (models root), CATALOG_WRITER_CATALOG (catalog shown first), CATALOG_WRITER_RUNS
(jobs and uploads). Unset paths fall back to the working directory, else to the source checkout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MAX_UPLOAD_MB = 50  # also server.maxUploadSize in .streamlit/config.toml and the `app` command
CATALOG_SUFFIXES = ("csv", "tsv", "txt", "xlsx")


@dataclass(frozen=True)
class Config:
    base: Path | None  # None: the embedded default (models/base)
    db_url: str | None  # None: the Store's default (sqlite data/feedback.db)
    models: Path
    catalog: Path
    runs: Path

    @property
    def jobs(self) -> Path:
        return self.runs / "jobs"

    @property
    def uploads(self) -> Path:
        return self.runs / "uploads"


def _default_path(env: str, rel: str) -> Path:
    """The env value, else `rel` under the working directory, else under the repository."""
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser().resolve()
    here = Path(rel)
    return (here if here.exists() or not (REPO / rel).exists() else REPO / rel).resolve()


def config() -> Config:
    base: Path | None = None
    if os.environ.get("CATALOG_WRITER_BASE"):
        base = Path(os.environ["CATALOG_WRITER_BASE"]).expanduser().resolve()
    elif not Path("models/base").exists() and (REPO / "models" / "base").exists():
        base = REPO / "models" / "base"  # started outside the checkout: use the checkout's model
    return Config(
        base=base,
        db_url=os.environ.get("CATALOG_WRITER_DB") or None,
        models=_default_path("CATALOG_WRITER_MODELS", "models"),
        catalog=_default_path("CATALOG_WRITER_CATALOG", "data/demo-catalog.csv"),
        runs=_default_path("CATALOG_WRITER_RUNS", "runs"),
    )


def job_env(cfg: Config) -> dict[str, str]:
    """Environment for background commands so they see the same DB and models as the app."""
    env = {"CATALOG_WRITER_MODELS": str(cfg.models)}
    if cfg.db_url:
        env["CATALOG_WRITER_DB"] = cfg.db_url
    return env
