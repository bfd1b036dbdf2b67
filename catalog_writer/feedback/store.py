"""The feedback store: product snapshots, generations, reviews and A/B comparisons (SQLAlchemy 2 ORM).

Which database and how it is opened (SQLite WAL + BEGIN IMMEDIATE, any SQLAlchemy URL): database.py. One
Engine per Store and a Session per call, so a Store is safe to share between threads (Streamlit
`st.cache_resource`); concurrent processes lose nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.feedback.database import DEFAULT_DB, ENV_VAR, migrate_schema, open_engine, resolve_url
from catalog_writer.feedback.schema import SIDES, STATUSES, Comparison, Generation, ProductSnapshot, Review

# The URL helpers lived here before database.py: still importable from here.
__all__ = ["DEFAULT_DB", "ENV_VAR", "Store", "resolve_url"]


def _as_dict(obj: Any) -> dict:
    """ORM row -> plain dict; naive datetimes (SQLite keeps no zone) are marked UTC, as they were written."""
    out = {c.key: getattr(obj, c.key) for c in inspect(obj).mapper.column_attrs}
    for k, v in out.items():
        if isinstance(v, datetime) and v.tzinfo is None:
            out[k] = v.replace(tzinfo=timezone.utc)
    return out


def _reviewer(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise CatalogWriterError("a reviewer name is required: every feedback write is attributed")
    if len(name) > 200:
        raise CatalogWriterError("reviewer name is longer than 200 characters")
    return name


class Store:
    """Feedback database. `url=None` -> env CATALOG_WRITER_DB or sqlite `data/feedback.db`."""

    def __init__(self, url: str | None = None, echo: bool = False) -> None:
        self.url, self.display_url, self.is_sqlite, engine = open_engine(url, echo)
        self.engine: Engine = engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(sqlite_begin="IMMEDIATE"),
                                   expire_on_commit=False)
        self.schema_version = migrate_schema(self.engine, self.url, self.display_url)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction (committed on success, rolled back on error)."""
        with self._write.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    # ---- writes ------------------------------------------------------------------------------------

    def snapshot_product(self, product: Any, catalog_name: str, catalog_path: str | Path | None = None) -> int:
        """Store what the reviewer sees of a product (Product, or a pairs/JSONL record dict); return its id.

        Identical snapshots (same catalog, id, title, attributes, reference) share one row.
        """
        fields = _snapshot_fields(product)
        fields.update(catalog_name=str(catalog_name), catalog_path=str(catalog_path) if catalog_path else None)
        key = json.dumps([fields["catalog_name"], fields["product_id"], fields["title"], fields["attributes"],
                          fields["reference"]], sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(key.encode()).hexdigest()
        for _ in range(2):  # a concurrent writer (PostgreSQL) may insert the same snapshot first
            try:
                with self.writing() as s:
                    found = s.scalar(select(ProductSnapshot.id).where(ProductSnapshot.digest == digest))
                    if found is not None:
                        return found
                    row = ProductSnapshot(digest=digest, **fields)
                    s.add(row)
                    s.flush()
                    return row.id
            except IntegrityError:
                continue
        raise CatalogWriterError(f"could not store the snapshot of product {fields['product_id']!r}")

    def add_generation(self, snapshot_id: int, prompt: list[dict], text: str, model_version: str,
                       html: str = "", settings: dict | None = None, flags: dict | None = None) -> int:
        """Record one model output for a stored product snapshot; return its id."""
        if not (model_version or "").strip():
            raise CatalogWriterError("a generation needs its model/adapter version")
        if not isinstance(prompt, list) or not all(isinstance(m, dict) and "role" in m for m in prompt):
            raise CatalogWriterError("prompt must be a list of chat messages {role, content}")
        with self.writing() as s:
            if s.get(ProductSnapshot, snapshot_id) is None:
                raise CatalogWriterError(f"no product snapshot with id {snapshot_id}")
            row = Generation(snapshot_id=snapshot_id, prompt=prompt, text=text, html=html or "",
                             model_version=model_version.strip(), settings=settings or {}, flags=flags or {})
            s.add(row)
            s.flush()
            return row.id

    def add_draft(self, snapshot_id: int, draft: Any) -> int:
        """Record a `generate.Draft` (or a dict with its fields)."""
        get = draft.get if isinstance(draft, dict) else lambda k, d=None: getattr(draft, k, d)
        return self.add_generation(snapshot_id, get("prompt"), get("text"), get("model_version"),
                                   html=get("html", ""), settings=get("settings"), flags=get("flags"))

    def add_review(self, generation_id: int, reviewer: str, status: str = "draft", rating: int | None = None,
                   edited_text: str | None = None, seconds: float | None = None) -> int:
        """Record a reviewer's rating/edit/decision on a generation; the latest review per generation wins."""
        reviewer = _reviewer(reviewer)
        if status not in STATUSES:
            raise CatalogWriterError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if rating is not None and (isinstance(rating, bool) or rating not in range(1, 6)):
            raise CatalogWriterError(f"rating must be an integer 1-5 or empty, not {rating!r}")
        if seconds is not None and seconds < 0:
            raise CatalogWriterError("seconds spent cannot be negative")
        if edited_text is not None and not edited_text.strip():
            edited_text = None
        with self.writing() as s:
            if s.get(Generation, generation_id) is None:
                raise CatalogWriterError(f"no generation with id {generation_id}")
            row = Review(generation_id=generation_id, reviewer=reviewer, status=status, rating=rating,
                         edited_text=edited_text, seconds=seconds)
            s.add(row)
            s.flush()
            return row.id

    def add_comparison(self, generation_a_id: int, generation_b_id: int, choice: str, reviewer: str,
                       a_side: str = "left", model_a: str | None = None, model_b: str | None = None,
                       seconds: float | None = None) -> int:
        """Record an A/B judgement. `choice`: "A"/"B"/"tie" (the systems) or "left"/"right" (screen side,
        resolved with `a_side`, where system A was shown). Models default to the generations'. Each text
        keeps its own prompt (on its generation): the row's `prompt` is A's, `comparisons()` adds B's."""
        reviewer = _reviewer(reviewer)
        if a_side not in SIDES:
            raise CatalogWriterError(f"a_side must be left or right, not {a_side!r}")
        c = (choice or "").strip().lower()
        if c in SIDES:
            c = "a" if c == a_side else "b"
        if c not in ("a", "b", "tie"):
            raise CatalogWriterError(f"choice must be A, B, tie, left or right, not {choice!r}")
        with self.writing() as s:
            ga, gb = s.get(Generation, generation_a_id), s.get(Generation, generation_b_id)
            if ga is None or gb is None:
                raise CatalogWriterError(f"no generation with id {generation_a_id if ga is None else generation_b_id}")
            if ga.snapshot_id != gb.snapshot_id:
                raise CatalogWriterError("an A/B comparison needs two generations of the same product")
            model_a, model_b = model_a or ga.model_version, model_b or gb.model_version
            row = Comparison(snapshot_id=ga.snapshot_id, prompt=ga.prompt, model_a=model_a,
                             model_b=model_b, generation_a_id=ga.id, generation_b_id=gb.id, a_side=a_side,
                             winner=c, winner_model={"a": model_a, "b": model_b}.get(c, "tie"),
                             reviewer=reviewer, seconds=seconds)
            s.add(row)
            s.flush()
            return row.id

    # ---- reads -------------------------------------------------------------------------------------

    def get_generation(self, generation_id: int) -> dict | None:
        """A generation with its product snapshot (`product`) and latest review (`review`, or None)."""
        rows = self.generations(ids=[generation_id])
        return rows[0] if rows else None

    def generations(self, ids: list[int] | None = None, model_version: str | None = None,
                    product_id: str | None = None) -> list[dict]:
        """Generations (oldest first) with `product` (snapshot dict) and `review` (latest review or None)."""
        latest = _latest_review_ids()
        q = (select(Generation, ProductSnapshot, Review)
             .join(ProductSnapshot, Generation.snapshot_id == ProductSnapshot.id)
             .outerjoin(latest, latest.c.generation_id == Generation.id)
             .outerjoin(Review, Review.id == latest.c.review_id)
             .order_by(Generation.id))
        if ids is not None:
            q = q.where(Generation.id.in_(ids))
        if model_version is not None:
            q = q.where(Generation.model_version == model_version)
        if product_id is not None:
            q = q.where(ProductSnapshot.product_id == product_id)
        with self.reading() as s:
            return [{**_as_dict(g), "product": _as_dict(p), "review": _as_dict(r) if r else None}
                    for g, p, r in s.execute(q)]

    def reviews(self, generation_id: int | None = None, reviewer: str | None = None,
                status: str | None = None) -> list[dict]:
        """Every review (history included), oldest first."""
        q = select(Review).order_by(Review.id)
        if generation_id is not None:
            q = q.where(Review.generation_id == generation_id)
        if reviewer is not None:
            q = q.where(Review.reviewer == reviewer)
        if status is not None:
            q = q.where(Review.status == status)
        with self.reading() as s:
            return [_as_dict(r) for r in s.scalars(q)]

    def comparisons(self) -> list[dict]:
        """Every A/B comparison, oldest first, with `product` (snapshot dict) and each text's own prompt
        (`prompt_a`, `prompt_b`, from the generations: two systems may have been given different prompts)."""
        gen_a, gen_b = aliased(Generation), aliased(Generation)
        q = (select(Comparison, ProductSnapshot, gen_a.prompt, gen_b.prompt)
             .join(ProductSnapshot, Comparison.snapshot_id == ProductSnapshot.id)
             .join(gen_a, gen_a.id == Comparison.generation_a_id)
             .join(gen_b, gen_b.id == Comparison.generation_b_id).order_by(Comparison.id))
        with self.reading() as s:
            return [{**_as_dict(c), "product": _as_dict(p), "prompt_a": pa, "prompt_b": pb}
                    for c, p, pa, pb in s.execute(q)]

    def counts(self) -> dict[str, int]:
        with self.reading() as s:
            return {t.__tablename__: s.scalar(select(func.count()).select_from(t))
                    for t in (ProductSnapshot, Generation, Review, Comparison)}


def _latest_review_ids():
    """Subquery generation_id -> id of its latest review (highest id: ids grow with insertion order)."""
    return (select(Review.generation_id, func.max(Review.id).label("review_id"))
            .group_by(Review.generation_id).subquery())


def _snapshot_fields(product: Any) -> dict:
    """Product dataclass or record dict -> snapshot columns (attributes = the flattened facts)."""
    if isinstance(product, dict):
        ref = product.get("reference") or product.get("description") or ""
        if not ref and product.get("completion"):
            ref = product["completion"][0].get("content", "")
        attrs, pid, title = product.get("attributes") or {}, product.get("id"), product.get("title", "")
    else:
        from catalog_writer.dataset.pairs import product_facts  # the same facts generation/eval check against

        attrs, pid, title, ref = product_facts(product), product.id, product.title, product.description
    if pid is None or str(pid).strip() == "":
        raise CatalogWriterError("a product snapshot needs the product id")
    return {"product_id": str(pid), "title": title or "", "reference": ref or "",
            "attributes": {str(k): str(v) for k, v in attrs.items()}}
