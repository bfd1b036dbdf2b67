"""Copy guidance for retrieve-and-edit: lean towards the exemplar's wording while the product's facts go in.

A brand's catalogue repeats its structure and house phrases, which is why copying the nearest product's
description is a strong baseline. A 135M model trained for a few dozen steps copies that structure only in
part and drifts into its own generic copy. This processor adds `bias` to the logit of the token that
continues the exemplar's description where the draft currently matches it (the longest suffix of the
draft, up to `MAX_NGRAM` tokens, found in the exemplar): a copy distribution mixed into the model's, as
in pointer-generator and retrieval-guided decoding. The model still chooses: where the exemplar states
its own facts, the leakage ban (leakage.py) blocks them and the product's facts from the prompt win.

The exemplar is first rewritten with the product's facts (`swap_facts`): where it names its own value of
an attribute the product also has ("Merino wool, chosen because it lasts", title "Linnet Rib Beanie"), the
copy source holds the product's ("Recycled wool blend, chosen...", "Ghyll Rib Beanie"). Without it the
guidance led into a fact the ban then blocked and the draft lost the sentence; a swapped neighbour scores
+0.02-0.03 ROUGE-L over the neighbour itself on the demo and Luma splits (measured, no model).
"""

from __future__ import annotations

import math

from catalog_writer.dataset.prompts import PromptTemplate
from catalog_writer.dataset.shown import shown_exemplars, shown_product
from catalog_writer.dataset.swap import swap_facts

CUT = "…"
"""How the prompt marks an exemplar description cut to its token budget: its end is not the exemplar's."""
MAX_NGRAM = 4
"""Longest draft suffix looked up in the exemplar; longer matches add nothing on catalogue copy."""


COPY_HEADROOM = 1.15
"""With copy guidance the token budget covers the longest shown exemplar plus this margin: a draft that
follows the exemplar is as long as it, and a budget from the brand's p90 length cut its last paragraph."""


def _fit(longest: int, budget: int) -> int:
    return max(budget, math.ceil(longest * COPY_HEADROOM))


def copy_sources(template: PromptTemplate, messages: list[dict]) -> list[str]:
    """What copy guidance follows for a prompt: each shown exemplar description, its facts swapped for the
    product's (both as the prompt shows them)."""
    product = shown_product(template, messages)
    return [swap_facts(text, facts, product, template.title_label)
            for facts, text in shown_exemplars(template, messages)]


Table = dict[tuple[int, ...], set[int]]


def ngram_table(source: list[int], max_n: int = MAX_NGRAM, end: int | None = None) -> Table:
    """Every n-gram (1..max_n tokens) of `source` -> the tokens that follow it there; () -> the first.
    With `end` (an end-of-text token) the source's last n-grams continue with it: where the exemplar
    stops, the draft is led to stop too instead of running on."""
    source = [*source, end] if end is not None and source else source
    table: dict[tuple[int, ...], set[int]] = {(): {source[0]}} if source else {}
    for n in range(1, max_n + 1):
        for i in range(len(source) - n):
            # The end only after 2+ matching tokens: the exemplar's last "." alone would lead every
            # sentence of the draft to stop (Luma drafts fell from 48 to 37 words).
            if n > 1 or source[i + n] != end or i + n < len(source) - 1:
                table.setdefault(tuple(source[i : i + n]), set()).add(source[i + n])
    return table


def continuations(table: Table, draft: list[int], max_n: int = MAX_NGRAM) -> set[int]:
    """Tokens that continue the exemplar after the longest suffix of `draft` it contains (empty if none).
    An empty draft continues with the exemplar's first token: the brand's usual opening."""
    if not draft:
        return table.get((), set())
    for n in range(min(max_n, len(draft)), 0, -1):
        if (nxt := table.get(tuple(draft[-n:]))) is not None:
            return nxt
    return set()


def copy_processor(tokenizer, sources: list[list[str]], prompt_width: int, bias: float, num_variants: int = 1,
                   end: int | None = None):
    """A LogitsProcessor adding `bias` to each row's exemplar continuations; None when off or no sources.

    `sources[i]`: the exemplar descriptions shown to prompt i (generate() repeats each row `num_variants`
    times); `prompt_width`: with left padding every row's draft starts at this column; `end`: the token
    that ends a description (see ngram_table).
    """
    if bias <= 0 or not any(sources):
        return None
    from transformers import LogitsProcessor

    tables, longest = [], 0
    for texts in sources:
        merged: Table = {}
        for text in texts:
            ids = tokenizer(text.removesuffix(CUT), add_special_tokens=False)["input_ids"]
            longest = max(longest, len(ids))
            for key, nxt in ngram_table(ids, end=None if text.endswith(CUT) else end).items():
                merged.setdefault(key, set()).update(nxt)
        tables += [merged] * num_variants

    class ExemplarCopy(LogitsProcessor):
        def budget(self, limit: int) -> int:
            """`limit` raised to fit the longest exemplar description (+COPY_HEADROOM)."""
            return _fit(longest, limit)

        def exempt(self, input_ids) -> list[set[int]]:
            """Per row, the continuation of a copy under way (2+ draft tokens match the exemplar): the
            no-repeat ban lets it through, since a repeat the exemplar makes ("(UK 3-5) and M (UK 6-8)")
            is the brand's wording, not a loop. With the ban on, drafts broke off into "M (M 6-12)"."""
            drafts = input_ids[:, prompt_width:].tolist()
            return [continuations(t, d) if len(d) > 1 and tuple(d[-2:]) in t else set()
                    for t, d in zip(tables, drafts)]

        def __call__(self, input_ids, scores):
            drafts = input_ids[:, prompt_width:].tolist()
            for i, (table, draft) in enumerate(zip(tables, drafts)):
                if table and (nxt := continuations(table, draft)):
                    scores[i, list(nxt)] += bias
            return scores

    return ExemplarCopy()
