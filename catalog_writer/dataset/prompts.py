"""The prompt a product becomes: a saved, versioned template that renders facts deterministically.

A dataset, an adapter and a generation run all carry the same `template.json`, so the prompt a model was
trained on is reproduced exactly at generation time. Lengths are budgeted with `count_tokens`, a
tokenizer-independent estimate (see there), so rendering never depends on which model is loaded.
"""

from __future__ import annotations

import math
import re
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import read_json_object, write_json_atomic

if TYPE_CHECKING:
    from catalog_writer.ingest.catalog import Product

TEMPLATE_VERSION = 2
"""2: exemplars (retrieve-and-edit) and length buckets; a v1 reader would silently drop them."""

# Word pieces: runs of up to 6 letters, up to 3 digits, or one other visible character. Real BPE
# vocabularies split English text into pieces of roughly this size (SmolLM2's tokenizer: 1.06 tokens per
# piece over the demo catalog's prompts and descriptions, 0.8-1.3 per text), and a regex gives the same
# count on every machine and library version, so a saved template always renders the same prompt.
_PIECE = re.compile(r"[^\W\d_]{1,6}|\d{1,3}|[^\w\s]|_")
_SPACE = re.compile(r"\s+")

DEFAULT_PRIORITY = [
    "material", "fabric", "composition", "colour", "color", "size", "fit", "pattern", "style", "scent",
    "capacity", "dimensions", "weight", "features", "care", "origin",
]
"""Attribute names (case-insensitive) rendered first, in this order; the rest follow alphabetically."""


def count_tokens(text: str) -> int:
    """Deterministic token estimate: the number of regex word pieces in `text`."""
    return len(_PIECE.findall(text))


def truncate_tokens(text: str, budget: int) -> str:
    """Cut `text` after its first `budget` word pieces, marking the cut with an ellipsis."""
    if budget <= 0:
        return ""
    for i, m in enumerate(_PIECE.finditer(text), start=1):
        if i == budget:
            rest = text[m.end():]
            return text if not _PIECE.search(rest) else text[: m.end()].rstrip() + "…"
    return text


def clean_value(value: object) -> str:
    """Plain one-line text: whitespace (newlines included) collapsed, ends trimmed."""
    return _SPACE.sub(" ", str(value)).strip()


def product_facts(product: Product) -> dict[str, str]:
    """Flattened facts of a product: brand, category path, attributes, then options (values joined ", ").

    Empty values are dropped; an option replaces an attribute of the same name (case-insensitive),
    because the option lists what is actually sold.
    """
    facts: dict[str, str] = {}
    if clean_value(product.brand):
        facts["Brand"] = clean_value(product.brand)
    category = [clean_value(c) for c in product.category if clean_value(c)]
    if category:
        facts["Category"] = " > ".join(category)
    option_names = {k.casefold() for k, v in product.options.items() if any(clean_value(x) for x in v)}
    for name, value in product.attributes.items():
        name, value = clean_value(name), clean_value(value)
        if name and value and name.casefold() not in option_names and name not in facts:
            facts[name] = value
    for name, values in product.options.items():
        joined = ", ".join(v for v in (clean_value(x) for x in values) if v)
        if clean_value(name) and joined:
            facts[clean_value(name)] = joined
    return facts


@dataclass
class Exemplar:
    """A described product of the same brand, shown in a prompt as an example of the house voice."""

    id: str
    title: str
    facts: dict[str, str]
    description: str
    group: str = ""
    """Split group (shared Product.group or near-duplicate descriptions): never an exemplar for its own."""
    split: str = ""
    """train / val / test in the prepared data: training prompts only see train exemplars."""

    @property
    def brand(self) -> str:
        return self.facts.get("Brand", "")

    @property
    def words(self) -> int:
        return len(self.description.split())


@dataclass
class PromptTemplate:
    """How a product's facts become chat messages. Saved as `template.json` next to data and adapters."""

    system: str = (
        "You write product descriptions for an online shop. Use only the facts given; never invent "
        "materials, sizes, colours, certifications or claims."
    )
    """System message, the same for every product."""
    instruction: str = "Write the product description for this product."
    """First line of the user message."""
    voice: str | None = None
    """Default brand-voice name put into the instruction (None: no voice line)."""
    target_words: int | None = None
    """Default target length in words (None: no length line)."""
    max_value_tokens: int = 48
    """Budget per fact value, in `count_tokens` pieces; longer values are cut with an ellipsis."""
    max_prompt_tokens: int = 384
    """Budget for system + user message together; facts that do not fit are left out, least important
    first."""
    voice_line: str = "Write in the voice of {voice}."
    """Appended to the instruction when a voice is given."""
    length_line: str = "Aim for about {words} words."
    """Appended to the instruction when a target length is given."""
    title_label: str = "Product"
    """Label of the title line in the facts block."""
    priority: list[str] = field(default_factory=lambda: list(DEFAULT_PRIORITY))
    """Attribute names rendered first, in this order (case-insensitive); others follow alphabetically."""
    exemplars_k: int = 0
    """Similar described products of the brand shown before the product (retrieve-and-edit); 0 = none."""
    exemplar_consensus: int = 0
    """Generation (and val/test prompts): of the best this many BM25 candidates, show first the one whose
    description, with the product's facts swapped in, is most like the others' (retrieval.py); 0 = off."""
    exemplar_budget: int = 320
    """Budget for all exemplar blocks together, in `count_tokens` pieces; descriptions are cut to fit."""
    exemplar_line: str = "A description the shop wrote for another product (its facts are not this product's):"
    """Heading of each exemplar block."""
    product_line: str = "Now describe this product, using only its own facts:"
    """Heading of the product's own facts when exemplars are shown."""
    exemplar_source: str | None = None
    """Exemplar corpus (JSONL written by `prepare`), relative to this template's folder."""
    exemplar_sha256: str | None = None
    """sha256 of the exemplar corpus: generation refuses a different file (the prompts would differ)."""
    length_buckets: list[int] = field(default_factory=list)
    """Word targets the length line snaps to; training prompts carry their reference's bucket. [] = no
    snapping."""
    default_words: int | None = None
    """The brand's median reference length: the length line when neither a word target nor exemplars give
    one (`prepare` sets it together with length buckets)."""
    length: dict | None = None
    """Word counts of the training descriptions and the token budget generation uses by default
    (`dataset.lengths.length_profile`; None: the generation default)."""
    reference_unsupported_share: float | None = None
    """Share of the training descriptions' sentences with a claim their facts do not back (`prepare`'s
    claim check); generation turns `--strict` on by default when it is low (inference/settings.py).
    None: not measured (older templates), strict off unless asked for."""
    reference_self_similarity: float | None = None
    """How much the training descriptions repeat each other: the mean over descriptions of the 3-word-shingle
    Jaccard with the most similar other one (`prepare`). Generation's default copy guidance follows it
    (inference/settings.py). None: not measured (older templates)."""
    version: int = TEMPLATE_VERSION
    """Template format version; loading a newer one is refused."""

    def order_facts(self, facts: dict[str, str]) -> list[tuple[str, str]]:
        """Brand, Category, attributes by priority then name, then the rest in given order (options)."""
        rank = {name.casefold(): i for i, name in enumerate(self.priority)}
        head = [(k, facts[k]) for k in ("Brand", "Category") if k in facts]
        rest = [(k, v) for k, v in facts.items() if k not in ("Brand", "Category")]
        known = [kv for kv in rest if kv[0].casefold() in rank]
        ranked = sorted(known, key=lambda kv: rank[kv[0].casefold()])
        others = sorted((kv for kv in rest if kv[0].casefold() not in rank), key=lambda kv: kv[0].casefold())
        return head + ranked + others

    def snap_words(self, words: float) -> int:
        """The length bucket nearest to `words` (on a log scale); `words` itself without buckets."""
        if not self.length_buckets or words <= 0:
            return int(words)
        return min(self.length_buckets, key=lambda b: (abs(math.log(b / words)), b))

    def instruction_text(self, voice: str | None = None, target_words: int | None = None) -> str:
        voice = voice if voice is not None else self.voice
        words = target_words if target_words is not None else self.target_words
        words = self.snap_words(words) if words else words
        parts = [self.instruction]
        if voice:
            # "Fernhill & Co." must not end the sentence with two full stops.
            parts.append(self.voice_line.format(voice=clean_value(voice)).replace("..", "."))
        if words:
            parts.append(self.length_line.format(words=int(words)))
        return " ".join(parts)

    def _title_line(self, title: str) -> str:
        return f"{self.title_label}: {truncate_tokens(clean_value(title), self.max_value_tokens)}"

    def _fact_lines(self, facts: dict[str, str], budget: int, skip: tuple[str, ...] = ()) -> list[str]:
        """"Name: value" lines in order while they fit `budget`, so the least important are left out."""
        kept = []
        for k, v in self.order_facts(facts):
            if not (clean_value(k) and clean_value(v)) or k in skip:
                continue
            line = f"{clean_value(k)}: {truncate_tokens(clean_value(v), self.max_value_tokens)}"
            if (cost := count_tokens(line)) <= budget:
                kept.append(line)
                budget -= cost
        return kept

    def exemplar_blocks(self, exemplars: list[Exemplar]) -> list[str]:
        """One block per shown exemplar (heading, title, facts, description), all within exemplar_budget."""
        shown = exemplars[: self.exemplars_k]
        blocks = []
        for ex in shown:
            head = [self.exemplar_line, self._title_line(ex.title)]
            budget = self.exemplar_budget // len(shown) - sum(count_tokens(t) for t in head)
            # Facts get at most a third: the voice to learn is in the description. Brand is the same for all.
            facts = self._fact_lines(ex.facts, budget // 3, skip=("Brand",))
            budget -= sum(count_tokens(t) for t in facts) + 1  # +1: the ellipsis of a cut description
            if budget > 0:
                blocks.append("\n".join(head + facts + [truncate_tokens(ex.description.strip(), budget)]))
        return blocks

    def messages_from_facts(
        self, title: str, facts: dict[str, str], voice: str | None = None, target_words: int | None = None,
        exemplars: list[Exemplar] | None = None,
    ) -> list[dict]:
        """System + user messages for a title and a facts dict (e.g. edited in the UI).

        With exemplars (and exemplars_k > 0) the user message shows them first, then the product's own
        facts; without a word target the length line then follows the exemplars' median length.
        """
        blocks = self.exemplar_blocks(exemplars or [])
        if target_words is None and self.target_words is None and self.length_buckets:
            # Generation and evaluation: the exemplars' length, else the brand's (training passes its own).
            target_words = (round(statistics.median(ex.words for ex in exemplars[: len(blocks)])) if blocks
                            else self.default_words)
        header = self.instruction_text(voice, target_words)
        lines = [self._title_line(title)]
        if blocks:
            lines.insert(0, self.product_line)
        # The title always stays; facts fill what is left of the prompt budget, exemplars have their own.
        budget = self.max_prompt_tokens - sum(count_tokens(t) for t in (self.system, header, *lines))
        body = "\n".join(lines + self._fact_lines(facts, budget))
        user = "\n\n".join([header, *blocks, body])
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def strip_echo(self, text: str) -> str:
        """A draft without the prompt's structure a small model sometimes goes on to write: everything from
        a heading ("Now describe this product...") on, and fact lines ("Product: ...", "Brand: ...")."""
        cut = min((i for head in (self.product_line, self.exemplar_line) if (i := text.find(head[:24])) >= 0),
                  default=len(text))
        labels = (f"{self.title_label}:", "Brand:", "Category:", "Tags:")
        lines = [line for line in text[:cut].split("\n") if not line.strip().startswith(labels)]
        return "\n".join(lines).strip()

    def messages(
        self, product: Product, voice: str | None = None, target_words: int | None = None,
        exemplars: list[Exemplar] | None = None,
    ) -> list[dict]:
        """Chat messages (system + user, no assistant turn) describing `product`."""
        return self.messages_from_facts(product.title, product_facts(product), voice, target_words, exemplars)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PromptTemplate:
        version = int(d.get("version", TEMPLATE_VERSION))
        if version > TEMPLATE_VERSION:
            raise CatalogWriterError(
                f"prompt template version {version} is newer than this catalog-writer understands "
                f"({TEMPLATE_VERSION}); upgrade catalog-writer"
            )
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def save(self, path: str | Path) -> Path:
        """Write the template as JSON, atomically (temp file in the same folder, then replace)."""
        return write_json_atomic(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> PromptTemplate:
        path = Path(path)
        if path.is_dir():
            path = path / "template.json"
        data = read_json_object(path, "template.json")
        defaults = cls()
        for f in fields(cls):  # a hand-edited or corrupt file fails here, naming the field, not mid-generation
            value, default = data.get(f.name), getattr(defaults, f.name)
            if value is not None and default is not None and not isinstance(value, type(default)):
                raise CatalogWriterError(f"not a valid template.json: {f.name!r} must be "
                                         f"{type(default).__name__}, not {type(value).__name__}", file=path)
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:
            raise CatalogWriterError(f"not a valid template.json ({e})", file=path) from None
