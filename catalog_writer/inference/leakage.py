"""Decoding guard for retrieve-and-edit: never copy an exemplar's facts into another product's copy.

A prompt that shows a similar product teaches the voice, but a small model also copies that product's
facts ("Merino wool" for a recycled wool blend, another product's name). `dataset.retrieval.leak_terms`
lists the words of the exemplars' titles and fact values that the product's own facts lack; this
processor bans their token sequences per batch row, using transformers' own SequenceBiasLogitsProcessor
(a -inf bias on the last token of each sequence when the rest has just been generated).
"""

from __future__ import annotations

BAN = float("-inf")
PREFIX_PENALTY = -4.0
"""Bias on the first token of a banned multi-token word (3+ letters): banning only its last token lets the
model swerve into a misspelling ("Charcoale"); a penalty, not a ban, as other words share the prefix."""


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


def _biases(tokenizer, seqs: list[tuple[int, ...]], bias: float) -> dict[tuple[int, ...], float]:
    """The ban on each whole sequence, and a penalty on the first token of long words (see PREFIX_PENALTY)."""
    out = {seq: bias for seq in seqs}
    for seq in seqs:
        if len(seq) > 1 and seq[:1] not in out and len(tokenizer.decode(seq[:1]).strip()) >= 3:
            out[seq[:1]] = PREFIX_PENALTY
    return out


def leakage_processor(tokenizer, avoid: list[list[str]], num_variants: int = 1, bias: float = BAN):
    """A LogitsProcessor banning (bias -inf) or penalising each row's words; None when nothing to avoid.

    `avoid[i]` belongs to prompt i; with num_variants > 1 generate() repeats each prompt's row that often.
    """
    from transformers import LogitsProcessor, SequenceBiasLogitsProcessor

    rows = [_biases(tokenizer, token_sequences(tokenizer, words), bias) for words in avoid
            for _ in range(num_variants)]
    if not any(rows):
        return None

    class ExemplarLeakage(LogitsProcessor):
        """Per-row sequence bias: each product bans its own exemplars' facts only."""

        def __init__(self) -> None:
            self.rows = [SequenceBiasLogitsProcessor(biases) if biases else None for biases in rows]

        def __call__(self, input_ids, scores):
            for i, proc in enumerate(self.rows):
                if proc is not None:
                    scores[i : i + 1] = proc(input_ids[i : i + 1], scores[i : i + 1])
            return scores

    return ExemplarLeakage()
