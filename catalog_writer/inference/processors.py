"""Logits processors that look only at the description being written, never at the prompt.

transformers' own `repetition_penalty` and `no_repeat_ngram_size` count the prompt's tokens too, so a
penalty meant to stop loops also pushes the model away from the very facts (materials, colours, names)
it should copy from the prompt. Here both see only the tokens after the prompt: with left padding every
row's prompt ends at the same column, the input width.
"""

from __future__ import annotations

from collections.abc import Iterable

from catalog_writer.inference.settings import GenerationSettings


def stop_token_ids(tokenizer, model_eos: int | list[int] | None) -> list[int]:
    """Stop at the end of the assistant turn (ChatML <|im_end|>) as well as at the model's EOS."""
    stops = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
    stops |= set(model_eos if isinstance(model_eos, list) else [model_eos])
    return sorted(i for i in stops if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)


def chunks(seq: list, size: int) -> Iterable[list]:
    """`seq` in consecutive slices of `size` (the batches of a decoding run)."""
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _no_repeat_class():
    from transformers import NoRepeatNGramLogitsProcessor

    class GeneratedNoRepeatNGram(NoRepeatNGramLogitsProcessor):
        """No n-gram repeated within the generated tokens (the prompt's n-grams stay allowed)."""

        def __init__(self, ngram_size: int, prompt_width: int, exempt=None) -> None:
            super().__init__(ngram_size)
            self.prompt_width = prompt_width
            self.exempt = exempt

        def __call__(self, input_ids, scores):
            keep = self.exempt(input_ids) if self.exempt else []
            before = scores.clone() if any(keep) else None
            scores = super().__call__(input_ids[:, self.prompt_width :], scores)
            for i, tokens in enumerate(keep):
                if tokens:
                    scores[i, list(tokens)] = before[i, list(tokens)]
            return scores

    return GeneratedNoRepeatNGram


def generated_only(settings: GenerationSettings, prompt_width: int, exempt=None):
    """A LogitsProcessorList with the settings' repetition controls, blind to the first `prompt_width`
    tokens; pass it to `generate` with the built-in `repetition_penalty` and `no_repeat_ngram_size` off.
    `exempt(input_ids)`: per row, tokens the n-gram ban lets through (copy guidance's, copying.py)."""
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty,
                                                           prompt_ignore_length=prompt_width))
    if settings.no_repeat_ngram_size > 0:
        processors.append(_no_repeat_class()(settings.no_repeat_ngram_size, prompt_width, exempt))
    return processors
