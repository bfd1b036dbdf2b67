"""The feedback store: round trips, validation, migrations, threads and 8 concurrent writer processes."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import threading
import time

import pytest

from catalog_writer.errors import CatalogWriterError
from catalog_writer.feedback import Store, resolve_url

PROMPT = [{"role": "system", "content": "You write copy."}, {"role": "user", "content": "Title: Wool socks"}]
RECORD = {"id": "socks-1", "title": "Wool socks", "attributes": {"Material": "Merino"},
          "completion": [{"role": "assistant", "content": "Warm merino socks."}]}


@pytest.fixture()
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'fb.db'}")
    yield s
    s.close()


def test_round_trip_snapshot_generation_review_comparison(store):
    sid = store.snapshot_product(RECORD, "demo.csv", catalog_path="/data/demo.csv")
    assert store.snapshot_product(dict(RECORD), "demo.csv") == sid  # identical snapshot stored once
    assert store.snapshot_product({**RECORD, "title": "Wool socks II"}, "demo.csv") != sid
    g1 = store.add_generation(sid, PROMPT, "Soft socks.", "fernhill@v1", html="<p>Soft socks.</p>",
                              settings={"temperature": 0.7, "do_sample": True}, flags={"unsupported": ["silk"]})
    g2 = store.add_draft(sid, {"prompt": PROMPT, "text": "Cosy socks.", "html": "", "model_version": "fernhill@v2",
                               "settings": {}, "flags": {}})
    store.add_review(g1, "  ann ", status="draft", rating=3)
    r2 = store.add_review(g1, "bob", status="approved", rating=5, edited_text="Soft merino socks.", seconds=42.5)
    c = store.add_comparison(g1, g2, "right", "carol", a_side="left")

    g = store.get_generation(g1)
    assert g["text"] == "Soft socks." and g["html"] == "<p>Soft socks.</p>" and g["model_version"] == "fernhill@v1"
    assert g["settings"] == {"temperature": 0.7, "do_sample": True} and g["flags"] == {"unsupported": ["silk"]}
    assert g["prompt"] == PROMPT and g["created_at"].tzinfo is not None
    assert g["product"]["product_id"] == "socks-1" and g["product"]["attributes"] == {"Material": "Merino"}
    assert g["product"]["reference"] == "Warm merino socks." and g["product"]["catalog_path"] == "/data/demo.csv"
    # the latest review is the generation's state; the history is kept
    assert g["review"]["id"] == r2 and g["review"]["status"] == "approved" and g["review"]["seconds"] == 42.5
    assert [r["reviewer"] for r in store.reviews(generation_id=g1)] == ["ann", "bob"]
    assert store.get_generation(g2)["review"] is None
    (cmp,) = store.comparisons()
    assert cmp["id"] == c and cmp["winner"] == "b" and cmp["winner_model"] == "fernhill@v2"
    assert (cmp["model_a"], cmp["model_b"], cmp["a_side"]) == ("fernhill@v1", "fernhill@v2", "left")
    assert store.counts() == {"product_snapshots": 2, "generations": 2, "reviews": 2, "comparisons": 1}
    assert [x["id"] for x in store.generations(model_version="fernhill@v2")] == [g2]


def test_choice_by_screen_side_and_tie(store):
    sid = store.snapshot_product(RECORD, "demo.csv")
    a = store.add_generation(sid, PROMPT, "A text", "v1")
    b = store.add_generation(sid, PROMPT, "B text", "v2")
    store.add_comparison(a, b, "left", "ann", a_side="right")  # A was on the right: left means B won
    store.add_comparison(a, b, "tie", "ann")
    store.add_comparison(a, b, "A", "ann")
    assert [(c["winner"], c["winner_model"]) for c in store.comparisons()] == [("b", "v2"), ("tie", "tie"),
                                                                               ("a", "v1")]


@pytest.mark.parametrize("kwargs, match", [
    ({"reviewer": ""}, "reviewer"), ({"reviewer": "   "}, "reviewer"), ({"rating": 0}, "rating"),
    ({"rating": 6}, "rating"), ({"rating": 2.5}, "rating"), ({"rating": True}, "rating"),
    ({"status": "submitted"}, "status"), ({"seconds": -1}, "negative"), ({"generation_id": 999}, "no generation"),
])
def test_review_validation(store, kwargs, match):
    sid = store.snapshot_product(RECORD, "demo.csv")
    gid = store.add_generation(sid, PROMPT, "t", "v1")
    args = {"generation_id": gid, "reviewer": "ann", "status": "approved", "rating": 4} | kwargs
    with pytest.raises(CatalogWriterError, match=match):
        store.add_review(**args)
    assert store.counts()["reviews"] == 0


def test_other_validation(store):
    sid = store.snapshot_product(RECORD, "demo.csv")
    g = store.add_generation(sid, PROMPT, "t", "v1")
    other = store.add_generation(store.snapshot_product({**RECORD, "id": "hat"}, "demo.csv"), PROMPT, "t", "v2")
    with pytest.raises(CatalogWriterError, match="model"):
        store.add_generation(sid, PROMPT, "t", " ")
    with pytest.raises(CatalogWriterError, match="snapshot"):
        store.add_generation(999, PROMPT, "t", "v1")
    with pytest.raises(CatalogWriterError, match="chat messages"):
        store.add_generation(sid, "Title: socks", "t", "v1")
    with pytest.raises(CatalogWriterError, match="reviewer"):
        store.add_comparison(g, g, "A", "")
    with pytest.raises(CatalogWriterError, match="choice"):
        store.add_comparison(g, g, "C", "ann")
    with pytest.raises(CatalogWriterError, match="same product"):
        store.add_comparison(g, other, "A", "ann")
    with pytest.raises(CatalogWriterError, match="product id"):
        store.snapshot_product({"title": "no id"}, "demo.csv")
    with pytest.raises(CatalogWriterError, match="URL"):
        Store("notadialect://x")
    with pytest.raises(CatalogWriterError, match="URL"):
        Store("postgresql+nosuchdriver://u@localhost/db")


def test_sqlite_pragmas_and_migrations(tmp_path):
    path = tmp_path / "sub" / "fb.db"  # parent folder is created
    s = Store(str(path))  # a bare path means a SQLite file
    assert s.schema_version == 1
    with s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    s.close()
    # reopening does not re-run migrations; the version table holds one row per applied migration
    Store(str(path)).close()
    rows = sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall()
    assert rows == [(1,)]


def test_url_from_env_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOG_WRITER_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert resolve_url() == f"sqlite:///{tmp_path / 'env.db'}"
    assert resolve_url("sqlite://") == "sqlite://"
    monkeypatch.delenv("CATALOG_WRITER_DB")
    assert resolve_url() == "sqlite:///data/feedback.db"
    monkeypatch.chdir(tmp_path)
    Store().close()
    assert (tmp_path / "data" / "feedback.db").exists()


def test_shared_store_across_threads(store):
    """One Store (as st.cache_resource shares it) used by several threads at once."""
    gid = store.add_generation(store.snapshot_product(RECORD, "demo.csv"), PROMPT, "t", "v1")
    errors = []

    def work(i):
        try:
            for j in range(25):
                store.add_review(gid, f"thread-{i}", status="draft", rating=1 + j % 5)
                store.get_generation(gid)
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.reviews()) == 100


def _write_reviews(url: str, gid: int, worker: int, n: int) -> None:
    s = Store(url)  # each process opens its own engine (never share one across fork)
    for i in range(n):
        s.add_review(gid, f"worker-{worker}", status=("draft", "approved", "rejected")[i % 3], rating=1 + i % 5)
    s.close()


def test_eight_processes_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'fb.db'}"
    s = Store(url)
    gid = s.add_generation(s.snapshot_product(RECORD, "demo.csv"), PROMPT, "t", "v1")
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    t0 = time.perf_counter()
    procs = [ctx.Process(target=_write_reviews, args=(url, gid, w, 300)) for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    elapsed = time.perf_counter() - t0
    assert [p.exitcode for p in procs] == [0] * 8
    reviews = s.reviews()
    assert len(reviews) == 2400
    assert {r["reviewer"] for r in reviews} == {f"worker-{w}" for w in range(8)}
    assert all(sum(r["reviewer"] == f"worker-{w}" for r in reviews) == 300 for w in range(8))
    assert elapsed < 10, elapsed


def test_snapshot_of_a_catalog_product(store):
    from catalog_writer.catalog import Product

    p = Product(id="tee-1", title="Linen tee", brand="Fernhill", category=["Men", "Tops"],
                attributes={"Material": "Linen"}, options={"Size": ["S", "M"]}, description="A linen tee.")
    sid = store.snapshot_product(p, "shop.csv")
    gid = store.add_generation(sid, PROMPT, "t", "v1")
    snap = store.get_generation(gid)["product"]
    assert (snap["product_id"], snap["title"], snap["reference"]) == ("tee-1", "Linen tee", "A linen tee.")
    # the flattened facts that generation and evaluation check against: attributes + options + brand + category
    assert snap["attributes"]["Material"] == "Linen" and "S" in snap["attributes"]["Size"]
    assert "Fernhill" in snap["attributes"].values()
