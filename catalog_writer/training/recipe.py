"""YAML training recipes: each section passes straight to one library object.

```yaml
model:          # how to load the base: method + BitsAndBytesConfig keys + dtype
lora:           # peft.LoraConfig(**lora)
sft:            # trl.SFTConfig(**sft)
early_stopping: # transformers.EarlyStoppingCallback(**early_stopping)
```
A misspelt key anywhere is an error naming the file and the key (with a suggestion), never ignored.
`bf16: auto` in `sft:` means "where the hardware has it". Used by SFT training and by DPO retraining.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from pathlib import Path
from typing import Any

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import read_yaml_mapping

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "cpu-qlora.yaml"
SECTIONS = ("model", "lora", "sft", "early_stopping")
MODEL_KEYS = {
    "method", "torch_dtype", "bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_quant_storage",
    "bnb_4bit_compute_dtype", "attn_implementation",
}


def default_config() -> Path:
    """cpu-qlora on CPU machines, gpu-qlora where CUDA is available."""
    import torch

    return CONFIG_DIR / ("gpu-qlora.yaml" if torch.cuda.is_available() else "cpu-qlora.yaml")


def _check_keys(keys, allowed: set[str], section: str, file: Path | str) -> None:
    for key in keys:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise CatalogWriterError(f"unknown key {section}.{key}{hint}", file=file)


def allowed_keys() -> dict[str, set[str]]:
    """Valid keys per section, read from the libraries themselves so they never drift."""
    from peft import LoraConfig
    from transformers import EarlyStoppingCallback
    from trl import SFTConfig

    return {
        "model": MODEL_KEYS,
        "lora": {f.name for f in dataclasses.fields(LoraConfig)},
        "sft": {f.name for f in dataclasses.fields(SFTConfig)},
        "early_stopping": set(inspect.signature(EarlyStoppingCallback).parameters),
    }


def load_recipe(path: Path | str | None = None, overrides: dict[str, dict] | None = None) -> dict[str, dict]:
    """Read and validate a recipe; `overrides` ({section: {key: value}}) win over the file."""
    path = Path(path) if path is not None else default_config()
    data = read_yaml_mapping(path, "training config", SECTIONS)
    _check_keys(data, set(SECTIONS), "top level", path)
    for section in SECTIONS:  # `lora: 16` would otherwise end in a TypeError deep in dict()
        if data.get(section) is not None and not isinstance(data[section], dict):
            raise CatalogWriterError(f"section {section!r} must be a mapping of `key: value` lines, "
                                     f"not {data[section]!r}", file=path)
    recipe: dict[str, dict] = {s: dict(data.get(s) or {}) for s in SECTIONS}
    for section, values in (overrides or {}).items():
        recipe.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    allowed = allowed_keys()
    for section in SECTIONS:
        _check_keys(recipe[section], allowed[section], section, path)
    recipe["source"] = {"path": str(path.resolve())}
    return recipe


def trainer_args(cls: Any, kw: dict, output_dir: Path | str, section: str, file: Path | str):
    """`cls(output_dir=..., **kw)` for a TrainingArguments class (SFTConfig, RewardConfig, GRPOConfig) with
    bf16 "auto" resolved for this hardware and use_cpu set without CUDA, both written into `kw`; a bad
    value is one line naming `file`."""
    import torch

    from catalog_writer.training.modeling import bf16_supported

    if kw.get("bf16") == "auto":
        kw["bf16"] = bf16_supported()
    if not torch.cuda.is_available():
        kw.setdefault("use_cpu", True)  # transformers refuses bf16 on a machine without a GPU otherwise
    try:
        return cls(output_dir=str(output_dir), **kw)
    except (TypeError, ValueError) as e:
        raise CatalogWriterError(f"invalid {section} settings: {e}", file=file) from None


def sft_config(recipe: dict, output_dir: Path | str, **extra: Any):
    """trl.SFTConfig from the `sft:` section (bf16 "auto" resolved for this hardware)."""
    from trl import SFTConfig

    return trainer_args(SFTConfig, {**recipe["sft"], **extra}, output_dir, "sft", recipe["source"]["path"])


def lora_config(recipe: dict):
    """peft.LoraConfig from the `lora:` section."""
    from peft import LoraConfig

    kw = {"task_type": "CAUSAL_LM", **recipe["lora"]}
    try:
        return LoraConfig(**kw)
    except (TypeError, ValueError) as e:
        raise CatalogWriterError(f"invalid lora settings: {e}", file=recipe["source"]["path"]) from None


def early_stopping(recipe: dict):
    """EarlyStoppingCallback from `early_stopping:`, or None when the section is absent."""
    from transformers import EarlyStoppingCallback

    return EarlyStoppingCallback(**recipe["early_stopping"]) if recipe["early_stopping"] else None


def quantization_kwargs(recipe: dict) -> dict:
    """BitsAndBytesConfig overrides from `model:` (everything starting with bnb_4bit_)."""
    return {k: v for k, v in recipe["model"].items() if k.startswith("bnb_4bit_")}


def to_jsonable(obj: Any) -> Any:
    """A config object (SFTConfig, LoraConfig) as plain JSON types for run.json."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
