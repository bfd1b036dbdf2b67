"""An adapter folder opened once: LoRA config and weight files, prompt template, run metadata, the version
it is published as and the base model it was tuned from.

A batch job, an evaluation or the app opens the folder once with `Adapter.open` and hands the object to
the engine, so every stage sees the same template and version (before, each re-read the folder itself).
A corrupt `run.json`, `template.json` or `adapter_config.json`, or missing weights, is one
CatalogWriterError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.prompts import PromptTemplate
from catalog_writer.training import registry
from catalog_writer.training.weights import ADAPTER_CONFIG, check_adapter_files, read_adapter_config

TEMPLATE_FILE = "template.json"


@dataclass(frozen=True)
class Adapter:
    path: Path
    config: dict
    """adapter_config.json (PEFT: rank `r`, `base_model_name_or_path`, target modules)."""
    meta: dict
    """run.json (voice, version, base, dataset, metrics); {} for a folder trained elsewhere."""
    template: PromptTemplate
    """The prompt template the adapter was trained with (template.json), else the default one."""
    weights: tuple[Path, ...]
    """The LoRA weight files (adapter_model.safetensors or .bin)."""

    @classmethod
    def open(cls, path: Path | str) -> Adapter:
        """Read the folder once; one-line errors for a missing folder, config, weights or a corrupt file."""
        path = Path(path)
        if not path.is_dir():
            raise CatalogWriterError("adapter folder not found", file=path)
        config = check_adapter_files(path)
        meta = registry.read_adapter_meta(path) if (path / registry.RUN_FILE).exists() else {}
        template = PromptTemplate.load(path / TEMPLATE_FILE) if (path / TEMPLATE_FILE).exists() else None
        weights = tuple(sorted(p for p in path.glob("adapter_model.*") if p.is_file()))
        return cls(path, config, meta, template or PromptTemplate(), weights)

    @property
    def model_version(self) -> str:
        """"voice@version" stored with every draft (registry.version_label)."""
        return registry.version_label(self.meta, self.path)

    @property
    def base(self) -> Path | None:
        """The base model folder it was tuned on, if it is here (see `trained_base`)."""
        return trained_base(self.meta, self.config)

    @property
    def rank(self) -> int:
        return int(self.config.get("r") or 16)

    def fingerprint(self) -> dict[str, list[int]]:
        """Size and mtime of the weight and config files: retraining in the same folder changes it, so
        saved outputs of the old weights are not reused (run.json is left out: evaluation writes to it)."""
        files = (*self.weights, self.path / ADAPTER_CONFIG)
        return {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in files}


def trained_base(meta: dict, config: dict) -> Path | None:
    """The base folder an adapter was tuned on: run.json's `base_model`, else adapter_config.json's
    `base_model_name_or_path`, the first that is a model folder here."""
    for value in (meta.get("base_model"), config.get("base_model_name_or_path")):
        if value and (Path(value) / "config.json").exists():
            return Path(value)
    return None


def adapter_base(adapter: Path | str) -> Path | None:
    """The base an adapter was trained on, if it is here, read without opening the whole adapter (its
    weights are not needed for that)."""
    adapter = Path(adapter)
    meta = registry.read_adapter_meta(adapter) if (adapter / registry.RUN_FILE).exists() else {}
    config = read_adapter_config(adapter) if (adapter / ADAPTER_CONFIG).exists() else {}
    return trained_base(meta, config)


def open_adapter(adapter: Adapter | Path | str | None) -> Adapter | None:
    """An Adapter as it is, a folder opened, None for the bare base model (callers take any of them)."""
    if adapter is None or isinstance(adapter, Adapter):
        return adapter
    return Adapter.open(adapter)
