"""The brand's description lengths -> the default token budget of generation.

A fixed budget (160 new tokens) against ~70-word references lets a model run on and invent. `prepare`
measures the training descriptions and saves the profile in `template.json`, which travels with the
adapter, so generation and evaluation budget for this brand's own lengths unless told otherwise.
"""

from __future__ import annotations

import math
import statistics

TOKENS_PER_WORD = 1.4
"""SmolLM2's tokenizer on catalogue copy: 1.42 tokens per whitespace word on the demo's training
descriptions (bullets and punctuation included)."""
BUDGET_QUANTILE = 0.9
"""The budget covers descriptions up to this quantile of the brand's lengths; longer drafts are trimmed
to their last complete sentence."""


def length_profile(descriptions: list[str], tokens_per_word: float = TOKENS_PER_WORD) -> dict | None:
    """Median, p10 and p90 words of `descriptions` and the budget `ceil(p90 * tokens_per_word)`;
    None without descriptions."""
    words = sorted(len(d.split()) for d in descriptions if d.strip())
    if not words:
        return None
    # "inclusive": quantiles within the observed range, also for a handful of descriptions.
    deciles = statistics.quantiles(words, n=10, method="inclusive") if len(words) > 1 else [words[0]] * 9
    p90 = deciles[round(BUDGET_QUANTILE * 10) - 1]
    return {
        "n": len(words),
        "median_words": round(statistics.median(words)),
        "p10_words": round(deciles[0]),
        "p90_words": round(p90),
        "tokens_per_word": tokens_per_word,
        "max_new_tokens": math.ceil(p90 * tokens_per_word),
    }
