"""Decoding settings: the one home of every generation default, its meaning and its limits.

The CLI (`generate`, `evaluate`), the batch job, evaluation and the app's pickers read their defaults and
help texts from `GenerationSettings` (the help is each field's docstring), and every entry point calls
`validate()`, so a bad value ends as one line naming the command-line option.
"""

from __future__ import annotations

import ast
import inspect
import math
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.lengths import TOKENS_PER_WORD

DEFAULT_MAX_NEW_TOKENS = 160
"""Token budget when neither the settings, a word target nor the adapter's length profile give one."""
COPY_BIAS_TEMPLATED, COPY_BIAS_UNIQUE = 8.0, 2.0
"""Default copy guidance for a voice whose descriptions repeat each other, and for one whose do not.
8 chosen on the demo's validation split (ROUGE-L 0.571 at 4, 0.588 at 8, 0.588 at 12 and 16). On Luma,
40-step adapter, 8 / 4 / 2 gave ROUGE-L 0.221 / 0.214 / 0.229 on val and 0.220 / 0.233 / 0.235 on test (0 on
test: 0.205), with 80% / 33% / 0% (val) and 82% / 41% / 5% (test) of drafts near copies of a published
description; the references: 0%."""
TEMPLATED_SIMILARITY = 0.15
"""A voice is templated when its training descriptions share, on average, at least this much with their
most similar sibling (3-word-shingle Jaccard, `prepare` saves it): Fernhill demo 0.32, Luma 0.05."""
STRICT_AUTO_SHARE = 0.25
"""`--strict` is on by default when at most this share of the voice's own reference sentences make a claim
the claim checker finds unsupported. There the checker's flags mark what a draft invents, and dropping
them cost the demo no ROUGE-L (val 0.584 -> 0.610, test 0.521 -> 0.520); where most of the brand's own
sentences are flagged (Luma 65%), the facts lack what the brand writes about, and strict cut drafts from 56
to 26 words and ROUGE-L from 0.220 to 0.148. Two catalogues, far apart: the cut is placed between them."""
TARGET_HEADROOM = 1.5
"""A word target allows 1.5x its words, so the last sentence can finish before the budget cuts it."""


def _opt(name: str) -> dict:
    return {"option": name}


@dataclass
class GenerationSettings:
    """How descriptions are decoded. Field docstrings are the CLI's and the app's help texts."""

    max_new_tokens: int | None = field(default=None, metadata=_opt("--max-new-tokens"))
    """Most new tokens per description (default: the budget saved with the adapter from its training
    descriptions' lengths, else a word target's budget, else 160)."""
    do_sample: bool = field(default=False, metadata=_opt("--sample"))
    """Sample instead of greedy decoding (variants and best-of imply it)."""
    temperature: float = field(default=0.7, metadata=_opt("--temperature"))
    """Sampling temperature, above 0 (ignored by greedy decoding)."""
    top_p: float = field(default=0.9, metadata=_opt("--top-p"))
    """Nucleus sampling: keep the most likely tokens up to this total probability (0 < p <= 1)."""
    repetition_penalty: float = field(default=1.0, metadata=_opt("--repetition-penalty"))
    """Penalty on tokens the description already used, 1.0 = off (prompt tokens are never penalised, so
    the product's facts can be copied)."""
    no_repeat_ngram_size: int = field(default=3, metadata=_opt("--no-repeat-ngram-size"))
    """Forbid repeating any run of this many tokens within the description, 0 = off (the prompt does not
    count). The default against loops: on the demo it beat a 1.1 repetition penalty on ROUGE-L, coverage
    and unsupported claims (bench/decoding.py)."""
    copy_bias: float | None = field(default=None, metadata=_opt("--copy-bias"))
    """Lean towards the exemplar's wording: add this to the logit of the token that continues the shown
    exemplar description (its facts swapped for the product's) where the draft matches it (0 = off; the
    exemplar's own facts stay banned). The token budget then covers the shown exemplar's length. Default: 8
    for a voice whose descriptions repeat each other (a house template: Fernhill demo), 2 for one that writes
    each product anew (Luma), where 8 made 82% of drafts near copies of a published page."""
    num_variants: int = field(default=1, metadata=_opt("--variants"))
    """Descriptions per product (more than one implies sampling)."""
    best_of: int = field(default=1, metadata=_opt("--best-of"))
    """Sample this many candidates per description and keep the one with the fewest unsupported claims,
    then the highest attribute coverage."""
    strict: bool | None = field(default=None, metadata=_opt("--strict/--no-strict"))
    """Drop every sentence that makes a claim the product's facts do not support. Default: on for a voice
    whose own descriptions mostly pass the claim checker (at most 25% of their sentences make a claim their
    facts do not back, as `prepare` measured; Fernhill demo 14%: on), off where the checker flags most of
    them (Luma 65%: the facts lack what the brand writes about, and strict would halve its copy)."""
    drop_contradictions: bool = field(default=True, metadata=_opt("--drop-contradictions/--keep-contradictions"))
    """Drop every sentence that contradicts the product's recorded facts: a colour, material or size where
    its facts list its own, or a value of the exemplar's facts it lacks. Such a sentence is wrong, not merely
    unrecorded, so this is on whatever --strict says (strict drops every unsupported claim)."""
    seed: int = field(default=0, metadata=_opt("--seed"))
    """Random seed for sampling (each batch is seeded by its content, so re-runs reproduce it)."""
    target_words: int | None = field(default=None, metadata=_opt("--target-words"))
    """Target length in words: asked for in the prompt, and it sets the token budget."""
    batch_size: int = field(default=32, metadata=_opt("--batch-size"))
    """Products decoded together (32 suits a 2-core CPU)."""
    min_new_tokens: int = field(default=0, metadata=_opt("min_new_tokens"))
    """Force at least this many new tokens (benchmarks use it so every system does equal work)."""

    @property
    def sampling(self) -> bool:
        """True when decoding samples: asked for, or implied by variants or best-of."""
        return self.do_sample or self.num_variants > 1 or self.best_of > 1

    @property
    def candidates(self) -> int:
        """Sequences decoded per prompt: every variant is the best of `best_of` samples."""
        return self.num_variants * self.best_of

    def budget(self, length: dict | None = None) -> int:
        """New-token budget: explicit, else from a word target, else the adapter's profile, else 160.

        `length` is the profile `prepare` saves in template.json (`dataset.lengths.length_profile`).
        """
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        if self.target_words:
            return math.ceil(self.target_words * TARGET_HEADROOM * TOKENS_PER_WORD)
        if length and length.get("max_new_tokens"):
            return int(length["max_new_tokens"])
        return DEFAULT_MAX_NEW_TOKENS

    def validate(self) -> GenerationSettings:
        """Raise CatalogWriterError naming the option of the first value out of range; return self."""
        def bad(name: str, rule: str) -> CatalogWriterError:
            return CatalogWriterError(f"{option(name)} {rule} (got {getattr(self, name)})")

        for name in ("max_new_tokens", "batch_size", "num_variants", "best_of", "target_words"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise bad(name, "must be a whole number of at least 1")
        if self.sampling and not self.temperature > 0:
            raise bad("temperature", "must be above 0 when sampling (--sample, --variants or --best-of "
                                     "above 1); greedy decoding needs no temperature")
        if not 0 < self.top_p <= 1:
            raise bad("top_p", "must be above 0 and at most 1")
        if not self.repetition_penalty > 0:
            raise bad("repetition_penalty", "must be above 0 (1.0 turns it off)")
        if self.copy_bias is not None and not 0 <= self.copy_bias <= 20:
            raise bad("copy_bias", "must be between 0 (off) and 20")
        if self.no_repeat_ngram_size < 0:
            raise bad("no_repeat_ngram_size", "must be 0 (off) or more")
        if self.min_new_tokens < 0:
            raise bad("min_new_tokens", "must be 0 or more")
        return self

    def strict_for(self, unsupported_share: float | None) -> bool:
        """`strict` as applied: as set, else on when the voice's reference sentences with an unsupported
        claim (`unsupported_share`, saved by `prepare` in the template) are at most STRICT_AUTO_SHARE."""
        if self.strict is not None:
            return self.strict
        return unsupported_share is not None and unsupported_share <= STRICT_AUTO_SHARE

    def copy_bias_for(self, self_similarity: float | None) -> float:
        """`copy_bias` as applied: as set, else by how much the voice's descriptions repeat each other
        (`self_similarity`, saved by `prepare`; unknown: the templated default, as before it was measured)."""
        if self.copy_bias is not None:
            return self.copy_bias
        unique = self_similarity is not None and self_similarity < TEMPLATED_SIMILARITY
        return COPY_BIAS_UNIQUE if unique else COPY_BIAS_TEMPLATED

    def effective(self, length: dict | None = None, unsupported_share: float | None = None,
                  self_similarity: float | None = None) -> GenerationSettings:
        """Settings as actually applied (validated): sampling when implied; the token budget, strict and
        copy guidance resolved from the voice's profile (`length`, `unsupported_share`, `self_similarity`:
        what `prepare` saved in the template; see `for_template`)."""
        self.validate()
        s = replace(self, do_sample=self.sampling, max_new_tokens=self.budget(length),
                    strict=self.strict_for(unsupported_share), copy_bias=self.copy_bias_for(self_similarity))
        s.min_new_tokens = min(s.min_new_tokens, s.max_new_tokens)
        return s

    def for_template(self, template) -> GenerationSettings:
        """`effective` with the voice profile a prompt template carries (None: the defaults)."""
        return self.effective(getattr(template, "length", None),
                              getattr(template, "reference_unsupported_share", None),
                              getattr(template, "reference_self_similarity", None))

    def cli_args(self) -> list[str]:
        """`generate` options that reproduce these settings (only those that differ from the defaults)."""
        default, args = GenerationSettings(), []
        for f in fields(self):
            value, option = getattr(self, f.name), f.metadata["option"]
            if value == getattr(default, f.name) or not option.startswith("--"):
                continue
            if isinstance(value, bool):  # "--strict/--no-strict": a flag pair
                args.append(option.split("/")[0 if value else 1])
            else:
                args += [option, str(value)]
        return args


def option(name: str) -> str:
    """The command-line option of a settings field ("num_variants" -> "--variants")."""
    return next(f.metadata["option"] for f in fields(GenerationSettings) if f.name == name).split("/")[0]


@lru_cache(maxsize=1)
def _docs() -> dict[str, str]:
    """Field docstrings of GenerationSettings, read from its source (Python keeps no attribute docs)."""
    body = ast.parse(inspect.getsource(GenerationSettings)).body[0].body
    docs = {}
    for node, doc in zip(body, body[1:]):
        is_doc = isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
        if isinstance(node, ast.AnnAssign) and is_doc:
            docs[node.target.id] = " ".join(str(doc.value.value).split())
    return docs


def describe(name: str) -> str:
    """Help text of a settings field (its docstring)."""
    return _docs()[name]
