"""The Streamlit pages driven headless with AppTest, on the tiny model, a temp DB and a temp models root.

Each test asserts what reached the feedback store / the job folders, not just what was drawn.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from ui_helpers import make_lora_adapter

REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "ui" / "shop.csv"
PAGES = "catalog_writer/app/ui"


@pytest.fixture()
def app_env(tmp_path, tiny_model_dir, monkeypatch):
    """Environment the app reads: tiny base model, temp DB, temp models and runs folders."""
    import streamlit as st
    import torch

    db = f"sqlite:///{tmp_path / 'feedback.db'}"
    monkeypatch.setenv("CATALOG_WRITER_BASE", str(tiny_model_dir))
    monkeypatch.setenv("CATALOG_WRITER_DB", db)
    monkeypatch.setenv("CATALOG_WRITER_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("CATALOG_WRITER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CATALOG_WRITER_CATALOG", str(FIXTURE))
    # The tiny model decodes ~10x faster on one thread than on two contended ones (jobs inherit this).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    st.cache_data.clear()  # catalogs are keyed by path; the models/DB differ per test
    yield {"db": db, "tmp": tmp_path, "models": tmp_path / "models", "runs": tmp_path / "runs"}
    torch.set_num_threads(threads)


def _app(page: str | None = None, reviewer: str | None = "ana") -> AppTest:
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    if reviewer:
        at.sidebar.text_input(key="reviewer_name").input(reviewer)
    if page:
        at.switch_page(f"{PAGES}/{page}")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _store(env):
    from catalog_writer.feedback.store import Store

    return Store(env["db"])


def _small(at: AppTest, prefix: str) -> None:
    """Short outputs keep the tiny model quick: a 1-word target allows 18 new tokens."""
    at.number_input(key=f"{prefix}_target").set_value(1)


def test_catalog_page_upload_report_and_bad_file(app_env):
    at = _app(reviewer=None)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Format"] == "shopify" and metrics["Products"] == "3"

    at.file_uploader(key="catalog_upload").set_value(
        ("broken.csv", b"\x00\x01\x02 not a catalog", "text/csv")).run()
    assert not at.exception
    assert at.error and ("NUL" in at.error[0].value or "binary" in at.error[0].value)
    assert {m.label: m.value for m in at.metric}["Products"] == "3"  # the previous catalog stays
    assert not list((app_env["runs"] / "uploads").glob("*/broken.csv"))  # only parseable uploads are kept

    too_big = b"Handle,Title\n" + b"x" * (50 * 1024 * 1024)
    at.file_uploader(key="catalog_upload").set_value(("huge.csv", too_big, "text/csv")).run()
    assert at.error and "larger than 50 MB" in at.error[0].value
    assert not list((app_env["runs"] / "uploads").glob("*/huge.csv"))  # refused before it was kept

    demo = (REPO / "data" / "demo-catalog.csv").read_bytes()
    at.file_uploader(key="catalog_upload").set_value(("my shop.csv", demo, "text/csv")).run()
    assert not at.error and not at.exception
    assert at.session_state["catalog_path"].endswith("my_shop.csv")
    assert Path(at.session_state["catalog_path"]).read_bytes() == demo  # kept for later batch jobs
    total = len(at.dataframe[-1].value)
    at.checkbox(key="catalog_missing").check().run()
    missing = at.dataframe[-1].value
    assert 0 < len(missing) < total and not missing["has description"].any()
    at.text_input(key="catalog_search").input("scarf").run()
    found = at.dataframe[-1].value
    assert len(found) >= 1 and found["title"].str.contains("Scarf", case=False).all()


def test_write_page_generate_edit_rate_approve_persist(app_env):
    store = _store(app_env)
    at = _app("write_page.py", reviewer=None)
    _small(at, "write")
    at.button(key="write_generate").click().run()
    assert any("Reviewer name" in w.value for w in at.warning)  # nothing is written anonymously
    assert store.counts()["generations"] == 0

    at.sidebar.text_input(key="reviewer_name").input("ana")
    at.selectbox(key="write_product").set_value("heron-blanket")
    at.number_input(key="write_variants").set_value(2)
    at.button(key="write_generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    gens = store.generations(product_id="heron-blanket")
    assert len(gens) == 2 and all(g["model_version"] == "base" and g["prompt"] for g in gens)
    assert gens[0]["product"]["title"] == "Heron Blanket"
    gid = gens[-1]["id"]

    at.text_area(key=f"edit_{gid}").input("A warm lambswool blanket, woven in Wales.").run()
    at.feedback(key=f"rate_{gid}").set_value(3).run()  # index 3 = four stars
    at.button(key=f"approve_{gid}").click().run()
    assert not at.exception
    reviews = store.reviews(generation_id=gid)
    assert [r["status"] for r in reviews][-1] == "approved"
    assert reviews[-1]["edited_text"] == "A warm lambswool blanket, woven in Wales."
    assert reviews[-1]["rating"] == 4 and reviews[-1]["reviewer"] == "ana"
    assert any(r["edited_text"] and r["status"] == "draft" for r in reviews)  # the edit was saved on its own

    at.button(key=f"reject_{gens[0]['id']}").click().run()
    assert store.get_generation(gens[0]["id"])["review"]["status"] == "rejected"

    # A reload (new session) is drawn from the store: the edit, rating and status are back.
    again = _app("write_page.py")
    again.selectbox(key="write_product").set_value("heron-blanket").run()
    assert again.text_area(key=f"edit_{gid}").value == "A warm lambswool blanket, woven in Wales."
    assert again.feedback(key=f"rate_{gid}").value == 3
    assert any("approved" in m.value for m in again.markdown)
    facts = again.table[0].value  # the facts the prompt gives the model (dataset.prompts.product_facts)
    assert list(facts["fact"])[:2] == ["Brand", "Category"] and "Heron" not in set(facts["fact"])


def test_ab_page_blind_choice_stored_as_comparison(app_env, tiny_model_dir):
    make_lora_adapter(tiny_model_dir, app_env["models"], "fernhill", "v1", seed=1)
    store = _store(app_env)
    at = _app("ab_page.py")
    assert at.selectbox(key="ab_voice_a").value == "base"
    assert at.selectbox(key="ab_voice_b").value == "fernhill@v1 (active)"
    _small(at, "ab")
    for round_ in range(2):
        at.button(key="ab_new").click().run()
        assert not at.exception, [e.value for e in at.exception]
        pair = at.session_state["ab_pair"]
        assert pair["a_side"] in ("left", "right") and pair["model_b"] == "fernhill@v1"
        # Pick the side where B (the adapter) was shown: the stored winner must be B whatever the order.
        b_side = "right" if pair["a_side"] == "left" else "left"
        at.button(key=f"ab_{b_side}").click().run()
        assert not at.exception
    comps = store.comparisons()
    assert len(comps) == 2
    assert all(c["winner"] == "b" and c["winner_model"] == "fernhill@v1" and c["reviewer"] == "ana"
               for c in comps)
    assert {c["a_side"] for c in comps} <= {"left", "right"}
    assert len(store.generations()) == 4  # both sides of both pairs are stored generations
    assert len(at.get("vega_lite_chart")) == 1  # the running win-rate chart


def test_models_page_lists_and_promotes(app_env, tiny_model_dir):
    from catalog_writer.training import registry

    root = app_env["models"]
    make_lora_adapter(tiny_model_dir, root, "fernhill", "v1", seed=1)
    make_lora_adapter(tiny_model_dir, root, "fernhill", "v2", seed=2)
    at = _app("models_page.py")
    table = at.dataframe[0].value
    assert sorted(table["version"]) == ["v1", "v2"] and "train_loss" in table
    assert table.loc[table["version"] == "v1", "active"].item()
    at.selectbox(key="models_version_fernhill").set_value("v2").run()
    at.button(key="models_promote").click().run()
    assert not at.exception
    assert registry.resolve_voice("fernhill", root).name == "fernhill-v2"
    assert any("fernhill@v2 is now active" in s.value for s in at.success)
    at.button(key="models_rollback").click().run()
    assert not at.exception and not at.error
    assert registry.resolve_voice("fernhill", root).name == "fernhill-v1"
    assert any("rolled back" in s.value for s in at.success)


def _wait_job(at: AppTest, key: str, timeout: float = 150) -> dict:
    """Poll the job folder the page started (as the page's fragment does) until it finishes."""
    from catalog_writer.app import jobs

    job = jobs.load_job(Path(at.session_state[key]))
    deadline = time.monotonic() + timeout
    while (status := job.status())["state"] not in jobs.FINISHED:
        assert time.monotonic() < deadline, jobs.log_tail(job)
        time.sleep(0.5)
    assert status["state"] == "done", jobs.log_tail(job)
    return status


def test_train_page_background_job_loss_curve_and_registration(app_env):
    from catalog_writer.training import registry

    at = _app("train_page.py")
    at.text_input(key="train_name").input("shop")
    at.selectbox(key="train_method").set_value("lora")
    at.number_input(key="train_steps").set_value(2)
    at.number_input(key="train_eval").set_value(0)
    t0 = time.monotonic()
    at.button(key="train_start").click().run()
    assert time.monotonic() - t0 < 10  # the page returns while the job trains in its own process
    assert not at.exception, [e.value for e in at.exception]
    status = _wait_job(at, "train_job")
    assert status["command"][0] == "train" and status["steps"] == 2  # prepare, then train
    at.run()
    assert not at.exception
    adapter = app_env["models"] / "adapters" / "shop"
    assert registry.read_adapter_meta(adapter)["metrics"]["steps"] == 2
    assert registry.resolve_voice("shop", app_env["models"]) == adapter
    assert any("**done**" in m.value for m in at.markdown)
    assert at.get("vega_lite_chart"), "no loss curve"  # parsed from the job's log
    assert any(s.value.startswith("Adapter shop@v1") for s in at.subheader)
    # The new voice is offered on the Write page at once.
    at.switch_page(f"{PAGES}/write_page.py").run()
    assert "shop@v1 (active)" in at.selectbox(key="write_voice").options


def test_batch_page_job_progress_review_and_exports(app_env):
    import json

    from catalog_writer.ingest import catalog

    from catalog_writer.app import jobs

    at = _app("batch_page.py")
    assert any("2 product(s) will be written" in m.value for m in at.markdown)  # the two without copy
    _small(at, "batch")
    at.button(key="batch_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = jobs.load_job(Path(at.session_state["batch_job"]))
    assert "--only-missing" in job.commands[0] and job.meta["total"] == 2
    _wait_job(at, "batch_job")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("progress")[0].proto.value == 100
    table = at.dataframe[-1].value
    assert sorted(table["id"]) == ["heron-blanket", "lark-apron"] and set(table["model_version"]) == {"base"}
    assert {b.proto.label.split(" (")[0] for b in at.get("download_button")} >= {"Catalog", "Records as CSV",
                                                                                  "Records as JSONL"}
    out = Path(job.meta["out"].replace("{job}", str(job.dir)))
    back = catalog.read_catalog(out)
    assert [p.id for p in back.products] == ["wren-mug", "heron-blanket", "lark-apron"]  # every product kept
    assert len(back.table) == 4  # every row kept
    export = out.with_name(f"{out.stem}.export.jsonl")
    records = [json.loads(line) for line in export.read_text().splitlines()]
    assert {r["id"]: r["model_version"] for r in records if r.get("model_version")} == {
        "heron-blanket": "base", "lark-apron": "base"}


def test_concurrent_sessions_share_the_store_without_loss(app_env):
    """Several sessions at once review through the one cached Store; no write is lost."""
    from concurrent.futures import ThreadPoolExecutor

    from catalog_writer.ingest import catalog

    store = _store(app_env)
    product = catalog.read_catalog(FIXTURE).products[0]
    snap = store.snapshot_product(product, FIXTURE.name)
    gid = store.add_generation(snap, [{"role": "user", "content": "x"}], "A mug.", "base")
    sessions = [_app("write_page.py", reviewer=f"reviewer-{i}") for i in range(6)]

    def approve(at: AppTest) -> None:  # the clicks run at the same time, in threads like Streamlit's
        at.button(key=f"approve_{gid}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.success and "approved" in at.success[0].value

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(approve, sessions))
    reviews = store.reviews(generation_id=gid)
    assert sorted(r["reviewer"] for r in reviews) == [f"reviewer-{i}" for i in range(6)]
    assert {r["status"] for r in reviews} == {"approved"}


def test_train_page_retrain_job_targets_the_next_version(app_env, tiny_model_dir):
    from catalog_writer.app import jobs

    parent = make_lora_adapter(tiny_model_dir, app_env["models"], "fernhill", "v1", seed=1)
    at = _app("train_page.py")
    at.selectbox(key="retrain_parent").set_value(str(parent))
    at.number_input(key="retrain_min").set_value(3)
    at.button(key="retrain_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    job = jobs.load_job(Path(at.session_state["train_job"]))
    jobs.cancel_job(job)  # the wiring is under test here; retraining itself is tested in test_retrain
    assert job.kind == "retrain"
    assert job.commands == [["retrain", "--adapter", str(parent), "--min-approved", "3"]]
    assert job.meta["adapter"] == str(parent.parent / "fernhill-v2")
    deadline = time.monotonic() + 30
    while job.status()["state"] in ("queued", "running"):  # stopped, not left running after the test
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_write_page_opens_on_the_brands_active_voice(app_env, tiny_model_dir):
    """After training, the page opens on the active version of the catalog brand's voice, not on base."""
    from catalog_writer.training import registry

    make_lora_adapter(tiny_model_dir, app_env["models"], "aurora", "v1", seed=3)  # another brand's voice
    make_lora_adapter(tiny_model_dir, app_env["models"], "fernhill", "v1", seed=1)
    make_lora_adapter(tiny_model_dir, app_env["models"], "fernhill", "v2", seed=2)
    registry.promote(app_env["models"], "fernhill@v2")
    at = _app("write_page.py")
    assert at.selectbox(key="write_voice").value == "fernhill@v2 (active)"  # the catalog is Fernhill & Co.'s


def test_write_page_highlights_unsupported_sentences(app_env):
    """Each sentence with an unsupported claim is highlighted with its claims; an edit is checked afresh."""
    from catalog_writer.inference.generate import Draft, faithfulness
    from catalog_writer.ingest.catalog import read_catalog

    cat = read_catalog(FIXTURE)
    product = next(p for p in cat.products if p.id == "wren-mug")
    text = "A stoneware mug in Moss. Made in Portugal from organic bamboo."
    flags = faithfulness(text, product)
    assert [len(s["claims"]) > 0 for s in flags["sentences"]] == [False, True]
    store = _store(app_env)
    snapshot = store.snapshot_product(product, FIXTURE.name, str(FIXTURE))
    gid = store.add_draft(snapshot, Draft(product_id=product.id, text=text, html="", flags=flags))

    at = _app("write_page.py")
    at.selectbox(key="write_product").set_value("wren-mug").run()
    bodies = [e.proto.body for e in at.get("html")]
    (body,) = [b for b in bodies if "stoneware mug" in b]
    assert body.startswith("A stoneware mug in Moss. <mark")  # the supported sentence is not marked
    assert '<mark title="unsupported:' in body and "Made in Portugal from organic bamboo.</mark>" in body
    assert "Portugal" in body.split("<sup>")[1] and "<script" not in body
    assert any("unsupported" in w.value for w in at.warning)

    at.text_area(key=f"edit_{gid}").input("A stoneware mug in Moss.\nMade in Portugal.").run()
    (body,) = [e.proto.body for e in at.get("html") if "stoneware mug" in e.proto.body]
    assert "<mark" in body and "Made in Portugal.</mark>" in body and "bamboo" not in body
    at.text_area(key=f"edit_{gid}").input("A stoneware mug in Moss.").run()
    (body,) = [e.proto.body for e in at.get("html") if "stoneware mug" in e.proto.body]
    assert "<mark" not in body and body.startswith("<p>")
