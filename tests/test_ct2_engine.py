"""CTranslate2 engine: same greedy text as the HF engine in fp32, conversion cached, leakage ban kept."""

from __future__ import annotations

import pytest

pytest.importorskip("ctranslate2")

from catalog_writer.inference.ct2_engine import CACHE, Ct2Generator, tail_may_count  # noqa: E402
from catalog_writer.inference.generate import GenerationSettings, Generator  # noqa: E402
from test_generate import _products, tiny_adapter  # noqa: E402,F401  (a module fixture)


@pytest.fixture(scope="module")
def engines(varied_dir, tiny_adapter):  # noqa: F811  (tiny_adapter)
    hf = Generator(base_model=varied_dir, adapter=tiny_adapter, dtype="float32")
    return hf, Ct2Generator(base_model=varied_dir, adapter=tiny_adapter, compute_type="float32")


@pytest.mark.parametrize("ngram", [0, 3, 2])
def test_greedy_equals_hf_in_fp32(engines, ngram):
    hf, ct2 = engines
    products = _products(6)
    s = GenerationSettings(max_new_tokens=24, batch_size=4, no_repeat_ngram_size=ngram)
    assert len(set(hf.prompt_lengths(products, s))) > 1  # batches mix prompt lengths
    a = [d[0] for d in hf.generate(products, s)]
    b = [d[0] for d in ct2.generate(products, s)]
    assert [d.text for d in a] == [d.text for d in b]
    assert [d.new_tokens for d in a] == [d.new_tokens for d in b]
    assert len(set(d.text for d in a)) > 3  # not a vacuous comparison
    assert [d.flags for d in a] == [d.flags for d in b]


def test_conversion_is_cached_per_adapter_weights(engines, tiny_adapter):  # noqa: F811
    _, ct2 = engines
    cached = [p for p in (tiny_adapter / CACHE).iterdir() if p.is_dir()]
    assert len(cached) == 1 and (cached[0] / "model.bin").exists()
    stamp = (cached[0] / "model.bin").stat().st_mtime_ns
    Ct2Generator(base_model=ct2.adapter.base, adapter=tiny_adapter)  # opens the cached conversion
    assert (cached[0] / "model.bin").stat().st_mtime_ns == stamp
    assert ct2.model_version == "fernhill@v2"


def test_tail_rule():
    s = GenerationSettings(no_repeat_ngram_size=3)
    assert not tail_may_count([], [5, 6, 5, 6], s)
    assert tail_may_count([7, 5], [6, 1, 5, 6, 2], s)  # "5 6" starts in the tail and comes back
    assert not tail_may_count([7, 8], [5, 6, 5, 9], s)  # repeats inside the generated text only
    assert tail_may_count([7], [1], GenerationSettings(repetition_penalty=1.2))


def test_leaked_words_are_banned_and_best_of_samples(engines):
    hf, ct2 = engines
    products = _products(3)
    s = GenerationSettings(max_new_tokens=24, batch_size=3, no_repeat_ngram_size=0)
    plain = ct2.generate_messages([ct2.messages(p, s) for p in products], s)
    import re

    row, word = next((i, m) for i, x in enumerate(plain) for m in re.findall(r" ([A-Za-z]{2,})", x[0]))
    avoid = [[word] if i == row else [] for i in range(3)]
    banned = ct2.generate_messages([ct2.messages(p, s) for p in products], s, avoid=avoid)
    assert f" {word}" in plain[row][0] and f" {word}" not in banned[row][0]
    assert [x for i, x in enumerate(banned) if i != row] == [x for i, x in enumerate(plain) if i != row]
    sampled = GenerationSettings(max_new_tokens=16, best_of=2, seed=3, batch_size=3)
    first = ct2.generate_messages([ct2.messages(p, s) for p in products], sampled)
    assert [len(x) for x in first] == [2, 2, 2] and all(a != b for a, b in first)  # two real samples


def test_auto_engine_rule():
    from dataclasses import replace

    from catalog_writer.inference.batch import resolve_engine

    from types import SimpleNamespace

    assert resolve_engine("auto") == "ct2" and resolve_engine("hf") == "hf"
    assert resolve_engine("auto", template=SimpleNamespace(exemplars_k=1)) == "hf"  # per-row bans: hf
    # Copy guidance acts only on exemplar prompts (hf above); without exemplars it leaves ct2 in place.
    assert resolve_engine("auto", replace(GenerationSettings(), copy_bias=2.0)) == "ct2"
