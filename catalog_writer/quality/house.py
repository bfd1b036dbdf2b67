"""A brand's house phrases: word n-grams that recur across many of its own descriptions.

"by people we know by name" or "Made slowly, kept for years" in a fifth of a brand's descriptions is its
voice, not a claim about one product, so the claim checker does not flag provenance or content claims
that lie inside one. Learned from the training split by `prepare` and saved beside it
(`house_phrases.json`). Two-word phrases are not learned: "relaxed fit" recurring in a catalog is a
template slot whose value varies per product, not voice.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from catalog_writer.quality.text import split_sentences
from catalog_writer.quality.text import stems

HOUSE_FILE = "house_phrases.json"
MIN_N, MAX_N = 3, 6
MIN_SHARE = 0.08
"""A phrase is house voice when at least this share of the brand's descriptions use it..."""
MIN_COUNT = 3
"""...and at least this many."""
_NAME = re.compile(r"\b[A-Z][\w'’-]*")


@dataclass
class HousePhrases:
    """Stemmed word n-grams (MIN_N..MAX_N words) that recur in a brand's descriptions."""

    phrases: set[tuple[str, ...]] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    """Capitalised words inside sentences that recur as often (the brand's own name, a range name)."""
    documents: int = 0
    min_share: float = MIN_SHARE

    @classmethod
    def learn(cls, descriptions: list[str], min_share: float = MIN_SHARE,
              min_count: int = MIN_COUNT) -> HousePhrases:
        """Every n-gram in at least max(min_count, min_share * len(descriptions)) descriptions."""
        df: Counter[tuple[str, ...]] = Counter()
        names: Counter[str] = Counter()
        for text in descriptions:
            s = stems(text)
            df.update({tuple(s[i : i + n]) for n in range(MIN_N, MAX_N + 1) for i in range(len(s) - n + 1)})
            names.update({w for a, b in split_sentences(text) for w in _NAME.findall(text[a:b])[1:]})
        need = max(min_count, min_share * len(descriptions))
        return cls({g for g, c in df.items() if c >= need}, {w for w, c in names.items() if c >= need},
                   len(descriptions), min_share)

    def spans(self, sentence_stems: list[str]) -> list[tuple[int, int]]:
        """Word-index ranges [i, j) of the sentence covered by a house phrase."""
        out = []
        for n in range(MIN_N, MAX_N + 1):
            for i in range(len(sentence_stems) - n + 1):
                if tuple(sentence_stems[i : i + n]) in self.phrases:
                    out.append((i, i + n))
        return out

    def covered_words(self, sentence_stems: list[str]) -> set[int]:
        """Indices of the sentence's words that lie inside some house phrase."""
        return {k for i, j in self.spans(sentence_stems) for k in range(i, j)}

    def to_dict(self) -> dict:
        return {"version": 1, "documents": self.documents, "min_share": self.min_share,
                "phrases": sorted(" ".join(p) for p in self.phrases), "names": sorted(self.names)}

    @classmethod
    def from_dict(cls, data: dict) -> HousePhrases:
        return cls({tuple(p.split()) for p in data.get("phrases", [])}, set(data.get("names", [])),
                   int(data.get("documents", 0)), float(data.get("min_share", MIN_SHARE)))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", "utf-8")

    def __len__(self) -> int:
        return len(self.phrases)


def load_house(path: str | Path | None) -> HousePhrases | None:
    """House phrases from a file, or from `HOUSE_FILE` in a folder (a dataset or an adapter); None if absent."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        p = p / HOUSE_FILE
    if not p.is_file():
        return None
    return HousePhrases.from_dict(json.loads(p.read_text(encoding="utf-8")))
