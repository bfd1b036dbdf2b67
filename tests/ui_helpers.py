"""Helpers shared by the UI tests (not fixtures: plain functions)."""

from __future__ import annotations

from pathlib import Path

from adapter_helpers import save_lora


def make_lora_adapter(base: Path, root: Path, voice: str, version: str, seed: int) -> Path:
    """A real (randomly initialised) LoRA adapter on `base`, with run.json, registered as voice@version."""
    from catalog_writer.training import registry

    out = save_lora(base, Path(root) / "adapters" / f"{voice}-{version}", seed=seed, meta={
        "voice": voice, "version": version, "parent": None, "base_model": str(base), "method": "lora",
        "metrics": {"train_loss": 2.0 + seed, "eval_loss": 2.5 + seed},
        "created_at": "2026-01-01T00:00:00+00:00",
    }, r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    registry.register_voice(voice, out, root)
    return out
