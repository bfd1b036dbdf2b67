"""Write a tiny GGUF in the test itself (gguf's GGUFWriter), as llama.cpp's converter would: no network."""

from __future__ import annotations

import json
from pathlib import Path


def write_tiny_gguf(path: Path, hf_dir: Path, with_chat_template: bool = True) -> Path:
    """The tiny HF Llama as llama.cpp's converter would write it: Q8_0 matrices (q/k rows permuted the
    llama.cpp way), f32 norms, a byte-level BPE vocabulary with merges and the chat template."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    cfg = json.loads((hf_dir / "config.json").read_text())
    tok = json.loads((hf_dir / "tokenizer.json").read_text())
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg["num_key_value_heads"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(float((cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta", 10000.0))))
    w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    specials = {t["content"] for t in tok["added_tokens"]}
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list([t for t, _ in vocab])
    w.add_token_types([3 if t in specials else 1 for t, _ in vocab])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_pad_token_id(cfg["pad_token_id"])
    if with_chat_template:  # a pretrained (not instruction-tuned) base ships none
        w.add_chat_template((hf_dir / "chat_template.jinja").read_text())

    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]

    def permute(x, n):  # llama.cpp's convert_hf_to_gguf.py LlamaModel.permute
        return x.reshape(n, 2, x.shape[0] // n // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)

    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for hf_name, x in load_file(hf_dir / "model.safetensors").items():
        x = x.astype(np.float32)
        if hf_name == "model.embed_tokens.weight":
            name = "token_embd.weight"
        elif hf_name == "model.norm.weight":
            name = "output_norm.weight"
        elif hf_name == "lm_head.weight":
            continue  # tied to the embedding
        else:
            layer, rest = hf_name.removeprefix("model.layers.").split(".", 1)
            name = f"blk.{layer}.{names[rest.removesuffix('.weight')]}.weight"
            if rest.startswith("self_attn.q_proj"):
                x = permute(x, heads)
            elif rest.startswith("self_attn.k_proj"):
                x = permute(x, kv_heads)
        if x.ndim == 2:
            w.add_tensor(name, gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0),
                         raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
