"""Decoding guard for retrieve-and-edit: never copy an exemplar's facts into another product's copy.

A prompt that shows a similar product teaches the voice, but a small model also copies that product's
facts ("Merino wool" for a recycled wool blend, another product's name). `dataset.retrieval.leak_terms`
lists the words of the exemplars' titles and fact values that the product's own facts lack; this
processor bans their token sequences per batch row, using transformers' own SequenceBiasLogitsProcessor
(a -inf bias on the last token of each sequence when the rest has just been generated).
"""

from __future__ import annotations

BAN = float("-inf")


def word_variants(word: str) -> list[str]:
    """How a word appears mid-sentence, capitalised mid-sentence and at the start of a line."""
    variants = [f" {word}", f" {word.capitalize()}", word.capitalize()]
    if word.isdigit():
        variants = [f" {word}", word]
    return list(dict.fromkeys(variants))


def token_sequences(tokenizer, words: list[str]) -> list[tuple[int, ...]]:
    """Distinct token-id sequences of every variant of `words`."""
    seqs: dict[tuple[int, ...], None] = {}
    for w in words:
        for v in word_variants(w):
            ids = tuple(tokenizer(v, add_special_tokens=False)["input_ids"])
            if ids:
                seqs[ids] = None
    return list(seqs)


def leakage_processor(tokenizer, avoid: list[list[str]], num_variants: int = 1, bias: float = BAN):
    """A LogitsProcessor banning (bias -inf) or penalising each row's words; None when nothing to avoid.

    `avoid[i]` belongs to prompt i; with num_variants > 1 generate() repeats each prompt's row that often.
    """
    from transformers import LogitsProcessor, SequenceBiasLogitsProcessor

    rows = [token_sequences(tokenizer, words) for words in avoid for _ in range(num_variants)]
    if not any(rows):
        return None

    class ExemplarLeakage(LogitsProcessor):
        """Per-row sequence bias: each product bans its own exemplars' facts only."""

        def __init__(self) -> None:
            self.rows = [SequenceBiasLogitsProcessor({seq: bias for seq in seqs}) if seqs else None
                         for seqs in rows]

        def __call__(self, input_ids, scores):
            for i, proc in enumerate(self.rows):
                if proc is not None:
                    scores[i : i + 1] = proc(input_ids[i : i + 1], scores[i : i + 1])
            return scores

    return ExemplarLeakage()
