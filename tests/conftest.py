"""Shared fixtures. Tests never download: a tiny random Llama with a tokenizer trained in-process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# An accidental hub download must fail loudly instead of hanging or silently working on a dev box.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DEMO_CATALOG = REPO / "data" / "demo-catalog.csv"
REAL_BASE = REPO / "models" / "base"

# SmolLM2's own ChatML template, so the tiny model formats conversations exactly like the real one.
CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] "
    "+ '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _corpus() -> list[str]:
    """Text to train the tiny tokenizer on: the fixture catalogs plus the demo catalog when present."""
    texts = []
    for p in sorted(FIXTURES.glob("**/*")):
        if p.is_file() and p.suffix in {".csv", ".tsv", ".txt", ".jsonl"}:
            texts.append(p.read_text(encoding="utf-8", errors="ignore"))
    if DEMO_CATALOG.exists():
        texts.append(DEMO_CATALOG.read_text(encoding="utf-8"))
    texts.append("system user assistant Write a product description. Title: Brand: Category: Attributes:")
    return texts


def build_tiny_model(out: Path, vocab_size: int = 512, seed: int = 0) -> Path:
    """Save a 2-layer random Llama plus a BPE tokenizer with a ChatML template to `out`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|im_start|>", eos_token="<|im_end|>",
        pad_token="<|im_end|>", unk_token="<|endoftext|>", model_max_length=2048,
    )
    fast.chat_template = CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """Path of a saved tiny Llama + tokenizer (session-wide; treat as read-only)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def varied_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with its weights re-drawn at a larger scale (seed 0), so greedy decoding writes varied
    text that differs per product: the plain fixture's near-uniform logits print newlines only, which would
    let output comparisons pass vacuously. Session-wide; treat as read-only (engines may cache next to it)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("varied")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.3)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.fixture()
def tiny_model_copy(tiny_model_dir, tmp_path) -> Path:
    """A private copy of the tiny model, for tests that might write next to it."""
    import shutil

    return Path(shutil.copytree(tiny_model_dir, tmp_path / "tiny-model"))


@pytest.fixture(scope="session")
def real_base_dir() -> Path:
    """The fetched embedded model (models/base); tests using it skip when it is absent."""
    if not (REAL_BASE / "config.json").exists():
        pytest.skip("embedded base model not fetched (run `catalog-writer models fetch`)")
    return REAL_BASE


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared not present")
    return SHARED


def pytest_collection_modifyitems(config, items):
    """Skip `gpu` tests without CUDA (checked lazily so collection stays fast)."""
    if not any("gpu" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    """Tiny-model tests run on one thread: on 2 busy cores, 2 threads make 64-wide matmuls far slower
    (thread hand-off dominates). Tests on the real model keep the default."""
    if "real_model" in request.keywords:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
