"""What the pages share: session-state helpers and widgets, and (re-exported, so pages need only `state`)
the settings from the environment (config.py) and the cached resources (resources.py).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import streamlit as st

# The pages use these as state.X too (state.store(), state.generator(...)): imported here on purpose.
from catalog_writer.app.ui.config import CATALOG_SUFFIXES, MAX_UPLOAD_MB, REPO, config, job_env  # noqa: F401
from catalog_writer.app.ui.resources import generator, read_catalog, reward_model, store  # noqa: F401
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import atomic_write


def voices() -> dict[str, Path | None]:
    """Choices for a voice picker: "base", then every finished adapter version, label -> adapter path."""
    from catalog_writer.training import registry

    out: dict[str, Path | None] = {"base": None}
    try:
        adapters = registry.list_adapters(config().models)
    except CatalogWriterError as e:
        st.warning(str(e))
        adapters = []
    for a in adapters:
        if a.get("status") != "finished":
            continue  # no run.json yet: still training
        label = registry.version_label(a, a["path"])  # the model_version its drafts are stored under
        out[label + (ACTIVE if a.get("active") else "")] = Path(a["path"])
    return out


ACTIVE = " (active)"
"""Suffix of an active version's label in the voice pickers."""
STRICT_CHOICES = {"voice default": None, "on": True, "off": False}
"""The Strict picker: the voice's default (on where its own copy mostly passes the claim checker), or forced."""
COPY_CHOICES = {"voice default": None, **{str(b): float(b) for b in (0, 2, 4, 8, 12)}}
"""The Copy guidance picker: the voice's default (8 for a templated brand, 2 otherwise) or a fixed bias."""


def _key(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def default_voice(labels: list[str], brands) -> int:
    """Index of the voice a page opens on: the active voice named like one of `brands` ("fernhill" for
    "Fernhill & Co."), else the first active voice, else 0 (base)."""
    active = [i for i, label in enumerate(labels) if label.endswith(ACTIVE)]
    wanted = {_key(b) for b in brands if _key(b)}
    for i in active:
        name = _key(labels[i].split("@")[0])
        if name and any(name in b or b in name for b in wanted):
            return i
    return active[0] if active else 0


def save_upload(name: str, data: bytes) -> Path:
    """Validate an upload (size, type) and keep it under runs/uploads/<hash>/ for later jobs."""
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise CatalogWriterError(f"file is larger than {MAX_UPLOAD_MB} MB", file=name)
    if not data.strip():
        raise CatalogWriterError("file is empty", file=name)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).lstrip(".") or "catalog.csv"
    if safe.rsplit(".", 1)[-1].lower() not in CATALOG_SUFFIXES:
        raise CatalogWriterError(f"expected one of .{', .'.join(CATALOG_SUFFIXES)}", file=name)
    folder = config().uploads / hashlib.sha256(data).hexdigest()[:16]
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / safe
    if not out.exists():
        atomic_write(out, lambda f: f.write(data), binary=True)
    return out


def current_catalog():
    """The catalog picked on the Catalog page (default: the demo catalog); stops the page on error."""
    path = Path(st.session_state.get("catalog_path") or config().catalog)
    fmt = st.session_state.get("catalog_format")
    try:
        return read_catalog(path, fmt)
    except CatalogWriterError as e:
        st.error(str(e))
        st.info("Pick another catalog on the Catalog page.")
        st.stop()


def sidebar() -> None:
    """Reviewer name (kept across pages: app.py draws it on every run) and where things are stored."""
    st.session_state.setdefault("reviewer_name", "")
    st.sidebar.text_input("Reviewer name", key="reviewer_name", placeholder="required to save reviews")
    cfg = config()
    st.sidebar.caption(f"Base model: {md_escape(cfg.base or 'models/base (embedded default)')}  \n"
                       f"Feedback DB: {md_escape(cfg.db_url or 'sqlite data/feedback.db')}  \n"
                       f"Models: {md_escape(cfg.models)}")


def reviewer() -> str | None:
    """The reviewer's name, or None after telling the user to enter it."""
    name = (st.session_state.get("reviewer_name") or "").strip()
    if not name:
        st.warning("Enter your name in the sidebar (Reviewer name) to save generations and reviews.")
        return None
    return name


def forget_stale(key: str, options) -> None:
    """Drop a picker's remembered value when it is no longer offered (another catalog, a removed adapter)."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def product_label(p) -> str:
    return f"{p.title or '(no title)'} [{p.id}]"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~$-])")


def md_escape(text: str) -> str:
    """Model or catalog text shown through markdown: no links, images or formatting get through."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def flagged_html(text: str, sentences: list[dict] | None) -> str | None:
    """The draft as HTML with every sentence that makes an unsupported claim highlighted and its claims
    after it; None when no sentence is flagged. Model text is escaped, then the whole cleaned by nh3."""
    import html

    import nh3

    flagged = sorted((s for s in sentences or [] if s.get("claims")), key=lambda s: s["start"])
    parts, pos = [], 0
    for s in flagged:
        a, b = s["start"], s["end"]
        if a < pos or text[a:b] != s["text"]:
            continue  # offsets of another text (an edit): not highlighted
        claims = ", ".join(f"{c['text']} ({c['kind']})" for c in s["claims"])
        parts += [html.escape(text[pos:a]), f'<mark title="unsupported: {html.escape(claims)}">',
                  html.escape(text[a:b]), f"</mark> <sup>unsupported: {html.escape(claims)}</sup>"]
        pos = b
    if not parts:
        return None
    body = "".join(parts) + html.escape(text[pos:])
    return nh3.clean(body.replace("\n", "<br>"), tags={"mark", "sup", "br"}, attributes={"mark": {"title"}})


def show_flags(flags: dict | None, where=st) -> None:
    """Faithfulness flags next to a text: coverage, unsupported claims, missing attributes."""
    flags = flags or {}
    parts = []
    if flags.get("coverage") is not None:
        parts.append(f"attribute coverage {float(flags['coverage']):.0%}")
    if flags.get("unsupported"):
        parts.append("unsupported: " + ", ".join(md_escape(x) for x in flags["unsupported"]))
    if flags.get("missing"):
        parts.append("missing: " + ", ".join(md_escape(x) for x in flags["missing"]))
    if flags.get("unsupported"):
        where.warning(" · ".join(parts), icon=":material/flag:")
    elif parts:
        where.caption(" · ".join(parts))


def settings_input(prefix: str, variants: bool = True):
    """Decoding settings widgets -> GenerationSettings (defaults and help from the dataclass)."""
    from catalog_writer.inference.settings import GenerationSettings, describe

    d = GenerationSettings()
    c = st.columns(4 if variants else 3)
    decoding = c[0].radio("Decoding", ["greedy", "sample"], index=int(d.do_sample), key=f"{prefix}_decoding",
                          horizontal=True, help=describe("do_sample"))
    temperature = c[1].slider("Temperature", 0.1, 1.5, d.temperature, 0.05, key=f"{prefix}_temperature",
                              disabled=decoding == "greedy", help=describe("temperature"))
    target = c[2].number_input("Target words (0 = the voice's usual length)", 0, 400, d.target_words or 0, 10,
                               key=f"{prefix}_target", help=describe("target_words"))
    n = d.num_variants
    if variants:
        n = c[3].number_input("Variants", 1, 4, d.num_variants, key=f"{prefix}_variants",
                              help=describe("num_variants"))
    c2 = st.columns(4)
    best_of = c2[0].number_input("Best of", 1, 8, d.best_of, key=f"{prefix}_best_of", help=describe("best_of"))
    strict = c2[1].selectbox("Strict", list(STRICT_CHOICES), key=f"{prefix}_strict", help=describe("strict"))
    copy = c2[2].selectbox("Copy guidance", list(COPY_CHOICES), key=f"{prefix}_copy", help=describe("copy_bias"))
    return GenerationSettings(do_sample=decoding == "sample", temperature=float(temperature),
                              target_words=int(target) or None, num_variants=int(n), best_of=int(best_of),
                              strict=STRICT_CHOICES[strict], copy_bias=COPY_CHOICES[copy])


def rerun_when_finished(job, status: dict, prefix: str) -> None:
    """Inside a live fragment: rerun the whole page once when the job reaches a final state."""
    from catalog_writer.app import jobs

    seen = st.session_state.setdefault(f"{prefix}_seen_state", {})
    if seen.get(job.id) != status["state"]:
        first = job.id not in seen
        seen[job.id] = status["state"]
        if not first and status["state"] in jobs.FINISHED:
            st.rerun(scope="app")


def stop_button(job, status: dict, prefix: str) -> bool:
    """A Stop button while the job runs; True when it is queued or running."""
    from catalog_writer.app import jobs

    running = status["state"] in ("queued", "running")
    if running and st.button("Stop", key=f"{prefix}_stop"):
        jobs.cancel_job(job)
        st.rerun()
    return running
