"""Score descriptions with a trained reward model (`catalog-writer reward train`): one number per text.

A reward model is the base model with a scalar head (AutoModelForSequenceClassification, num_labels=1)
and a LoRA adapter, saved like an adapter with `run.json` whose `kind` is "reward". It reads the chat
(prompt + the description as the assistant's turn) cut to its last `window` tokens: the description and,
just before it, the product's own facts (prompts end with them); an exemplar early in a long prompt is
what falls off. Training (improve/reward.py) and scoring tokenise through `reward_ids`, so the model
scores exactly the inputs it was trained on, at about a third of the full prompt's cost.
"""

from __future__ import annotations

from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError

KIND = "reward"
DEFAULT_WINDOW = 320
"""Tokens the reward model reads: demo facts blocks are 81-133 tokens, descriptions 68-143."""


def reward_ids(tokenizer, prompt: list[dict], text: str, window: int = DEFAULT_WINDOW) -> list[int]:
    """Token ids of prompt + description as one chat, keeping the last `window` tokens."""
    chat = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": text}], tokenize=False)
    ids = tokenizer(chat, add_special_tokens=False)["input_ids"]
    return ids[-window:]


def score_ids(model, pad_id: int, sequences: list[list[int]], batch_size: int = 8) -> list[float]:
    """Reward of each token sequence (right padding, longest first so batches pad little)."""
    import torch

    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    out = [0.0] * len(sequences)
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        width = max(len(sequences[i]) for i in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, i in enumerate(chunk):
            ids[row, : len(sequences[i])] = torch.tensor(sequences[i])
            mask[row, : len(sequences[i])] = 1
        with torch.inference_mode():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits[:, 0]
        for row, i in enumerate(chunk):
            out[i] = float(logits[row])
    return out


def _quiet_new_head():
    """Loading a causal LM as a classifier reports its new `score` head as missing: the adapter brings it."""
    from contextlib import nullcontext

    try:
        from trl.trainer.reward_trainer import suppress_seqcls_warning
    except ImportError:
        return nullcontext()
    return suppress_seqcls_warning()


def read_reward_meta(path: Path | str) -> dict:
    """run.json of a reward model folder; a clear error for anything else (a voice adapter, a typo)."""
    from catalog_writer.training.registry import RUN_FILE, read_adapter_meta

    path = Path(path)
    if not (path / RUN_FILE).exists():
        raise CatalogWriterError("not a reward model (no run.json): train one with `catalog-writer reward train`",
                                 file=path)
    meta = read_adapter_meta(path)
    if meta.get("kind") != KIND:
        raise CatalogWriterError("not a reward model: this run.json is a voice adapter's", file=path / RUN_FILE)
    return meta


class RewardScorer:
    """A loaded reward model: `score(prompts, texts)` -> one float per text (higher is better)."""

    def __init__(self, path: Path | str, base_model: Path | str | None = None, batch_size: int = 8) -> None:
        from peft import PeftModel
        from transformers import AutoModelForSequenceClassification

        from catalog_writer.training import modeling

        self.path = Path(path)
        self.meta = read_reward_meta(self.path)
        base = modeling.resolve_base(base_model or modeling.adapter_base(self.path) or self.meta.get("base_model"))
        self.tokenizer = modeling.load_tokenizer(base, padding_side="right")
        with _quiet_new_head():
            model = AutoModelForSequenceClassification.from_pretrained(
                base, num_labels=1, dtype=modeling.compute_dtype("auto"))
        model.config.pad_token_id = self.tokenizer.pad_token_id
        self.model = PeftModel.from_pretrained(model, str(self.path)).merge_and_unload().eval()
        self.window = int(self.meta.get("window") or DEFAULT_WINDOW)
        self.batch_size = batch_size
        self.name = self.meta.get("name") or self.path.name

    @classmethod
    def from_loaded(cls, model, tokenizer, window: int = DEFAULT_WINDOW, name: str = "reward") -> RewardScorer:
        """Wrap an in-memory reward model (training's held-out check, tests)."""
        self = cls.__new__(cls)
        self.path, self.meta, self.model, self.tokenizer = None, {}, model, tokenizer
        self.window, self.batch_size, self.name = window, 8, name
        return self

    def score(self, prompts: list[list[dict]], texts: list[str]) -> list[float]:
        """Reward of each (prompt, description); prompts[i] goes with texts[i]."""
        if len(prompts) != len(texts):
            raise ValueError("one prompt per text")
        seqs = [reward_ids(self.tokenizer, p, t, self.window) for p, t in zip(prompts, texts)]
        return score_ids(self.model, self.tokenizer.pad_token_id, seqs, self.batch_size)

    def scorer_for(self, prompt: list[dict]):
        """texts -> rewards under one prompt (the candidates of one product, for selection.pick)."""
        return lambda texts: self.score([prompt] * len(texts), texts)
