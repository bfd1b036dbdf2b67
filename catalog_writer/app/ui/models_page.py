"""Models page: the base model and every adapter with its metrics; promote or roll back a voice."""

import pandas as pd
import streamlit as st

from catalog_writer.training import modeling

from catalog_writer.training import registry
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.app.ui import state

cfg = state.config()
st.title("Models")
base = cfg.base or modeling.DEFAULT_BASE.resolve()  # what generation and training load
st.markdown(f"**Base model:** `{base}`" + ("" if (base / "config.json").exists() else
            " (not fetched: run `catalog-writer models fetch`)"))
st.caption(f"Models folder: {cfg.models}")

try:
    adapters = registry.list_adapters(cfg.models)
except CatalogWriterError as e:
    st.error(str(e))
    st.stop()

if not adapters:
    st.info("No adapters yet: train one on the Train page or with `catalog-writer train`.")
    st.stop()


def _row(a: dict) -> dict:
    """One table row: identity, lineage, then the metrics flattened."""
    keys = ("voice", "version", "active", "status", "method", "parent", "created_at", "path")
    row = {k: a.get(k) for k in keys}
    for k, v in (a.get("metrics") or {}).items():
        if isinstance(v, (int, float, str, bool)) or v is None:
            row[k] = round(v, 4) if isinstance(v, float) else v
    return row


st.dataframe(pd.DataFrame([_row(a) for a in adapters]), hide_index=True, width="stretch")

# --- promote / roll back --------------------------------------------------------------------------
st.subheader("Active version of a voice")
by_voice: dict[str, list[dict]] = {}
for a in adapters:
    if a.get("voice") and a.get("status") == "finished":
        by_voice.setdefault(a["voice"], []).append(a)
if not by_voice:
    st.stop()
c1, c2 = st.columns(2)
voice = c1.selectbox("Voice", sorted(by_voice), key="models_voice")
versions = [a.get("version") for a in by_voice[voice]]
active = next((a.get("version") for a in by_voice[voice] if a.get("active")), None)
version = c2.selectbox("Version", versions, key=f"models_version_{voice}",
                       index=versions.index(active) if active in versions else 0)
st.caption(f"Active now: {voice}@{active}" if active else "No active version yet.")
if st.button("Make active", type="primary", key="models_promote", disabled=version == active):
    try:
        registry.promote(cfg.models, f"{voice}@{version}")
    except CatalogWriterError as e:
        st.error(str(e))
    else:
        st.session_state["models_msg"] = f"{voice}@{version} is now active."
        st.rerun()
if st.button("Roll back", key="models_rollback", help="Make the previously active version active again."):
    try:
        path = registry.rollback(cfg.models, voice)
    except CatalogWriterError as e:
        st.error(str(e))
    else:
        st.session_state["models_msg"] = f"{voice} rolled back to {path.name}."
        st.rerun()
if st.session_state.get("models_msg"):
    st.success(st.session_state.pop("models_msg"))
