"""Real LoRA adapters for tests, built in-process on a tiny base (plain functions, not fixtures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_lora(base: Path, out: Path, *, seed: int | None = None, template: Any = None, meta: dict | None = None,
              **lora: Any) -> Path:
    """A LoRA adapter of `base` (LoraConfig(**lora); init_lora_weights=False gives random, output-changing
    weights, drawn after `torch.manual_seed(seed)` when given) saved to `out`, plus `template`
    (a PromptTemplate) as template.json and `meta` as run.json when given."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from catalog_writer.training import registry

    if seed is not None:
        torch.manual_seed(seed)
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(**lora)).save_pretrained(out)
    if template is not None:
        template.save(Path(out) / "template.json")
    if meta is not None:
        registry.write_adapter_meta(out, meta)
    return Path(out)
