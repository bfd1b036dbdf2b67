"""catalog-writer review app: `make app` or `catalog-writer app` (binds 127.0.0.1:8501).

This file only wires the pages; each page is a short script in catalog_writer/app/ui/ that calls the library.
Settings come from the environment: CATALOG_WRITER_BASE, CATALOG_WRITER_DB, CATALOG_WRITER_MODELS,
CATALOG_WRITER_CATALOG (see catalog_writer/app/ui/config.py).
"""

from pathlib import Path

import streamlit as st

from catalog_writer.app.ui import state

UI = Path(__file__).resolve().parent / "catalog_writer" / "app" / "ui"

st.set_page_config(page_title="catalog-writer", page_icon=":material/edit_note:", layout="wide")
pages = [
    st.Page(UI / "catalog_page.py", title="Catalog", icon=":material/table_view:", default=True),
    st.Page(UI / "write_page.py", title="Write", icon=":material/edit:"),
    st.Page(UI / "batch_page.py", title="Batch", icon=":material/playlist_play:"),
    st.Page(UI / "ab_page.py", title="A/B review", icon=":material/compare:"),
    st.Page(UI / "train_page.py", title="Train", icon=":material/model_training:"),
    st.Page(UI / "models_page.py", title="Models", icon=":material/inventory_2:"),
]
page = st.navigation(pages)
state.sidebar()
page.run()
