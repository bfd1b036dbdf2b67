"""What a model or adapter folder must hold, checked before anything loads it.

Without these checks a base folder missing its weights ends in transformers' OSError, an adapter folder
missing `adapter_model.safetensors` makes PEFT try a hub download, and an adapter trained on another base
ends in a state_dict traceback of a hundred "size mismatch" lines. Here each is one CatalogWriterError
naming the folder and what is missing or does not fit.
"""

from __future__ import annotations

import re
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import read_json_object

BASE_WEIGHTS = ("*.safetensors", "pytorch_model*.bin")
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_LORA_KEY = re.compile(r"base_model\.model\.(.+)\.lora_([AB])\.weight")


def check_base_weights(path: Path) -> None:
    """A model folder holds its weights next to config.json."""
    if not any(next(Path(path).glob(pattern), None) for pattern in BASE_WEIGHTS):
        raise CatalogWriterError("no model weights (*.safetensors) next to config.json: copy or fetch the "
                                 "whole model folder", file=path)


def read_adapter_config(adapter: Path) -> dict:
    """adapter_config.json of an adapter folder (missing or broken: one line naming it)."""
    f = Path(adapter) / ADAPTER_CONFIG
    if not f.exists():
        raise CatalogWriterError(f"not an adapter folder ({ADAPTER_CONFIG} missing)", file=adapter)
    return read_json_object(f, ADAPTER_CONFIG)


def check_adapter_files(adapter: Path) -> dict:
    """The adapter's config, after checking that its weights are there too."""
    config = read_adapter_config(adapter)
    if not any((Path(adapter) / name).exists() for name in ADAPTER_WEIGHTS):
        raise CatalogWriterError(f"adapter weights missing ({ADAPTER_WEIGHTS[0]})", file=adapter)
    return config


def check_adapter_fits(adapter: Path, base: Path) -> None:
    """Up front, before any weights load: the adapter fits the base model folder `base` (its modules are
    built on the meta device from config.json, which costs no memory and well under a second)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    check_adapter_files(adapter)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base))
    _check_shapes(skeleton, adapter, base)


def _check_shapes(model, adapter: Path, base: Path | str | None = None) -> None:
    """Every LoRA matrix of the adapter must fit a module of `model` (the base, before PEFT wraps it):
    lora_A takes the module's inputs, lora_B gives its outputs. Reads shapes only, not the tensors."""
    from safetensors import safe_open

    adapter = Path(adapter)
    config = check_adapter_files(adapter)
    weights = adapter / ADAPTER_WEIGHTS[0]
    if not weights.exists():  # a .bin adapter: PEFT checks the shapes itself while loading
        return
    trained_on = config.get("base_model_name_or_path") or "an unknown base"
    where = f"base model {base}" if base is not None else "this base model"
    with safe_open(str(weights), framework="pt") as st:
        for key in st.keys():
            m = _LORA_KEY.fullmatch(key)
            if not m:
                continue
            name, side = m.groups()
            try:
                module = model.get_submodule(name)
            except AttributeError:
                raise CatalogWriterError(f"adapter does not fit {where}: it has no module {name} "
                                         f"(the adapter was trained on {trained_on})", file=adapter) from None
            shape = st.get_slice(key).get_shape()
            want, what = (shape[1], "in_features") if side == "A" else (shape[0], "out_features")
            have = getattr(module, what, None)
            if have is not None and have != want:
                raise CatalogWriterError(
                    f"adapter does not fit {where}: {name} has {what}={have}, the adapter expects {want} "
                    f"(the adapter was trained on {trained_on})", file=adapter)


def attach_adapter(model, adapter: Path, base: Path | str | None = None, *, is_trainable: bool = False):
    """PeftModel of `model` with the adapter loaded, after checking its files and shapes."""
    from peft import PeftModel

    _check_shapes(model, adapter, base)
    return PeftModel.from_pretrained(model, str(adapter), is_trainable=is_trainable)
