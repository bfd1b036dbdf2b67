"""Write page: one product, one voice; generate variants, edit, rate, approve or reject.

Every action is written to the feedback store at once (snapshot + generation on generate, a review on
each rating, edit or decision), and the page is drawn from the store, so a reload loses nothing.
"""

import time
from pathlib import Path

import streamlit as st

from catalog_writer.dataset.prompts import product_facts
from catalog_writer.inference import generate

from catalog_writer.inference import postprocess
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.app.ui import state

cat = state.current_catalog()
store = state.store()
catalog_name = Path(cat.path).name
st.title("Write")
st.caption(f"Catalog: {catalog_name} ({len(cat.products)} products)")

by_id = {p.id: p for p in cat.products}
voices = state.voices()
state.forget_stale("write_product", by_id)
state.forget_stale("write_voice", voices)
c1, c2 = st.columns([3, 2])
pid = c1.selectbox("Product", list(by_id), key="write_product",
                   format_func=lambda i: state.product_label(by_id[i]))
product = by_id[pid]
# Opens on the active version of the catalog's brand voice (base only when no voice is trained).
voice = c2.selectbox("Voice / adapter", list(voices), key="write_voice",
                     index=state.default_voice(list(voices), {p.brand for p in cat.products} | {catalog_name}))
settings = state.settings_input("write")

with st.expander("Product facts", expanded=False):
    facts = product_facts(product)  # exactly the facts the prompt gives the model, brand and category first
    if facts:
        st.table({"fact": list(facts), "value": list(facts.values())})
    else:
        st.caption("No facts: the catalog row has no brand, category or attributes.")
    if product.description:
        st.text_area("Current description in the catalog", product.description, disabled=True, height=120)

if st.button("Generate", type="primary", key="write_generate"):
    name = state.reviewer()
    if name:
        try:
            gen, lock = state.generator(voices[voice])
            with lock, st.spinner(f"Writing {settings.num_variants} variant(s) with {gen.model_version}..."):
                drafts = gen.generate([product], settings)[0]
            snapshot = store.snapshot_product(product, catalog_name, cat.path)
            for d in drafts:
                store.add_draft(snapshot, d)
        except CatalogWriterError as e:
            st.error(str(e))


def _review(gid: int, original: str, status: str | None = None, button: bool = False) -> None:
    """Callback: store the generation's current state (rating, edit, status) as a new review."""
    name = (st.session_state.get("reviewer_name") or "").strip()
    if not name:
        st.session_state["write_msg"] = ("warning", "Enter your name in the sidebar first: nothing saved.")
        return
    stars = st.session_state.get(f"rate_{gid}")
    edited = st.session_state.get(f"edit_{gid}", original)
    if not button and any(st.session_state.get(f"{b}_{gid}") for b in ("save", "approve", "reject")):
        return  # a button pressed in the same run saves the edit together with its decision
    if status is None:  # an edit or a rating keeps an approval only if the text did not change
        status = st.session_state.get(f"status_{gid}", "draft")
        if edited.strip() != st.session_state.get(f"saved_{gid}", original).strip():
            status = "draft"
    seconds = time.time() - st.session_state.get(f"t0_{gid}", time.time())
    try:
        store.add_review(gid, name, status=status, rating=None if stars is None else stars + 1,
                         edited_text=edited if edited.strip() != original.strip() else None,
                         seconds=round(seconds, 1))
    except CatalogWriterError as e:
        st.session_state["write_msg"] = ("error", str(e))
        return
    st.session_state["write_msg"] = ("success", f"Saved: generation {gid} {status}.")


msg = st.session_state.pop("write_msg", None)
if msg:
    getattr(st, msg[0])(msg[1])

gens = [g for g in store.generations(product_id=product.id) if g["product"]["catalog_name"] == catalog_name]
st.subheader(f"Drafts for this product ({len(gens)})")
if not gens:
    st.info("No drafts yet: press Generate.")
shown = list(reversed(gens[-6:]))
if state.reward_model() is not None:  # variants best first by the reward model (stable: then newest first)
    shown.sort(key=lambda g: -(g["flags"] or {}).get("reward", float("-inf")))
for g in shown:
    gid, review = g["id"], g["review"] or {}
    status = review.get("status", "unreviewed")
    # Widget state comes from the store the first time a generation is drawn in this session.
    st.session_state.setdefault(f"t0_{gid}", time.time())
    st.session_state[f"status_{gid}"] = review.get("status", "draft")
    st.session_state[f"saved_{gid}"] = review.get("edited_text") or g["text"]
    st.session_state.setdefault(f"edit_{gid}", review.get("edited_text") or g["text"])
    if review.get("rating") and f"rate_{gid}" not in st.session_state:
        st.session_state[f"rate_{gid}"] = review["rating"] - 1
    with st.container(border=True, key=f"draft_{gid}"):
        head = (f"**#{gid}** · {state.md_escape(g['model_version'])} · "
                f"{g['created_at']:%Y-%m-%d %H:%M} · **{status}**")
        if review.get("reviewer"):
            head += f" by {state.md_escape(review['reviewer'])}"
        if (g["flags"] or {}).get("reward") is not None:
            head += f" · reward {g['flags']['reward']:+.2f}"
        st.markdown(head)
        left, right = st.columns(2)
        text = st.session_state[f"edit_{gid}"]
        with left:
            # Stored flags are the generator's (with the prompt's exemplars); an edit is checked afresh.
            stored = g["flags"] or {}
            flags = stored if text == g["text"] and "sentences" in stored else generate.faithfulness(text, product)
            # Model output is rendered only as sanitised HTML (nh3), never with unsafe_allow_html;
            # sentences with an unsupported claim are highlighted with their claims.
            body = state.flagged_html(text, flags.get("sentences")) or postprocess.to_html(text)
            if body.strip():
                st.html(body)
            else:
                st.caption("(empty text)")
            state.show_flags(flags)
            if text.strip() != g["text"].strip():
                with st.expander("The model's original"):
                    st.text(g["text"])
        with right:
            st.text_area("Edit", key=f"edit_{gid}", height=180, on_change=_review, args=(gid, g["text"]))
            st.feedback("stars", key=f"rate_{gid}", on_change=_review, args=(gid, g["text"]))
            b1, b2, b3 = st.columns(3)
            b1.button("Save edit", key=f"save_{gid}", on_click=_review, args=(gid, g["text"], None, True))
            b2.button("Approve", key=f"approve_{gid}", type="primary", on_click=_review,
                      args=(gid, g["text"], "approved", True))
            b3.button("Reject", key=f"reject_{gid}", on_click=_review,
                      args=(gid, g["text"], "rejected", True))
