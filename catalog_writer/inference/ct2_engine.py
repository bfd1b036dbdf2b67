"""CTranslate2 engine for CPUs: the merged model converted once, decoded by CTranslate2's C++ generator.

CTranslate2 keeps its KV cache in place, uses grouped-query attention natively and runs int8 or fp32 GEMMs
without Python in the decoding loop. The merged base + adapter is converted once and cached in the
adapter's folder (the base's without an adapter) under `.ct2/<key>`, the key covering the adapter's weight
fingerprint, the base's weights and the CTranslate2 version, so a retrained adapter is converted again.

Decoding matches the HF engine (`generate.Generator`) where CTranslate2 has the same operation:
- greedy, sampling (temperature, top-p), the token budget, stop tokens, candidates per prompt;
- `no_repeat_ngram_size` and `repetition_penalty` are CTranslate2's own. Both count the part of a longer
  prompt that CTranslate2 feeds through its decoding loop (the prompt tokens beyond the shortest prompt of
  the batch), where the HF engine counts generated tokens only. So a row whose result could have been
  changed by that (its generated n-grams meet the prompt tail, or any penalty with a tail) is decoded again
  on its own, where there is no tail: results are the same as counting generated tokens only.
- the exemplar-leakage guard (leakage.py): a row whose text contains one of its banned words is decoded
  again on its own with those token sequences suppressed (CTranslate2's `suppress_sequences` is per call).
  The soft penalty on the first token of long banned words has no CTranslate2 equivalent and is not applied.
- sampling is seeded per process, not per batch: CTranslate2's random generator is per thread and seeded
  once, so a re-run in a new process reproduces the run but a second call in the same process differs.
- `copy_bias` (a logits processor) has no equivalent: prompts with exemplars are refused with a one-line
  error (`auto` uses hf for them); without exemplars copy guidance does nothing, so it is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.shown import shown_descriptions
from catalog_writer.inference.generate import Engine, GenerationSettings, Generator, adapter_version, load_template
from catalog_writer.inference.processors import stop_token_ids
from catalog_writer.training.adapter import Adapter, open_adapter

CACHE = ".ct2"
COMPUTE_TYPES = ("float32", "int8", "int8_float32")


def available() -> bool:
    """True when CTranslate2 imports here (the `auto` engine's rule)."""
    import importlib.util

    return importlib.util.find_spec("ctranslate2") is not None


def _ct2():
    try:
        import ctranslate2
    except ImportError:
        raise CatalogWriterError("--engine ct2 needs CTranslate2: pip install ctranslate2 (or use --engine hf)") from None
    return ctranslate2


def _key(base: Path, adapter: Adapter | None) -> str:
    ct2 = _ct2()
    weights = {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(base.glob("*.safetensors"))}
    spec = {"base": str(base.resolve()), "base_files": weights, "ct2": ct2.__version__,
            "adapter": adapter.fingerprint() if adapter else None}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def converted_model(base: Path, adapter: Adapter | None) -> Path:
    """The merged model in CTranslate2's format (fp32 weights; int8 is quantized at load), converted once."""
    from catalog_writer.training import modeling

    root = (adapter.path if adapter else base) / CACHE
    out = root / _key(base, adapter)
    if (out / "model.bin").exists():
        return out
    ct2 = _ct2()
    # Loading checks that the adapter fits the base: a mismatch ends as one line, with nothing written.
    model, tok = modeling.load_for_inference(base, adapter, dtype="float32", merge=True)
    root.mkdir(parents=True, exist_ok=True)
    print(f"converting the merged model for CTranslate2 once: {out}", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        merged, conv = Path(tmp) / "merged", Path(tmp) / "ct2"
        model.save_pretrained(merged)
        tok.save_pretrained(merged)
        ct2.converters.TransformersConverter(str(merged)).convert(str(conv), quantization="float32")
        tok.save_pretrained(conv)
        stops = model.generation_config.eos_token_id
        (conv / "stops.json").write_text(json.dumps(stops if isinstance(stops, list) else [stops]))
        del model
        for stale in root.iterdir():  # older conversions of this folder (a retrained adapter)
            if stale.is_dir() and stale.name != Path(tmp).name:
                shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(conv, out)
        except OSError:  # another process converted it meanwhile
            if not (out / "model.bin").exists():
                raise
    return out


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _contains(seq: list[int], sub: tuple[int, ...]) -> bool:
    n = len(sub)
    return any(tuple(seq[k : k + n]) == sub for k in range(len(seq) - n + 1))


def tail_may_count(tail: list[int], generated: list[int], s: GenerationSettings) -> bool:
    """Could the prompt tail CTranslate2 counted have changed this row (see the module doc)?"""
    if not tail:
        return False
    if s.repetition_penalty != 1.0:
        return True
    n = s.no_repeat_ngram_size
    if n <= 0:
        return False
    history = tail + generated
    # An extra ban needs an (n-1)-gram that starts in the tail to come back later, before a generated token.
    for k in range(1, len(history) - n + 1):
        if k + n - 1 < len(tail):
            continue
        window = history[k : k + n - 1]
        if any(history[j : j + n - 1] == window for j in range(min(k, len(tail)))):
            return True
    return False


class Ct2Generator(Engine):
    """`Generator` look-alike backed by ctranslate2.Generator on the CPU."""

    encode = Generator.encode  # same chat template and tokenizer calls, so the same prompt ids
    prompt_lengths = Generator.prompt_lengths

    def __init__(self, base_model: Path | None = None, adapter: Adapter | Path | None = None,
                 compute_type: str = "float32", threads: int = 0) -> None:
        from transformers import AutoTokenizer

        from catalog_writer.dataset.retrieval import template_index
        from catalog_writer.quality.house import load_house
        from catalog_writer.training import modeling

        if compute_type not in COMPUTE_TYPES:
            raise CatalogWriterError(f"unknown CTranslate2 compute type {compute_type!r}: {', '.join(COMPUTE_TYPES)}")
        ct2 = _ct2()
        self.adapter = open_adapter(adapter)
        folder = self.adapter.path if self.adapter else None
        self.template = load_template(self.adapter)
        self.exemplar_index = template_index(self.template, folder)
        base = modeling.resolve_base(base_model if base_model is not None else
                                     (self.adapter.base if self.adapter else None))
        path = converted_model(base, self.adapter)
        self.generator = ct2.Generator(str(path), device="cpu", compute_type=compute_type,
                                       intra_threads=threads or _threads())
        self.compute_type = compute_type
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.stop_ids = stop_token_ids(self.tokenizer, json.loads((path / "stops.json").read_text()))
        self.model_version = adapter_version(self.adapter)
        self.house = load_house(folder)
        self._ct2 = ct2
        self._warned = False

    def close(self) -> None:
        self.generator = None

    def _options(self, s: GenerationSettings) -> dict:
        opts = dict(max_length=s.max_new_tokens, min_length=s.min_new_tokens, include_prompt_in_result=False,
                    end_token=self.stop_ids, return_end_token=True, repetition_penalty=s.repetition_penalty,
                    no_repeat_ngram_size=s.no_repeat_ngram_size)
        if s.do_sample:
            opts.update(sampling_topk=0, sampling_topp=s.top_p, sampling_temperature=s.temperature)
        return opts

    def _run(self, rows: list[list[int]], s: GenerationSettings, seed_key: str, **extra) -> list[list[int]]:
        # Seeded by the batch content, so a re-run (or a resumed run) reproduces the same batch.
        self._ct2.set_random_seed((s.seed * 1_000_003 + zlib.crc32(seed_key.encode())) % 2**31)
        tokens = [self.tokenizer.convert_ids_to_tokens(r) for r in rows]
        return [r.sequences_ids[0] for r in self.generator.generate_batch(tokens, **self._options(s), **extra)]

    def _banned(self, words: list[str]) -> list[tuple[int, ...]]:
        from catalog_writer.inference.leakage import token_sequences

        return token_sequences(self.tokenizer, words) if words else []

    def _complete(self, prompts, s, progress, avoid=None):
        if getattr(s, "copy_bias", 0) and any(shown_descriptions(self.template, p) for p in prompts):
            raise CatalogWriterError("--copy-bias needs --engine hf (CTranslate2 takes no logits processors)")
        ids = self.encode(prompts)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        results: list[list[tuple[str, int, bool]]] = [[] for _ in ids]
        c = s.candidates
        for start in range(0, len(order), max(1, s.batch_size)):
            chunk = order[start : start + max(1, s.batch_size)]
            shortest = min(len(ids[i]) for i in chunk)
            outs = self._run([ids[i] for i in chunk for _ in range(c)], s, ",".join(str(ids[i]) for i in chunk))
            for k, i in enumerate(chunk):
                rows = outs[k * c : (k + 1) * c]
                banned = self._banned(avoid[i]) if avoid else []
                leaks = any(_contains(r, b) for r in rows for b in banned)
                if leaks or any(tail_may_count(ids[i][shortest:], r, s) for r in rows):
                    if banned and not self._warned:
                        print("ct2 engine: exemplar words are banned whole; the soft first-token penalty is "
                              "HF-only (--engine hf)", file=sys.stderr)
                        self._warned = True
                    supp = [self.tokenizer.convert_ids_to_tokens(list(b)) for b in banned] or None
                    rows = self._run([ids[i]] * c, s, str(ids[i]), suppress_sequences=supp)
                results[i] = [self._decode(r, s) for r in rows]
            if progress:
                progress(len(chunk), sum(n for i in chunk for _, n, _ in results[i]))
        return results

    def _decode(self, seq: list[int], s: GenerationSettings) -> tuple[str, int, bool]:
        ended = bool(seq) and seq[-1] in self.stop_ids
        body = seq[:-1] if ended else seq
        raw = self.tokenizer.decode(body, skip_special_tokens=True).strip()
        text = self.template.strip_echo(raw)
        return text, len(seq), not ended and text == raw
