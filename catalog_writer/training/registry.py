"""Adapters and voices: every adapter folder describes itself in run.json; voices.json names the active one.

run.json is written last by training, so a folder without it is an unfinished run. voices.json:
`{"voices": {NAME: {"active": VERSION, "versions": {VERSION: PATH}, "history": [...]}}}`, paths relative
to the models root when inside it. The first version of a voice becomes active by itself; later
versions wait for `promote` (rollback = promote the previous version).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import read_json_object, write_json_atomic

RUN_FILE = "run.json"
TEMPLATE_FILE = "template.json"
VOICES_FILE = "voices.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_adapter_meta(adapter: Path | str) -> dict:
    """run.json of an adapter folder (error when missing: the run never finished)."""
    f = Path(adapter) / RUN_FILE
    if not f.exists():
        raise CatalogWriterError("no run.json: not a finished adapter (training incomplete?)", file=adapter)
    return read_json_object(f, RUN_FILE)


def write_adapter_meta(adapter: Path | str, meta: dict) -> None:
    write_json_atomic(Path(adapter) / RUN_FILE, meta)


def add_metrics(adapter: Path | str, metrics: dict) -> dict:
    """Merge `metrics` into the `metrics` of a finished adapter's run.json (evaluation, parent/child
    comparisons), written back atomically; returns the updated run.json."""
    meta = read_adapter_meta(adapter)
    meta["metrics"] = {**(meta.get("metrics") or {}), **metrics}
    write_adapter_meta(adapter, meta)
    return meta


def _is_adapter_dir(d: Path) -> bool:
    return (d / "adapter_config.json").exists() or (d / RUN_FILE).exists()


def list_adapters(root: Path | str = Path("models")) -> list[dict]:
    """Every adapter folder under root (checkpoints excluded), finished or not, with voice status."""
    root = Path(root)
    voices = _load_voices(root)["voices"]
    active = {_resolve_path(root, v["versions"][v["active"]]).resolve(): (name, v["active"])
              for name, v in voices.items() if v.get("active") in v.get("versions", {})}
    rows = []
    for d in sorted({p.parent for p in root.rglob("adapter_config.json")} | {p.parent for p in root.rglob(RUN_FILE)}):
        if any(part.startswith(("checkpoint-", ".")) for part in d.relative_to(root).parts):
            continue
        if not _is_adapter_dir(d) or _is_reward_dir(d):
            continue
        try:
            row = _adapter_row(d)
        except CatalogWriterError as e:  # listed with the reason: one corrupt folder must not hide the rest
            row = {"path": str(d), "status": f"broken: {e}", "voice": d.name, "version": None, "metrics": {}}
        row["active"] = active.get(d.resolve()) == (row["voice"], row["version"])
        rows.append(row)
    return rows


def _adapter_row(d: Path) -> dict:
    for name in (TEMPLATE_FILE, "adapter_config.json"):  # generation would stop on a corrupt one
        if (d / name).exists():
            read_json_object(d / name, name)
    if not (d / RUN_FILE).exists():
        return {"path": str(d), "status": "unfinished", "voice": d.name, "version": None, "metrics": {}}
    meta = read_adapter_meta(d)
    row = {"path": str(d), "status": "finished", **{k: meta.get(k) for k in
           ("voice", "version", "parent", "method", "base_model", "metrics", "created_at")}}
    return {**row, "metrics": row["metrics"] if isinstance(row["metrics"], dict) else {}}


def adapter_version(adapter: Path | str) -> str:
    """"voice@version" from run.json. An adapter without one (made elsewhere) is "FOLDER@v1"; a corrupt
    run.json is an error naming it, never hidden behind a made-up version on every draft."""
    meta = read_adapter_meta(adapter) if (Path(adapter) / RUN_FILE).exists() else {}
    return version_label(meta, adapter)


def version_label(meta: dict, adapter: Path | str) -> str:
    """"voice@version" from run.json contents (`meta`); "FOLDER@v1" for an adapter made elsewhere."""
    return f"{meta.get('voice') or Path(adapter).name}@{meta.get('version') or 'v1'}"


def _is_reward_dir(d: Path) -> bool:
    """A reward model (`reward train`): saved like an adapter, but it scores text and is never a voice."""
    try:
        return (d / RUN_FILE).exists() and read_adapter_meta(d).get("kind") == "reward"
    except CatalogWriterError:
        return False


def list_rewards(root: Path | str = Path("models")) -> list[dict]:
    """Every finished reward model under root, with its held-out pair accuracy."""
    root = Path(root)
    rows = []
    for f in sorted(root.rglob(RUN_FILE)):
        if any(part.startswith(".") for part in f.relative_to(root).parts) or not _is_reward_dir(f.parent):
            continue
        meta = read_adapter_meta(f.parent)
        rows.append({"path": str(f.parent), "name": meta.get("name") or f.parent.name,
                     "policy": meta.get("policy"), "pairs": meta.get("pairs"), "created_at": meta.get("created_at"),
                     "held_out": (meta.get("metrics") or {}).get("held_out") or {}})
    return rows


# --- voices --------------------------------------------------------------------------------------------

def _load_voices(root: Path) -> dict:
    f = Path(root) / VOICES_FILE
    if not f.exists():
        return {"voices": {}}
    data = read_json_object(f, "voices file")
    data.setdefault("voices", {})
    return data


def _rel(root: Path, path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(Path(path).resolve())


def _resolve_path(root: Path, stored: str) -> Path:
    p = Path(stored)
    return p if p.is_absolute() else Path(root) / p


def register_voice(name: str | None, adapter_path: Path | str, root: Path | str = Path("models")) -> dict:
    """Record an adapter as a version of a voice (default name: folder name); first version goes active."""
    root, adapter_path = Path(root), Path(adapter_path)
    meta = read_adapter_meta(adapter_path)
    name = name or meta.get("voice") or adapter_path.name
    version = meta.get("version") or "v1"
    data = _load_voices(root)
    voice = data["voices"].setdefault(name, {"active": None, "versions": {}, "history": []})
    voice["versions"][version] = _rel(root, adapter_path)
    if voice["active"] is None:
        voice["active"] = version
        voice["history"].append({"active": version, "at": _now()})
    write_json_atomic(root / VOICES_FILE, data)
    return voice


def default_identity(out: Path, parent: Path | None, voice: str | None, version: str | None,
                     root: Path) -> tuple[str, str]:
    """(voice, version) for a new adapter: folder name and "v1"; a child takes its parent's voice, next version."""
    if parent is None or not (Path(parent) / RUN_FILE).exists():
        return voice or Path(out).name, version or "v1"
    pmeta = read_adapter_meta(parent)
    voice = voice or pmeta.get("voice") or Path(out).name
    return voice, version or next_version(root, voice, pmeta.get("version") or "v1")


def next_version(root: Path, voice: str, after: str) -> str:
    """The voice's next free version: past `after` and past every version it already has under root
    (a DPO child and a retrained child of the same parent must not both be v2)."""
    versions = [after, *(a["version"] for a in list_adapters(root) if a["voice"] == voice)]
    numbers = [int(v[1:]) for v in versions if v and re.fullmatch(r"v\d+", v)]
    return f"v{max(numbers, default=1) + 1}"


def models_root(adapter: Path) -> Path:
    """models/ for models/adapters/NAME; otherwise the adapter's parent folder."""
    adapter = Path(adapter).resolve()
    return adapter.parent.parent if adapter.parent.name == "adapters" else adapter.parent


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    return name, (version or None)


def resolve_voice(name: str, root: Path | str = Path("models")) -> Path:
    """Adapter folder of a voice's active version ("name") or of a given version ("name@v2")."""
    root = Path(root)
    name, version = _split_ref(name)
    voices = _load_voices(root)["voices"]
    if name not in voices:
        known = ", ".join(sorted(voices)) or "none yet"
        raise CatalogWriterError(f"unknown voice {name!r} (known: {known})", file=root / VOICES_FILE)
    voice = voices[name]
    version = version or voice["active"]
    if version not in voice["versions"]:
        raise CatalogWriterError(f"voice {name!r} has no version {version!r} "
                                 f"(versions: {', '.join(voice['versions'])})", file=root / VOICES_FILE)
    return _resolve_path(root, voice["versions"][version])


def promote(root: Path | str, ref: str) -> Path:
    """Make VERSION the active adapter of VOICE ("voice@version"); rollback = promote an older one."""
    root = Path(root)
    name, version = _split_ref(ref)
    if not version:
        raise CatalogWriterError(f"give VOICE@VERSION, e.g. {name}@v2")
    path = resolve_voice(f"{name}@{version}", root)
    read_adapter_meta(path)  # refuse unfinished or missing folders
    data = _load_voices(root)
    voice = data["voices"][name]
    previous, voice["active"] = voice["active"], version
    voice["history"].append({"active": version, "previous": previous, "at": _now()})
    write_json_atomic(root / VOICES_FILE, data)
    from rich.console import Console

    Console(stderr=True).print(f"{name}: active version {previous} -> {version} ({path})")
    return path


def rollback(root: Path | str, name: str) -> Path:
    """Promote the version that was active before the current one."""
    voice = _load_voices(Path(root))["voices"].get(name)
    history = [h for h in (voice or {}).get("history", []) if h.get("previous")]
    if not history:
        raise CatalogWriterError(f"nothing to roll back for voice {name!r}")
    return promote(root, f"{name}@{history[-1]['previous']}")


# --- listing -------------------------------------------------------------------------------------------

def _base_info(root: Path) -> dict | None:
    base = root / "base"
    if not (base / "config.json").exists():
        return None
    prov = base / "provenance.json"
    try:
        meta = read_json_object(prov, prov.name) if prov.exists() else {}
    except CatalogWriterError as e:  # the listing still shows the base, with the reason
        meta = {"model": f"(broken: {e})"}
    size = sum(p.stat().st_size for p in base.glob("*") if p.is_file())
    return {"path": str(base), "model": meta.get("model"), "license": meta.get("license"),
            "sha256": meta.get("weights_sha256"), "size_mb": round(size / 1e6, 1)}


def print_models(root: Path | str = Path("models"), as_json: bool = False) -> None:
    """Print the base model and every adapter with its metrics (rich table, or one JSON object)."""
    root = Path(root)
    data = {"base": _base_info(root), "adapters": list_adapters(root), "voices": _load_voices(root)["voices"],
            "rewards": list_rewards(root)}
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    base = data["base"]
    console.print(f"base: {base['path']} {base['model'] or ''} ({base['size_mb']} MB, {base['license']})"
                  if base else "base: not fetched (run `catalog-writer models fetch`)")
    table = Table(title=f"adapters in {root}")
    for col in ("voice", "version", "active", "method", "steps", "train loss", "val loss", "tok/s"):
        table.add_column(col, no_wrap=True)
    table.add_column("path", overflow="fold")
    for a in data["adapters"]:
        m = a.get("metrics") or {}

        def fmt(v, spec=".3f"):
            return format(v, spec) if isinstance(v, (int, float)) else "-"

        table.add_row(a["voice"] or "-", a["version"] or a["status"].split(":")[0], "*" if a["active"] else "",
                      a.get("method") or "-", fmt(m.get("steps"), "d"), fmt(m.get("train_loss")),
                      fmt(m.get("eval_loss")), fmt(m.get("tokens_per_second"), ".0f"), a["path"])
    console.print(table if data["adapters"] else "no adapters yet (`catalog-writer train DATA -o models/adapters/NAME`)")
    for a in data["adapters"]:
        if a["status"].startswith("broken"):
            console.print(a["status"], soft_wrap=True, markup=False, highlight=False)  # one line each: "broken: FILE: reason"
    if data["rewards"]:
        table = Table(title=f"reward models in {root} (`generate --reward`, `improve --reward`)")
        for col in ("name", "held-out pairs", "accuracy", "95% CI", "drafts from"):
            table.add_column(col, no_wrap=True)
        table.add_column("path", overflow="fold")
        for r in data["rewards"]:
            h = r["held_out"]
            acc, ci = h.get("accuracy"), h.get("ci95") or [0, 1]
            table.add_row(r["name"], str(h.get("pairs", "-")), "-" if acc is None else f"{acc:.3f}",
                          f"{ci[0]:.2f}-{ci[1]:.2f}", str(r["policy"] or "-"), r["path"])
        console.print(table)
