"""A/B review: two voices or adapter versions write for the same product; the reviewer picks blind.

Sides are assigned at random and stored with the comparison (`a_side`); every choice is a preference
pair in the feedback store (`feedback export --kind preference` turns them into DPO data).
"""

import random
import time
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from catalog_writer.feedback import exports

from catalog_writer.inference import postprocess
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.app.ui import state

cat = state.current_catalog()
store = state.store()
catalog_name = Path(cat.path).name
st.title("A/B review")

voices = state.voices()
labels = list(voices)
for key in ("ab_voice_a", "ab_voice_b"):
    state.forget_stale(key, labels)
c1, c2 = st.columns(2)
voice_a = c1.selectbox("System A", labels, index=0, key="ab_voice_a")
voice_b = c2.selectbox("System B", labels, index=min(1, len(labels) - 1), key="ab_voice_b")
by_id = {p.id: p for p in cat.products}
state.forget_stale("ab_product", by_id)
pid = st.selectbox("Product", list(by_id), key="ab_product",
                   format_func=lambda i: state.product_label(by_id[i]))
settings = state.settings_input("ab", variants=False)

if voice_a == voice_b:
    st.info("Pick two different systems (register an adapter on the Train or Models page to compare it "
            "with the base model).")
elif st.button("Write both (blind)", type="primary", key="ab_new"):
    name = state.reviewer()
    if name:
        product = by_id[pid]
        try:
            drafts = []
            for label in (voice_a, voice_b):
                gen, lock = state.generator(voices[label])
                with lock, st.spinner(f"Writing with system {'A' if label == voice_a else 'B'}..."):
                    drafts.append(gen.generate([product], settings)[0][0])
            snapshot = store.snapshot_product(product, catalog_name, cat.path)
            ga, gb = (store.add_draft(snapshot, d) for d in drafts)
        except CatalogWriterError as e:
            st.error(str(e))
        else:
            st.session_state["ab_pair"] = {
                "a": ga, "b": gb, "model_a": drafts[0].model_version, "model_b": drafts[1].model_version,
                "a_side": random.SystemRandom().choice(["left", "right"]), "product": product.id,
                "drafts": {"a": drafts[0].html, "b": drafts[1].html}, "t0": time.time(),
                # each text was written from its own system's prompt (stored on its generation)
                "same_prompt": drafts[0].prompt == drafts[1].prompt,
            }


def _choose(choice: str) -> None:
    """Callback: store the judgement (choice is a screen side or "tie") and clear the pair."""
    pair = st.session_state.get("ab_pair")
    name = (st.session_state.get("reviewer_name") or "").strip()
    if not pair or not name:
        st.session_state["ab_msg"] = ("warning", "Enter your name in the sidebar first; nothing was saved.")
        return
    try:
        store.add_comparison(pair["a"], pair["b"], choice, name, a_side=pair["a_side"],
                             model_a=pair["model_a"], model_b=pair["model_b"],
                             seconds=round(time.time() - pair["t0"], 1))
    except CatalogWriterError as e:
        st.session_state["ab_msg"] = ("error", str(e))
        return
    winner = "tie" if choice == "tie" else ("A" if choice == pair["a_side"] else "B")
    st.session_state["ab_msg"] = ("success", f"Saved: {winner} ({pair['model_a']} vs {pair['model_b']}).")
    st.session_state.pop("ab_pair")


msg = st.session_state.pop("ab_msg", None)
if msg:
    getattr(st, msg[0])(msg[1])

pair = st.session_state.get("ab_pair")
if pair:
    left_key = "a" if pair["a_side"] == "left" else "b"
    shown = {"left": pair["drafts"][left_key], "right": pair["drafts"]["b" if left_key == "a" else "a"]}
    cols = st.columns(2)
    for col, side in zip(cols, ("left", "right")):
        with col.container(border=True, key=f"ab_box_{side}"):
            st.markdown(f"**{side.title()}**")
            body = postprocess.sanitize_html(shown[side])  # sanitised model output only
            if body.strip():
                st.html(body)
            else:
                st.caption("(empty text)")
    if not pair.get("same_prompt", True):
        st.caption("The two systems were given different prompts (their own templates or exemplars): the "
                   "choice counts in the win rate but is not exported as a preference pair.")
    b1, b2, b3 = st.columns(3)
    b1.button("Left is better", key="ab_left", on_click=_choose, args=("left",), width="stretch")
    b2.button("Tie", key="ab_tie", on_click=_choose, args=("tie",), width="stretch")
    b3.button("Right is better", key="ab_right", on_click=_choose, args=("right",), width="stretch")

# --- running win rate of A over B with its 95% interval ---------------------------------------------
st.subheader("Win rate")
rows = exports.stats(store)["ab"]
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
comps = store.comparisons()
systems = {pair["model_a"], pair["model_b"]} if pair else None
if not systems and comps:
    systems = {comps[-1]["model_a"], comps[-1]["model_b"]}
if systems and len(systems) == 2:
    first, second = sorted(systems)
    points = exports.win_rate_curve(comps, first, second)
    if points:
        st.caption(f"Win rate of {first} against {second} (ties excluded), 95% Wilson interval.")
        data = pd.DataFrame(points)
        x = alt.X("comparison:Q", axis=alt.Axis(tickMinStep=1, format="d"))
        band = alt.Chart(data).mark_area(opacity=0.25).encode(
            x=x, y=alt.Y("low:Q", scale=alt.Scale(domain=[0, 1]), title="win rate"), y2="high:Q")
        line = alt.Chart(data).mark_line(point=True).encode(x=x, y="win rate:Q")
        rule = alt.Chart(pd.DataFrame({"y": [0.5]})).mark_rule(strokeDash=[4, 4]).encode(y="y:Q")
        st.altair_chart(band + line + rule, width="stretch")
else:
    st.caption("No comparisons yet.")
