"""Catalog page: upload or pick a catalog, see the inspect report and search the products."""

from pathlib import Path

import pandas as pd
import streamlit as st

from catalog_writer.ingest import catalog
from catalog_writer.ingest.formats import FORMATS
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.app.ui import state

cfg = state.config()
st.title("Catalog")

# --- choose a file: upload, or a catalog already on this machine -------------------------------
uploaded = st.file_uploader(
    f"Upload a catalog (Shopify, WooCommerce, Magento, Google Merchant or any CSV/TSV/XLSX, "
    f"up to {state.MAX_UPLOAD_MB} MB)", type=list(state.CATALOG_SUFFIXES), key="catalog_upload",
)
failed = st.session_state.setdefault("catalog_upload_errors", {})  # file_id -> message
if uploaded is not None and uploaded.file_id in failed:
    st.error(failed[uploaded.file_id])
elif uploaded is not None and st.session_state.get("catalog_upload_id") != uploaded.file_id:
    # Only a new upload switches the catalog; later the picker below may choose another file.
    path = None
    try:
        path = state.save_upload(uploaded.name, uploaded.getvalue())
        state.read_catalog(path)  # validate before switching to it
    except CatalogWriterError as e:
        if path is not None:  # keep only uploads that parse
            path.unlink(missing_ok=True)
            if not any(path.parent.iterdir()):
                path.parent.rmdir()
        # The same message with the user's file name instead of where the upload was kept.
        failed[uploaded.file_id] = str(CatalogWriterError(e.message, file=uploaded.name, row=e.row,
                                                          column=e.column))
        st.error(failed[uploaded.file_id])
    else:
        st.session_state["catalog_upload_id"] = uploaded.file_id
        st.session_state["catalog_path"] = str(path)

uploads = sorted(p for p in cfg.uploads.glob("*/*") if p.is_file() and not p.name.startswith("."))
known = [cfg.catalog, *uploads]
current = Path(st.session_state.get("catalog_path") or cfg.catalog)
if current not in known:
    known.append(current)
c1, c2 = st.columns([3, 1])
picked = c1.selectbox("Catalog file", known, index=known.index(current),
                      format_func=lambda p: f"{p.name}  ({p.parent})")
fmt = c2.selectbox("Format", ["detect", *FORMATS], key="format_choice")
st.session_state["catalog_path"] = str(picked)
st.session_state["catalog_format"] = None if fmt == "detect" else fmt

try:
    cat = state.read_catalog(picked, st.session_state["catalog_format"])
    report = catalog.inspect_report(cat)
except CatalogWriterError as e:
    st.error(str(e))  # the catalog module's own message names file, row and column
    st.stop()

# --- the inspect report -------------------------------------------------------------------------
m = st.columns(5)
m[0].metric("Format", report["format"])
m[1].metric("Rows", report["rows"])
m[2].metric("Products", report["products"])
m[3].metric("With description", report["with_description"])
m[4].metric("Duplicates", report["duplicates"])
if report.get("empty_titles"):
    st.warning(f"{report['empty_titles']} product(s) have no title.")

problems = report.get("problems") or []
with st.expander(f"Problems ({len(problems)})", expanded=bool(problems)):
    if problems:
        st.dataframe(pd.DataFrame(problems), hide_index=True, width="stretch")
    else:
        st.write("No problems found.")

coverage = [{"name": k, "coverage": v, "kind": kind}
            for kind, key in (("attribute", "attributes"), ("variant option", "options"))
            for k, v in (report.get(key) or {}).items()]
if coverage:
    st.subheader("Attribute coverage")
    st.caption("Share of products that have each attribute: the model can only mention what the "
               "catalog holds.")
    st.bar_chart(pd.DataFrame(coverage), x="name", y="coverage", color="kind", horizontal=True)

# --- searchable product table -------------------------------------------------------------------
st.subheader("Products")
f1, f2 = st.columns([3, 1])
query = f1.text_input("Search title, id, brand or category", key="catalog_search")
missing_only = f2.checkbox("Missing description only", key="catalog_missing")
rows = [
    {"id": p.id, "title": p.title, "brand": p.brand, "category": " > ".join(p.category),
     "attributes": len(p.attributes), "price": p.price, "has description": catalog.has_reference(p),
     "rows": ", ".join(map(str, p.rows))}
    for p in cat.products
]
table = pd.DataFrame(rows, columns=["id", "title", "brand", "category", "attributes", "price",
                                    "has description", "rows"])
if query:
    hay = table[["id", "title", "brand", "category"]].astype(str).agg(" ".join, axis=1)
    table = table[hay.str.contains(query, case=False, regex=False)]
if missing_only:
    table = table[~table["has description"]]
st.caption(f"{len(table)} of {len(rows)} products")
st.dataframe(table, hide_index=True, width="stretch")
