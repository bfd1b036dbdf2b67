"""Best-of-N and strict drafts: keep the candidate the claim checker likes best, drop unsupported sentences.

Sampling several candidates and keeping the most faithful one is a cheap way to fewer invented facts
(reranking by a faithfulness score, arXiv 2303.03278). The order is: fewest unsupported claims, then the
highest attribute coverage, then a non-empty text, then the first sampled. `strict` drops every sentence
with an unsupported claim (quality.claims) before a candidate is scored, so strict candidates compete on
what they keep. A reward model (`--reward`) replaces this order by its score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Checker:
    """The claim checker bound to one product: its facts, title, the brand's house phrases and the facts
    of the exemplars its prompt showed (for leakage)."""

    facts: dict
    title: str = ""
    house: Any = None
    exemplars: list[dict] | None = None

    @classmethod
    def for_record(cls, record: dict, house: Any = None) -> Checker:
        """A checker for a prepared test record (attributes, title, exemplars' facts)."""
        exemplars = record.get("exemplar_facts")
        if exemplars is None and record.get("exemplars"):
            exemplars = [{**e.get("facts", {}), "title": e.get("title", "")} for e in record["exemplars"]]
        return cls(record.get("attributes", {}), record.get("title", ""), house, exemplars)

    def flags(self, text: str) -> dict:
        """unsupported, missing, coverage and per-sentence claims (quality.metrics.faithfulness_flags)."""
        from catalog_writer.quality.metrics import faithfulness_flags

        return faithfulness_flags(text, self.facts, self.title, house=self.house, exemplars=self.exemplars)

    def final(self, text: str, strict: bool = False, contradictions: bool = False) -> str:
        """The text a draft becomes: `strict` drops every sentence with an unsupported claim,
        `contradictions` those with a claim that contradicts the facts; neither: as is."""
        if not (strict or contradictions):
            return text
        from catalog_writer.quality.claims import drop_unsupported_sentences

        return drop_unsupported_sentences(text, self.facts, self.title, self.house, self.exemplars,
                                          contradictions_only=not strict)


@dataclass
class Choice:
    """A kept candidate: its index among the candidates, its final text (strict applied), flags and,
    when a reward model ranked it, its reward."""

    index: int
    text: str
    flags: dict
    reward: float | None = None


def rank_key(choice: Choice) -> tuple:
    """Fewest unsupported claims, highest coverage, non-empty, first sampled."""
    unsupported, coverage = choice.flags.get("unsupported") or [], float(choice.flags.get("coverage") or 0.0)
    return len(unsupported), -coverage, not choice.text.strip(), choice.index


def pick(texts: list[str], checker: Checker, keep: int = 1, strict: bool = False,
         scorer: Callable[[list[str]], list[float]] | None = None, contradictions: bool = False) -> list[Choice]:
    """The `keep` best of `texts` (post-processed candidates), best first. With `scorer` (a reward model,
    inference/reward_scorer.py: final texts -> rewards) the highest reward wins instead, ties to the claim
    checker's order; the reward is also put in the flags."""
    choices = []
    for i, text in enumerate(texts):
        final = checker.final(text, strict, contradictions)
        choices.append(Choice(i, final, checker.flags(final)))
    if scorer is None:
        return sorted(choices, key=rank_key)[:keep]
    for choice, reward in zip(choices, scorer([c.text for c in choices])):
        choice.reward = round(float(reward), 4)
        choice.flags = {**choice.flags, "reward": choice.reward}
    return sorted(choices, key=lambda c: (-c.reward, rank_key(c)))[:keep]
