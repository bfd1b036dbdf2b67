"""A decode-friendly attention for CPU inference, registered with transformers' AttentionInterface.

Measured here (torch 2.13 CPU, bf16, batch 32, 9 query / 3 key-value heads, 200 cached positions): the
SDPA CPU kernel takes ~6.6 ms per layer for a single new token, while two grouped matmuls (no repeat_kv
copy) take ~0.5 ms; in a 30-layer model that was 65% of every decoding step. So one-token steps use the
grouped matmuls and everything else (the prompt prefill, training) stays on SDPA. Results match SDPA up to
floating-point rounding.
"""

from __future__ import annotations

NAME = "catalog_writer_cpu"


def grouped_decode_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Same contract as transformers' sdpa_attention_forward: returns ((B, q, H, D), None)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    b, h, q_len, d = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    if q_len != 1 or h % kv_heads or module.training:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling,
                                      dropout=dropout, **kwargs)
    import torch

    groups = h // kv_heads
    q = query.reshape(b, kv_heads, groups, d)  # the query heads that share one key/value head
    scores = torch.matmul(q, key.transpose(-1, -2)) * (scaling if scaling is not None else d**-0.5)
    if attention_mask is not None:  # (B, 1, 1, L): bool = keep, or additive float
        mask = attention_mask[:, :, -1:, :kv_len]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + mask
    probs = torch.softmax(scores.float(), dim=-1).to(value.dtype)
    out = torch.matmul(probs, value)  # (B, KV, G, D)
    return out.reshape(b, h, 1, d).transpose(1, 2).contiguous(), None


def use_fast_attention(model) -> bool:
    """Switch a loaded model to the decode-friendly attention on CPU; False where it does not apply."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    if next(model.parameters()).device.type != "cpu":
        return False
    AttentionInterface.register(NAME, grouped_decode_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    try:
        model.set_attn_implementation(NAME)
    except (ValueError, AttributeError, TypeError, NotImplementedError):
        return False
    return model.config._attn_implementation == NAME
