"""Has this run already been trained? A finished adapter's run.json keeps the resolved config it was
trained with; `train` compares it with the new one before doing anything.

`make demo DEMO_STEPS=20` after a 12-step demo must not keep the 12-step adapter silently, and
`make demo` twice must not train twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.training import modeling, registry
from catalog_writer.training import recipe as recipes


def _sha256_files(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return h.hexdigest()


def run_fingerprint(data: Path, recipe: dict, base: Path, parent: Path | None, method: str | None = None,
                    extra_train_records: list[dict] | None = None, world_size: int | None = None) -> dict:
    """Everything that decides the weights, flat: compared with a finished run's before training again.

    The dataset counts by content (records + template), not manifest.json, whose timestamp changes each
    time `prepare` runs; the recipe by its resolved values, not its file name.
    """
    fp = {
        "dataset": _sha256_files([data / n for n in ("train.jsonl", "val.jsonl", "template.json")]),
        "extra_records": hashlib.sha256(json.dumps(extra_train_records or [], sort_keys=True).encode()).hexdigest(),
        "base": modeling.base_sha256(base),
        "parent": str(Path(parent).resolve()) if parent else None,
    }
    for section in recipes.SECTIONS:
        fp.update({f"{section}.{k}": recipes.to_jsonable(v) for k, v in sorted(recipe[section].items())})
    fp["model.method"] = method or recipe["model"].get("method")  # --method beats the recipe
    world = world_size or int(os.environ.get("WORLD_SIZE", "1"))  # DDP processes: 1/N of every batch each
    if world > 1:  # left out for one process, so adapters trained before this key still match
        fp["world_size"] = world
    return fp


def _legacy_fingerprint(meta: dict, new: dict) -> dict:
    """What a run.json written before fingerprints still tells: steps, epochs, method, base, parent."""
    cfg = meta.get("config") or {}
    sft, model = cfg.get("sft") or {}, cfg.get("model") or {}
    steps = sft.get("max_steps")
    old = {"base": meta.get("base_model_sha256"), "parent": str(Path(meta["parent"]).resolve()) if
           meta.get("parent") else None, "model.method": meta.get("method") or model.get("method"),
           "sft.max_steps": steps if steps and steps > 0 else None}
    if "sft.max_steps" not in new:  # epochs only count when no step budget was set
        old["sft.num_train_epochs"] = sft.get("num_train_epochs")
    return old


def config_diff(old: dict, new: dict) -> list[str]:
    """`key old -> new` for every value that differs (hashes shown as "changed")."""
    def show(v):
        return "(unset)" if v is None else json.dumps(v) if not isinstance(v, str) else v

    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a != b and not (key == "sft.max_steps" and {a, b} <= {None, -1}):
            diffs.append(f"{key} changed" if key in ("dataset", "base", "extra_records")
                         else f"{key} {show(a)} -> {show(b)}")
    return diffs


def keep_finished(out: Path, fingerprint: dict, force: bool) -> bool:
    """True when `out` already holds this very run (`make demo` twice); a different one is refused or,
    with `force`, deleted so it can be replaced."""
    if not (out / registry.RUN_FILE).exists():
        return False
    meta = registry.read_adapter_meta(out)
    saved = (meta.get("config") or {}).get("resolved")
    if saved is None:
        saved, new = _legacy_fingerprint(meta, fingerprint), fingerprint
        new = {k: new.get(k) for k in saved}
    else:
        new = fingerprint
    diff = config_diff(saved, new)
    if not diff:
        print(f"already trained with this config on this dataset: {out} (kept)")
        return True
    what = "; ".join(diff)
    if not force:
        raise CatalogWriterError(f"a finished adapter is already there, trained with a different config ({what}): "
                                 "pass --force to replace it, or choose another -o", file=out)
    print(f"replacing the adapter in {out}: {what}")
    shutil.rmtree(out)
    return False
