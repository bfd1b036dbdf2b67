"""Real browser: Debian Chromium driven by Playwright against `streamlit run app.py` on a free port.

Upload a catalog, generate a description, edit and approve it, run a batch job, download its file and
read it back with catalog.read_catalog. Screenshots of every page go to tests/artifacts/; with
UPDATE_SCREENSHOTS=1 they are also written to docs/screenshots/<page>.png for the README (the real
embedded model is used for those when models/base is fetched).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
FIXTURE = Path(__file__).parent / "fixtures" / "ui" / "shop.csv"
ARTIFACTS = Path(__file__).parent / "artifacts"
DOCS_SHOTS = REPO / "docs" / "screenshots"
UPDATE = os.environ.get("UPDATE_SCREENSHOTS") == "1"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path, tiny_model_dir):
    """`streamlit run app.py` bound to localhost with a temp DB/models/runs; yields (url, env)."""
    port = _free_port()
    real = REPO / "models" / "base" / "config.json"
    env = {
        **os.environ,
        "CATALOG_WRITER_DB": f"sqlite:///{tmp_path / 'feedback.db'}",
        "CATALOG_WRITER_MODELS": str(tmp_path / "models"),
        "CATALOG_WRITER_RUNS": str(tmp_path / "runs"),
        "CATALOG_WRITER_CATALOG": str(REPO / "data" / "demo-catalog.csv"),
    }
    if not (UPDATE and real.exists()):
        env["CATALOG_WRITER_BASE"] = str(tiny_model_dir)
        env["OMP_NUM_THREADS"] = "1"  # the tiny model decodes ~10x faster on one uncontended thread
    log_file = tmp_path / "streamlit.log"
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log_file.read_text()
            time.sleep(0.3)
        yield url, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture()
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        ctx = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
        pg = ctx.new_page()
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def _idle(page, timeout: float = 60_000) -> None:
    """Wait until the script run triggered by the last interaction has finished."""
    page.wait_for_timeout(300)  # the rerun message reaches the server first
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=timeout)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    if UPDATE:  # Streamlit scrolls inside the page, so a taller window shows the whole page
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        page.set_viewport_size({"width": 1280, "height": max(860, min(int(height) + 40, 2000))})
        page.wait_for_timeout(500)
        png = DOCS_SHOTS / f"{name}.png"
        page.screenshot(path=str(png))
        page.set_viewport_size({"width": 1280, "height": 860})
        from PIL import Image  # a 256-colour palette keeps the committed PNGs small

        Image.open(png).convert("RGB").quantize(256).save(png, optimize=True)


def _goto(page, url: str, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    _idle(page)


def _store(env):
    from catalog_writer.feedback.store import Store

    return Store(env["CATALOG_WRITER_DB"])


def test_upload_generate_edit_approve_batch_download(server, browser_page, tmp_path):
    from playwright.sync_api import expect

    from catalog_writer.ingest import catalog

    url, env = server
    page = browser_page
    page.goto(url)
    _idle(page)
    expect(page.get_by_test_id("stMetric").first).to_be_visible()
    _shot(page, "catalog")  # what a newcomer sees first: the demo catalog

    page.get_by_label("Reviewer name").fill("ana")
    page.get_by_label("Reviewer name").press("Enter")
    _idle(page)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(FIXTURE))
    _idle(page)
    metrics = page.get_by_test_id("stMetric")
    expect(metrics.filter(has_text="Products")).to_contain_text("3")

    # Write: generate, edit, approve; everything lands in the store.
    _goto(page, url, "Write")
    page.get_by_role("spinbutton", name="Target words (0 = the voice's usual length)").fill("1" if "CATALOG_WRITER_BASE" in env else "40")
    page.get_by_role("spinbutton", name="Target words (0 = the voice's usual length)").press("Enter")
    _idle(page)
    page.get_by_role("button", name="Generate").click()
    _idle(page, 120_000)
    edit = page.get_by_label("Edit").first
    expect(edit).to_be_visible(timeout=180_000)
    edit.fill("A stoneware mug, glazed by hand in Stoke-on-Trent.")
    page.get_by_role("button", name="Approve").first.click()
    _idle(page)
    expect(page.get_by_text("Saved: generation 1 approved.")).to_be_visible()
    if UPDATE:  # show a fresh, unedited draft with its flags on top of the approved one
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_text("Drafts for this product (2)")).to_be_visible(timeout=180_000)
        _idle(page)
    _shot(page, "write")
    gens = _store(env).generations()
    assert len(gens) == 1 + UPDATE and gens[0]["review"]["status"] == "approved"
    assert gens[0]["review"]["edited_text"] == "A stoneware mug, glazed by hand in Stoke-on-Trent."
    assert gens[0]["review"]["reviewer"] == "ana"

    # Batch: background job, live progress, then download the filled catalog and read it back.
    _goto(page, url, "Batch")
    page.get_by_role("spinbutton", name="Target words (0 = the voice's usual length)").fill("1" if "CATALOG_WRITER_BASE" in env else "40")
    page.get_by_role("spinbutton", name="Target words (0 = the voice's usual length)").press("Enter")
    _idle(page)
    page.get_by_role("button", name="Start batch job").click()
    download_button = page.get_by_role("button", name="Catalog (shopify file)")
    download_button.wait_for(timeout=120_000)
    _idle(page)
    _shot(page, "batch")
    with page.expect_download() as dl:
        download_button.click()
    saved = tmp_path / dl.value.suggested_filename
    dl.value.save_as(saved)
    back = catalog.read_catalog(saved)
    assert [p.id for p in back.products] == ["wren-mug", "heron-blanket", "lark-apron"]
    assert back.format == "shopify" and len(back.table) == 4
    assert back.products[0].description.startswith("A stoneware mug")  # untouched product kept as it was

    if UPDATE:  # README screenshots: give the A/B and Models pages an adapter to show
        from ui_helpers import make_lora_adapter

        base = Path(env.get("CATALOG_WRITER_BASE") or REPO / "models" / "base")
        make_lora_adapter(base, Path(env["CATALOG_WRITER_MODELS"]), "fernhill", "v1", seed=1)
        _goto(page, url, "A/B review")
        page.get_by_role("spinbutton", name="Target words (0 = the voice's usual length)").fill("40")
        page.get_by_role("spinbutton", name="Target words (0 = the voice's usual length)").press("Enter")
        _idle(page)
        for i in range(3):  # two judgements for the chart, then a pair left open on screen
            page.get_by_role("button", name="Write both (blind)").click()
            expect(page.get_by_role("button", name="Left is better")).to_be_visible(timeout=240_000)
            _idle(page)
            if i < 2:
                page.get_by_role("button", name="Left is better").click()
                expect(page.get_by_text("Saved:")).to_be_visible()
                _idle(page)

    for title, name in (("A/B review", "ab"), ("Train", "train"), ("Models", "models")):
        if not (UPDATE and name == "ab"):
            _goto(page, url, title)
        expect(page.get_by_role("heading", name=title).first).to_be_visible()
        _shot(page, name)
