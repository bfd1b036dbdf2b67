"""vLLM engine for GPU servers: same prompts, post-processing and Drafts as the HF engine.

The base model is served by vLLM and the adapter is applied per request as a LoRARequest (no merge),
so one server can hold several brand voices. vLLM is imported lazily and is optional
(`pip install 'catalog-writer[gpu]'`).
"""

from __future__ import annotations

from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.inference.leakage import word_variants
from catalog_writer.inference.generate import Engine, GenerationSettings, adapter_version, load_template
from catalog_writer.training.adapter import Adapter, open_adapter


# The LoRA ranks vLLM's engine accepts for max_lora_rank (vllm.config.LoRAConfig.max_lora_rank).
VLLM_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)


def max_lora_rank(r: int) -> int:
    """The smallest rank vLLM accepts that holds an adapter of rank `r` (r=12 -> 16, r=300 -> 320)."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= r:
            return allowed
    raise CatalogWriterError(f"LoRA rank {r} is above the largest vLLM serves ({VLLM_LORA_RANKS[-1]})")


def _import_vllm():
    try:
        import vllm
        from vllm.lora.request import LoRARequest
    except ImportError:
        raise CatalogWriterError(
            "--engine vllm needs vLLM on a CUDA GPU server: pip install 'catalog-writer[gpu]' "
            "(or use the default --engine hf)"
        ) from None
    return vllm, LoRARequest


class VllmGenerator(Engine):
    """`Generator` look-alike backed by vllm.LLM; the adapter runs as a LoRA request."""

    def __init__(self, base_model: Path | None = None, adapter: Adapter | Path | None = None,
                 dtype: str = "auto", gpu_memory_utilization: float = 0.85) -> None:
        vllm, LoRARequest = _import_vllm()
        from catalog_writer.training import modeling

        adapter = open_adapter(adapter)
        if base_model is None and adapter is not None:
            base_model = adapter.base
        base = modeling.resolve_base(base_model)
        rank = adapter.rank if adapter is not None else 16
        self.llm = vllm.LLM(
            model=str(base), dtype="auto" if dtype == "auto" else dtype, enable_lora=adapter is not None,
            max_lora_rank=max_lora_rank(rank), gpu_memory_utilization=gpu_memory_utilization,
        )
        self.template = load_template(adapter)
        from catalog_writer.dataset.retrieval import template_index

        self.exemplar_index = template_index(self.template, adapter.path if adapter else None)
        self.model_version = adapter_version(adapter)
        self.lora = LoRARequest(self.model_version, 1, str(adapter.path.resolve())) if adapter else None
        self._vllm = vllm

    def _complete(self, prompts, s: GenerationSettings, progress, avoid=None):
        options = dict(
            n=s.candidates, temperature=s.temperature if s.do_sample else 0.0,
            top_p=s.top_p if s.do_sample else 1.0, repetition_penalty=s.repetition_penalty,
            max_tokens=s.max_new_tokens, min_tokens=s.min_new_tokens, seed=s.seed,
        )
        params = self._vllm.SamplingParams(**options)
        if avoid and any(avoid):  # vLLM's bad_words: each prompt bans its own exemplars' facts (leakage.py)
            params = [self._vllm.SamplingParams(**options, bad_words=sorted({v.strip() for w in words
                                                                              for v in word_variants(w)}) or None)
                      for words in avoid]
        outs = self.llm.chat(prompts, params, lora_request=self.lora, use_tqdm=False)
        results = []
        for o in outs:
            texts = [(c, self.template.strip_echo(c.text.strip())) for c in o.outputs]
            results.append([(t, len(c.token_ids), c.finish_reason == "length" and t == c.text.strip())
                            for c, t in texts])
        if progress:
            progress(len(prompts), sum(n for r in results for _, n, _ in r))
        return results
