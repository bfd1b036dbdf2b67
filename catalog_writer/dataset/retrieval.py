"""Exemplar retrieval: BM25 (`bm25s`) over a brand's described products, for retrieve-and-edit prompts.

The query is a product's title plus its fact values; documents are the same text of described products.
No leakage: a search never returns the product itself or its split group (shared Product.group or
near-duplicate descriptions, see `pairs.near_duplicate_groups`), and only products of the same brand when
the brand is known. `prepare` writes the corpus as `exemplars.jsonl` (every described product, with its
split); training prompts search the train split only, generation searches all of it.

bm25s was chosen by measurement (neighbour baseline, ROUGE-L of the top exemplar's description against
the reference, leave-one-group-out): demo 0.520 (token Jaccard 0.522, rank-bm25 0.520, scikit-learn
TF-IDF 0.524), Magento Luma 0.182 (Jaccard 0.172, rank-bm25 0.186, TF-IDF 0.184): ties within noise,
and bm25s is maintained and needs only numpy.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.prompts import Exemplar, PromptTemplate, clean_value, product_facts

EXEMPLARS_FILE = "exemplars.jsonl"
DEFAULT_EXEMPLARS = 1
"""Similar described products shown in each prompt by `prepare`."""
LENGTH_BUCKETS = [25, 35, 45, 60, 75, 90, 110, 140, 180, 240, 320]
"""Word targets of the length line: training prompts carry their reference's bucket."""
POOL = 8
"""Candidates reranked when training prefers exemplars whose facts differ from the target's."""
CONSENSUS = 5
"""Candidates compared by `prepare`'s templates for consensus ordering (PromptTemplate.exemplar_consensus).
Chosen on the validation splits (fact-swapped candidate vs reference ROUGE-L, no model): demo 0.588 (top
BM25) / 0.578 (3) / 0.589 (5) / 0.530 (8); Luma 0.219 / 0.214 / 0.226 / 0.237."""
DIFFERENT_FACTS_WEIGHT = 0.5
"""Weight of the share of differing fact values against the (top-normalised) BM25 score."""

_WORD = re.compile(r"\w+")
_SPLIT_VALUES = re.compile(r"\s*(?:[,;|]|\s/\s)\s*")
_NOT_QUERY = {"brand"}  # the same for every candidate of a brand: no signal


def tokens(title: str, facts: dict[str, str]) -> list[str]:
    """Lower-cased words of the title and the fact values (brand left out)."""
    text = " ".join([title, *(str(v) for k, v in facts.items() if k.casefold() not in _NOT_QUERY)])
    return _WORD.findall(text.casefold())


def fact_values(facts: dict[str, str]) -> set[str]:
    """Distinct lower-cased attribute values ("Pink, Charcoal" -> {"pink", "charcoal"}), brand and category
    left out."""
    out = set()
    for k, v in facts.items():
        if k.casefold() not in {"brand", "category"}:
            out |= {x.casefold() for x in _SPLIT_VALUES.split(clean_value(v)) if x}
    return out


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def with_retrieval(template: PromptTemplate, k: int | None, descriptions: list[str]) -> PromptTemplate:
    """The template with k exemplars (None: its own), consensus ordering (CONSENSUS unless the template
    has its own) and length buckets, the brand's median length as the default. A fixed word target
    (`prepare --target-words`) keeps one length line for every prompt."""
    import statistics

    k = template.exemplars_k if k is None else k
    buckets = [] if template.target_words else template.length_buckets or list(LENGTH_BUCKETS)
    words = round(statistics.median(len(d.split()) for d in descriptions)) if descriptions else None
    return PromptTemplate.from_dict({**template.to_dict(), "exemplars_k": max(0, k), "length_buckets": buckets,
                                     "default_words": template.default_words or words,
                                     "exemplar_consensus": template.exemplar_consensus or CONSENSUS})


def corpus_text(exemplars: Iterable[Exemplar]) -> tuple[str, str]:
    """The corpus as JSONL text (one exemplar per line) and the sha256 of its UTF-8 bytes."""
    from dataclasses import asdict

    text = "".join(json.dumps(asdict(ex), ensure_ascii=False) + "\n" for ex in exemplars)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def dataset_corpus(products, groups: list[str], splits: list[str]) -> list[Exemplar]:
    """Every described product of a prepared dataset as an exemplar, with its split group and split."""
    return [Exemplar(id=str(p.id), title=p.title, facts=product_facts(p), description=p.description.strip(),
                     group=g, split=s) for p, g, s in zip(products, groups, splits, strict=True)]


def read_exemplars(path: Path, sha256: str | None = None) -> list[Exemplar]:
    """The corpus; with `sha256`, refuse a file that is not the one the prompts were built from."""
    path = Path(path)
    if not path.is_file():
        raise CatalogWriterError("exemplar corpus not found (written by `catalog-writer prepare`)", file=path)
    if sha256 and (actual := file_sha256(path)) != sha256:
        raise CatalogWriterError(
            f"exemplar corpus has sha256 {actual[:12]}..., but the prompt template was built from "
            f"{sha256[:12]}...: prompts would not match training; restore the file or prepare and train again",
            file=path)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                d = json.loads(line)
                out.append(Exemplar(**{k: d[k] for k in Exemplar.__dataclass_fields__ if k in d}))
            except (json.JSONDecodeError, TypeError) as e:
                raise CatalogWriterError(f"not an exemplar record ({e})", file=path, row=n) from None
    return out


class ExemplarIndex:
    """BM25 over exemplars; `search` applies the no-leakage exclusions and the same-brand rule."""

    def __init__(self, exemplars: list[Exemplar]) -> None:
        self.exemplars = list(exemplars)
        self._bm25 = None
        docs = [tokens(ex.title, ex.facts) for ex in self.exemplars]
        if any(docs):
            import bm25s

            self._bm25 = bm25s.BM25()
            self._bm25.index(docs, show_progress=False)

    def __len__(self) -> int:
        return len(self.exemplars)

    def search(
        self, title: str, facts: dict[str, str], k: int, *, exclude_ids: Iterable[str] = (),
        exclude_groups: Iterable[str] = (), prefer_different_facts: bool = False, consensus: int = 0,
    ) -> list[Exemplar]:
        """Up to k exemplars, most similar first (ties by corpus order, so results are deterministic).

        `prefer_different_facts` (training) reranks the best POOL candidates so that exemplars whose fact
        values differ from the target's come first: copying an exemplar's facts then costs loss.
        `consensus` (generation, val/test) reorders the best that many by `consensus_order`.
        """
        if k <= 0 or not self.exemplars:
            return []
        ids, groups = set(map(str, exclude_ids)), {g for g in exclude_groups if g}
        brand = clean_value(facts.get("Brand", "")).casefold()
        query = tokens(title, facts)
        scores = (self._bm25.get_scores(query).tolist() if self._bm25 is not None and query
                  else [0.0] * len(self.exemplars))
        allowed = [
            i for i, ex in enumerate(self.exemplars)
            if str(ex.id) not in ids and ex.group not in groups
            and (not brand or clean_value(ex.brand).casefold() == brand)
        ]
        ranked = sorted(allowed, key=lambda i: (-scores[i], i))
        if prefer_different_facts and ranked:
            pool, top = ranked[: max(POOL, k)], max(scores[ranked[0]], 1e-9)
            own = fact_values(facts)

            def rerank(i: int) -> tuple[float, int]:
                theirs = fact_values(self.exemplars[i].facts)
                differ = len(theirs - own) / len(theirs) if theirs else 0.0
                return (-(scores[i] / top + DIFFERENT_FACTS_WEIGHT * differ), i)

            ranked = sorted(pool, key=rerank) + ranked[len(pool):]
        if consensus > 1 and ranked:
            pool = ranked[:consensus]
            order = consensus_order([self.exemplars[i] for i in pool], title, facts, pool)
            ranked = order + ranked[len(pool):]
        return [self.exemplars[i] for i in ranked[:k]]

    def for_product(self, product, k: int, consensus: int = 0) -> list[Exemplar]:
        """Generation: the k nearest described products, never the product itself."""
        return self.search(product.title, product_facts(product), k, exclude_ids=[product.id],
                           consensus=consensus)


def consensus_order(candidates: list[Exemplar], title: str, facts: dict[str, str],
                    keys: list[int]) -> list[int]:
    """`keys` (one per candidate) ordered by how alike the candidate's wording is to the others': each
    description with the product's facts swapped in (swap.py), mean ROUGE-L F1 against the rest, ties by
    BM25 rank. The most typical wording of the brand for this kind of product is the one a reference most
    likely shares (a minimum-Bayes-risk choice with the candidates standing in for the unseen reference);
    the most similar product alone may be written unusually."""
    from catalog_writer.dataset.swap import swap_facts
    from catalog_writer.quality.metrics import rouge_l

    product = {"Product": title, **facts}
    texts = [swap_facts(c.description, {"Product": c.title, **c.facts}, product) for c in candidates]
    centrality = [0.0] * len(texts)
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):  # F1 is symmetric: each pair once
            score = rouge_l(texts[i], texts[j])
            centrality[i] += score
            centrality[j] += score
    return [keys[i] for i in sorted(range(len(keys)), key=lambda i: (-centrality[i], i))]


def template_index(template: PromptTemplate, folder: Path | None) -> ExemplarIndex | None:
    """The generation index a template was built with (every described product), or None without
    exemplars. The corpus path is relative to the template's folder; a changed file is refused."""
    if template.exemplars_k <= 0 or not template.exemplar_source:
        return None
    path = Path(template.exemplar_source)
    if not path.is_absolute():
        if folder is None:
            raise CatalogWriterError("the prompt template uses exemplars but its folder is unknown",
                                     file=template.exemplar_source)
        path = Path(folder) / path
    return ExemplarIndex(read_exemplars(path, template.exemplar_sha256))


def records_corpus(records: Iterable[dict]) -> list[Exemplar]:
    """Exemplars from prepared records (train.jsonl): id, group, title, attributes and the reference."""
    return [Exemplar(id=str(r["id"]), title=r.get("title", ""), facts=r.get("attributes", {}),
                     description=r["completion"][0]["content"], group=r.get("group", ""), split="train")
            for r in records if r.get("completion")]


def neighbour_baseline(records: list[dict], train_records: Iterable[dict]) -> list[str]:
    """Per record, the description of the most similar training product (the baseline a model must beat):
    the same retrieval as the prompts, never the record's own product or group."""
    index = ExemplarIndex(records_corpus(train_records))
    out = []
    for r in records:
        best = index.search(r.get("title", ""), r.get("attributes", {}), 1, exclude_ids=[r["id"]],
                            exclude_groups=[r.get("group", "")])
        out.append(best[0].description if best else "")
    return out


HOUSE_SHARE = 0.2
"""A word in at least this share of the brand's descriptions is house voice, never banned as a leak."""
_LEAK_SKIP_KEYS = {"brand", "tags"}  # tags are search keywords, not claims the copy makes
_STOPWORDS = {"and", "the", "for", "with", "from", "only", "not", "made", "one", "size"}


def house_words(descriptions: Iterable[str], share: float = HOUSE_SHARE) -> set[str]:
    """Words that recur across the brand's own descriptions (voice, not facts)."""
    docs = [set(_WORD.findall(d.casefold())) for d in descriptions]
    counts: dict[str, int] = {}
    for words in docs:
        for w in words:
            counts[w] = counts.get(w, 0) + 1
    return {w for w, n in counts.items() if n >= share * max(1, len(docs))}


def leak_terms(shown: Iterable[Exemplar | dict], title: str, facts: dict[str, str],
               house: set[str] = frozenset()) -> list[str]:
    """Words of the shown exemplars' titles and fact values that the product's own title and facts lack:
    what a retrieve-and-edit draft must not copy ("merino" for a recycled wool blend, another product's
    name). House words and short words are left out: they are voice, not another product's facts."""
    own_text = " ".join([title, *map(str, facts.keys()), *map(str, facts.values())]).casefold()
    own = set(_WORD.findall(own_text))
    own |= {w.rstrip("s") for w in own}
    out: list[str] = []
    for e in shown:
        e_title, e_facts = (e["title"], e["facts"]) if isinstance(e, dict) else (e.title, e.facts)
        values = [str(v) for k, v in e_facts.items() if k.casefold() not in _LEAK_SKIP_KEYS]
        for w in _WORD.findall(" ".join([e_title, *values]).casefold()):
            keep = (len(w) >= 3 and not w.isdigit()) or (w.isdigit() and len(w) >= 2)
            if keep and w not in own and w.rstrip("s") not in own and w not in house and w not in _STOPWORDS \
                    and w not in out:
                out.append(w)
    return out


def records_leak_terms(records: list[dict], train_records: Iterable[dict]) -> list[list[str]]:
    """`leak_terms` per prepared record, from the exemplars its prompt showed (evaluation)."""
    house = house_words(e.description for e in records_corpus(train_records))
    return [leak_terms(r.get("exemplars") or [], r.get("title", ""), r.get("attributes", {}), house)
            for r in records]
