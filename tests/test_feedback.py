"""The feedback store: round trips, validation, migrations, threads and 8 concurrent writer processes.

Store tests run on SQLite and, where a PostgreSQL server binary (initdb/pg_ctl) and psycopg are installed,
on a throw-away PostgreSQL cluster too (skipped otherwise).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import uuid

import pytest

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.feedback.store import Store, resolve_url

PROMPT = [{"role": "system", "content": "You write copy."}, {"role": "user", "content": "Title: Wool socks"}]
RECORD = {"id": "socks-1", "title": "Wool socks", "attributes": {"Material": "Merino"},
          "completion": [{"role": "assistant", "content": "Warm merino socks."}]}


@pytest.fixture(scope="session")
def pg_server():
    """(socket dir, port) of a temporary PostgreSQL cluster, listening on a Unix socket only."""
    pytest.importorskip("psycopg")
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    root = tempfile.mkdtemp(prefix="cw-pg-")
    run_as = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser")
        try:
            shutil.chown(root, "postgres")
        except LookupError:
            pytest.skip("running as root and there is no postgres user")
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:  # only names the socket file; no TCP listener is opened
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = os.path.join(root, "data")
    subprocess.run([*run_as, "initdb", "-D", data, "-A", "trust", "-U", "postgres"], check=True,
                   capture_output=True)
    subprocess.run([*run_as, "pg_ctl", "-D", data, "-w", "-l", os.path.join(root, "log"), "-o",
                    f"-k {root} -p {port} -c listen_addresses='' -c fsync=off", "start"], check=True,
                   capture_output=True)
    yield root, port
    subprocess.run([*run_as, "pg_ctl", "-D", data, "-m", "immediate", "stop"], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fb.db'}"
    import psycopg

    host, port = request.getfixturevalue("pg_server")
    name = f"fb_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg://postgres@/{name}?host={host}&port={port}"


@pytest.fixture()
def store(url):
    s = Store(url)
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


def test_unusable_databases_are_user_errors_without_passwords(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CatalogWriterError, match="cannot create the database folder"):
        Store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'fb.db'}")
    with pytest.raises(CatalogWriterError) as err:  # no server there (or no driver): either way, one line
        Store(f"postgresql+psycopg://ann:s3cret@/nodb?host={tmp_path}&port=1")
    assert "s3cret" not in str(err.value) and "\n" not in str(err.value) and "***" in str(err.value)


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


def _write_reviews(target: str | Store, gid: int, worker: int, n: int) -> None:
    # a URL: the process opens its own Store; a Store: inherited through fork (its pool is reset there)
    s = Store(target) if isinstance(target, str) else target
    for i in range(n):
        s.add_review(gid, f"worker-{worker}", status=("draft", "approved", "rejected")[i % 3], rating=1 + i % 5)
    s.close()


def test_eight_processes_lose_nothing(url):
    s = Store(url)
    gid = s.add_generation(s.snapshot_product(RECORD, "demo.csv"), PROMPT, "t", "v1")
    fork = "fork" in mp.get_all_start_methods()
    ctx = mp.get_context("fork") if fork else mp.get_context()
    n = 300 if url.startswith("sqlite") else 100  # a server round trip per statement: keep the suite quick
    procs = [ctx.Process(target=_write_reviews, args=(s if fork and w % 2 else url, gid, w, n))
             for w in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)  # a lock wait or deadlock shows as a process still alive (exitcode None)
    assert [p.exitcode for p in procs] == [0] * 8
    reviews = s.reviews()
    assert len(reviews) == 8 * n
    assert all(sum(r["reviewer"] == f"worker-{w}" for r in reviews) == n for w in range(8))
    assert s.counts()["reviews"] == 8 * n  # the parent's own pooled connection still works after the forks


def test_snapshot_of_a_catalog_product(store):
    from catalog_writer.ingest.catalog import Product

    p = Product(id="tee-1", title="Linen tee", brand="Fernhill", category=["Men", "Tops"],
                attributes={"Material": "Linen"}, options={"Size": ["S", "M"]}, description="A linen tee.")
    sid = store.snapshot_product(p, "shop.csv")
    gid = store.add_generation(sid, PROMPT, "t", "v1")
    snap = store.get_generation(gid)["product"]
    assert (snap["product_id"], snap["title"], snap["reference"]) == ("tee-1", "Linen tee", "A linen tee.")
    # the flattened facts that generation and evaluation check against: attributes + options + brand + category
    assert snap["attributes"]["Material"] == "Linen" and "S" in snap["attributes"]["Size"]
    assert "Fernhill" in snap["attributes"].values()


def test_exports_and_stats_on_each_backend(store):
    """The export queries are plain ORM: same results on SQLite and PostgreSQL."""
    from catalog_writer.feedback import exports

    sid = store.snapshot_product(RECORD, "demo.csv")
    a = store.add_generation(sid, PROMPT, "Soft socks.", "v1")
    b = store.add_generation(sid, PROMPT, "Socks socks.", "v2")
    store.add_review(a, "ann", "approved", rating=5, edited_text="Soft merino socks.")
    store.add_review(b, "ann", "rejected", rating=2)
    store.add_comparison(a, b, "B", "bob")  # disagrees with the ratings: both pairs are kept
    pref = [(p["source"], p["chosen"][0]["content"], p["margin"]) for p in exports.preference_records(store)]
    assert pref == [("ab", "Socks socks.", None), ("edit", "Soft merino socks.", None),
                    ("rating", "Soft socks.", 3.0)]
    assert [r["completion"][0]["content"] for r in exports.sft_records(store)] == ["Soft merino socks."]
    assert [r["label"] for r in exports.kto_records(store)] == [True, False]
    ab = exports.stats(store)["ab"][0]
    assert (ab["wins_a"], ab["wins_b"], ab["ties"]) == (0, 1, 0)
