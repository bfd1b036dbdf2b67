"""ORM tables of the feedback store and the ordered schema migrations that create/upgrade them.

Anchors: Label Studio keeps `model_version` on predictions and `completed_by`/`lead_time` on annotations;
Argilla keeps a per-user response with a status. Here: a product snapshot (what the reviewer saw), a
generation (what the model wrote and how), reviews (one per reviewer action, the latest counts) and A/B
comparisons. JSON columns use SQLAlchemy's JSON type, so the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STATUSES = ("draft", "approved", "rejected")
SIDES = ("left", "right")
WINNERS = ("a", "b", "tie")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    """CHECK (column IN values) from the tuple the code uses: the allowed values live in one place."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProductSnapshot(Base):
    """A product exactly as shown to a reviewer; identical snapshots are stored once (by `digest`)."""

    __tablename__ = "product_snapshots"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    catalog_name: Mapped[str] = mapped_column(String(500))
    catalog_path: Mapped[str | None] = mapped_column(Text)
    product_id: Mapped[str] = mapped_column(String(500), index=True)
    title: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict] = mapped_column(JSON)
    reference: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Generation(Base):
    """One model output for one product: prompt, text, html, model version, decoding settings, flags."""

    __tablename__ = "generations"
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("product_snapshots.id"), index=True)
    prompt: Mapped[list] = mapped_column(JSON)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text, default="")
    model_version: Mapped[str] = mapped_column(String(200), index=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    flags: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Review(Base):
    """One reviewer action on a generation; the latest review of a generation is its current state."""

    __tablename__ = "reviews"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="ck_review_rating"),
        _one_of("status", STATUSES, "ck_review_status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id"), index=True)
    rating: Mapped[int | None] = mapped_column(Integer)
    edited_text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Comparison(Base):
    """A/B judgement between two generations of the same product.

    `prompt` is system A's prompt; each generation keeps its own, and two systems (another template,
    other exemplars) may have been given different prompts, so exports read the prompts of the generations.

    `model_a`/`model_b` are the systems (versions or voices), `a_side` records where A was shown, and
    `winner` is which system won ("a", "b" or "tie"); `winner_model` repeats it as the version string.
    """

    __tablename__ = "comparisons"
    __table_args__ = (_one_of("a_side", SIDES, "ck_comparison_side"),
                      _one_of("winner", WINNERS, "ck_comparison_winner"))
    id: Mapped[int] = mapped_column(primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("product_snapshots.id"), index=True)
    prompt: Mapped[list] = mapped_column(JSON)
    model_a: Mapped[str] = mapped_column(String(200))
    model_b: Mapped[str] = mapped_column(String(200))
    generation_a_id: Mapped[int] = mapped_column(ForeignKey("generations.id"))
    generation_b_id: Mapped[int] = mapped_column(ForeignKey("generations.id"))
    a_side: Mapped[str] = mapped_column(String(8), default="left")
    winner: Mapped[str] = mapped_column(String(8))
    winner_model: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _v1_initial(conn: Connection) -> None:
    tables = [Base.metadata.tables[n] for n in
              ("product_snapshots", "generations", "reviews", "comparisons")]
    Base.metadata.create_all(conn, tables=tables)


# Ordered migrations: index + 1 is the schema version each one produces. Append, never edit or reorder.
# A later column is added with e.g. `conn.execute(text("ALTER TABLE reviews ADD COLUMN note TEXT"))`.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(text("SELECT COALESCE(MAX(version), 0) FROM schema_version")).scalar_one()


def migrate(conn: Connection) -> int:
    """Apply the missing migrations inside the caller's (write-locked) transaction; return the version."""
    SchemaVersion.__table__.create(conn, checkfirst=True)
    version = current_version(conn)
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        step(conn)
        conn.execute(SchemaVersion.__table__.insert().values(version=number, applied_at=utcnow()))
    return max(version, SCHEMA_VERSION)
