"""Opening the feedback database: which URL, one Engine per store, the schema brought up to date.

SQLite (`data/feedback.db`) is the embedded default; any SQLAlchemy URL works (PostgreSQL for a team), from
`Store(url)`, `--db` or env `CATALOG_WRITER_DB`. On SQLite every connection gets WAL mode and a busy
timeout, and write transactions start with `BEGIN IMMEDIATE` (execution option `sqlite_begin`): a writer
waits for the lock up front instead of failing on a read-to-write upgrade, so concurrent processes lose
nothing.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.feedback.schema import migrate

DEFAULT_DB = Path("data/feedback.db")
ENV_VAR = "CATALOG_WRITER_DB"
BUSY_TIMEOUT_MS = 10_000


def resolve_url(url: str | None = None) -> str:
    """Explicit URL, else env CATALOG_WRITER_DB, else sqlite file data/feedback.db (relative to cwd)."""
    url = url or os.environ.get(ENV_VAR) or f"sqlite:///{DEFAULT_DB}"
    if "://" not in url:  # a bare file path is friendlier than a URL for the embedded case
        url = f"sqlite:///{url}"
    return url


def open_engine(url: str | None = None, echo: bool = False) -> tuple[str, str, bool, Engine]:
    """(resolved URL, the URL for messages (never a password), is it SQLite, its Engine)."""
    url = resolve_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise CatalogWriterError(f"not a database URL: {url!r} ({e})") from None
    display_url = parsed.render_as_string(hide_password=True)
    kwargs: dict[str, Any] = {"echo": echo}
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite:
        db = parsed.database
        if not db or db == ":memory:":  # one shared in-memory database, not one per thread
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            try:
                Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise CatalogWriterError(f"cannot create the database folder: {e.strerror}",
                                         file=db) from None
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as e:  # unknown dialect or its driver not installed
        raise CatalogWriterError(f"cannot use database URL {display_url}: {e}") from None
    if is_sqlite:
        _sqlite_setup(engine)
    _OPEN.add(engine)
    return url, display_url, is_sqlite, engine


def migrate_schema(engine: Engine, url: str, display_url: str) -> int:
    """Create/upgrade the tables; the schema version. A file that is not a database is a one-line error."""
    try:
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            if conn.dialect.name == "postgresql":  # serialise concurrent first starts
                conn.execute(text("SELECT pg_advisory_xact_lock(727100)"))
            return migrate(conn)
    except DatabaseError as e:  # e.g. "file is not a database": a text file as CATALOG_WRITER_DB
        engine.dispose()
        reason = " ".join(str(e.orig).split())  # one line: the CLI prints errors on a single line
        env = os.environ.get(ENV_VAR)
        source = f" (from {ENV_VAR})" if env and resolve_url(env) == url else ""
        raise CatalogWriterError(f"cannot open the feedback database {display_url}{source}: {reason}"
                                 ) from None


# A forked child must not reuse (or close) its parent's pooled connections: it opens its own.
_OPEN: weakref.WeakSet[Engine] = weakref.WeakSet()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: [e.dispose(close=False) for e in list(_OPEN)])


def _sqlite_setup(engine: Engine) -> None:
    """WAL + busy timeout on every connection; we issue BEGIN ourselves so IMMEDIATE is possible."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # the driver's own implicit BEGIN would hide ours
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, much faster commits
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', '')}".strip())
