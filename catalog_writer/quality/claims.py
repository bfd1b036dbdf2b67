"""Sentence-level claim checker: which sentences of a draft say things the product's facts do not back.

Each sentence is scanned for claims of these kinds, and a claim is kept only when neither the facts, the
title, the brand's house phrases (voice, see house.py) nor, for leakage, the product itself back it:

number        digits or number words, with their unit ("forty hours", "350 g", "since 1998")
size          letter sizes and size phrases ("XL", "one size")
material      materials and material phrases ("soy wax", "silk")
colour        colour words, and shade names in a colour context ("in sage, olive or oatmeal")
scent         scent notes next to a scent cue ("notes of cedarwood")
certification certifications and eco claims ("OEKO-TEX certified", "organic")
origin        "Made in Portugal", "Italian leather" when the facts name another place
care          care instructions and frequencies ("machine washable", "wash once a year")
warranty      warranties, guarantees, returns
provenance    who made it and how ("designed by a local craftswoman", "hand-poured")
content       features, technical properties and names ("zip pockets", "waterproof", "Ghilly's cottage")
leakage       a value of an exemplar's facts that this product does not have

Phrase claims (care, provenance, certification, ...) are backed when all their key words occur in one
fact value or the title, so "Hand wash cold" backs "hand wash it in cold water" but not "made by hand".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from catalog_writer.quality import detectors
from catalog_writer.quality.house import HousePhrases
from catalog_writer.quality.text import BULLET, LINE, split_sentences
from catalog_writer.quality.support import Support

KINDS = ("number", "size", "material", "colour", "scent", "certification", "origin", "care", "warranty",
         "provenance", "content", "leakage")
HOUSE_EXEMPT = {"provenance", "content"}
"""Kinds that a house phrase turns into voice; numbers, materials, care and the rest stay claims."""

@dataclass(frozen=True)
class Claim:
    """One unsupported claim: its kind, the words as written, and where they are in the sentence."""

    kind: str
    text: str
    start: int
    end: int


@dataclass
class SentenceCheck:
    """One sentence of a draft with its offsets in the whole text and its unsupported claims."""

    text: str
    start: int
    end: int
    claims: list[Claim] = field(default_factory=list)

    @property
    def supported(self) -> bool:
        return not self.claims

    def to_dict(self) -> dict:
        return {"text": self.text, "start": self.start, "end": self.end,
                "claims": [{"kind": c.kind, "text": c.text} for c in self.claims]}


def _merge(claims: list[Claim], sentence: str) -> list[Claim]:
    """Overlapping claims become one (leakage wins, then the earlier); adjacent ones of a kind are joined."""
    rank = {k: i for i, k in enumerate(("leakage",) + tuple(k for k in KINDS if k != "leakage"))}
    claims = sorted(claims, key=lambda c: (c.start, rank[c.kind], -c.end))
    out: list[Claim] = []
    for c in claims:
        if out and c.start < out[-1].end:
            last = out[-1]
            if rank[c.kind] < rank[last.kind]:
                last = Claim(c.kind, last.text, last.start, last.end)
            end = max(last.end, c.end)
            out[-1] = Claim(last.kind, sentence[last.start:end], last.start, end)
        elif out and out[-1].kind == c.kind and not sentence[out[-1].end : c.start].strip():
            out[-1] = Claim(c.kind, sentence[out[-1].start : c.end], out[-1].start, c.end)
        else:
            out.append(c)
    return out


def check(text: str, facts: dict, title: str = "", house: HousePhrases | None = None,
          exemplars: list[dict] | None = None) -> list[SentenceCheck]:
    """Every sentence of `text` with its unsupported claims (empty list: supported).

    `exemplars` are the facts of the products shown in the prompt (optionally with a "title" key): a value
    they have and this product does not, found in the text, is a leakage claim.
    """
    support = Support(facts, title, exemplars)
    out = []
    for start, end in split_sentences(text):
        sentence = text[start:end]
        found = [Claim(kind, sentence[a:b], a, b) for kind, a, b in detectors.find(sentence, support, house)]
        if house is not None and found:
            voice = detectors.house_chars(sentence, house)
            found = [c for c in found if not (c.kind in HOUSE_EXEMPT and set(range(c.start, c.end)) <= voice)]
        out.append(SentenceCheck(sentence, start, end, _merge(found, sentence)))
    return _names_everywhere(out)


def _names_everywhere(checks: list[SentenceCheck]) -> list[SentenceCheck]:
    """A word flagged as a name in one sentence is a name wherever the draft repeats it, sentence-initial
    included ("The Spartakos is..." then "Spartakos is..."), where capitals alone say nothing."""
    names = {c.text for s in checks for c in s.claims
             if c.kind == "content" and c.text[:1].isupper() and c.text.replace("-", "").isalpha()}
    if not names:
        return checks
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, sorted(names))) + r")(?![\w-])")
    for s in checks:
        extra = [Claim("content", m.group(), m.start(), m.end()) for m in pattern.finditer(s.text)
                 if not any(c.start <= m.start() < c.end for c in s.claims)]
        if extra:
            s.claims = _merge(s.claims + extra, s.text)
    return checks


def unsupported_claims(text: str, facts: dict, title: str = "", house: HousePhrases | None = None,
                       exemplars: list[dict] | None = None) -> list[str]:
    """The unsupported claims of `text` as written, in order, each once."""
    seen: list[str] = []
    for s in check(text, facts, title, house, exemplars):
        seen += [c.text for c in s.claims if c.text not in seen]
    return seen


RECORDED = {"colour": ("colour", "color"), "material": ("material", "fabric"), "size": ("size",)}
"""Claim kinds a catalogue records as facts (kind -> words of the fact names that record it)."""


def contradicts(claim: Claim, facts: dict) -> bool:
    """Whether an unsupported claim contradicts the facts rather than going beyond them: a value of the
    exemplar's facts the product lacks, or a colour, material or size where the product's facts list its
    own (a "Cream" sweatshirt whose colours are Blue, Green, Red is wrong, not merely unrecorded)."""
    if claim.kind == "leakage":
        return True
    names = RECORDED.get(claim.kind, ())
    return any(n in str(key).casefold() for key in facts for n in names)


def drop_unsupported_sentences(text: str, facts: dict, title: str = "", house: HousePhrases | None = None,
                               exemplars: list[dict] | None = None, contradictions_only: bool = False) -> str:
    """`text` without its sentences that carry an unsupported claim (`contradictions_only`: a claim that
    contradicts the facts, see `contradicts`); line and paragraph breaks kept, bullets whose only sentence
    went are removed with their marker."""
    checks = check(text, facts, title, house, exemplars)
    drop = [(s.start, s.end) for s in checks
            if any(not contradictions_only or contradicts(c, facts) for c in s.claims)]
    if not drop:
        return text
    lines = []
    for line in LINE.finditer(text):
        a, b = line.span()
        inside = [(s, e) for s, e in drop if a <= s < b]
        keep = [(s.start, s.end) for s in checks if a <= s.start < b and (s.start, s.end) not in drop]
        if not inside:
            lines.append((a, line.group()))
        elif keep:
            bullet = BULLET.match(line.group())  # the marker only, never a dropped sentence before a kept one
            lines.append((a, (bullet.group() if bullet else "") + " ".join(text[s:e] for s, e in keep)))
    # rebuild keeping blank-line paragraph breaks between the surviving lines
    out, prev_end = [], None
    for a, content in lines:
        if prev_end is not None:
            out.append("\n\n" if "\n\n" in text[prev_end:a] else "\n")
        out.append(content)
        prev_end = a + len(text[a:].split("\n", 1)[0])
    return "".join(out).strip()


def claims_as_dicts(checks: list[SentenceCheck]) -> list[dict]:
    """JSON-ready per-sentence results (for flags, reports and the Write page)."""
    return [s.to_dict() for s in checks]


__all__ = ["KINDS", "Claim", "SentenceCheck", "check", "claims_as_dicts", "drop_unsupported_sentences",
           "split_sentences", "unsupported_claims"]
