"""Catalog -> instruction pairs: train/val/test JSONL in TRL's conversational prompt/completion format.

Products with a usable reference description (`catalog.has_reference`) become pairs; the rest go to
`to_write.jsonl`. The split is by group: a product's variants are already folded into it, products that
share `Product.group` stay together, and near-duplicate descriptions (word-shingle Jaccard similarity) are
joined with union-find, so no text the model trained on reappears in val or test.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from catalog_writer.ingest.catalog import USABLE_WORDS, Catalog, Product, has_reference
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import atomic_dir, write_json_atomic, write_jsonl_atomic
from catalog_writer.dataset.lengths import length_profile
from catalog_writer.dataset import targets
from catalog_writer.dataset import retrieval
from catalog_writer.dataset.prompts import Exemplar, PromptTemplate, product_facts
from catalog_writer.dataset.retrieval import DEFAULT_EXEMPLARS
from catalog_writer.quality.house import HOUSE_FILE
from catalog_writer.quality.metrics import self_similarity
from catalog_writer.quality.text import NEAR_DUP_JACCARD, SHINGLE, WORD, shingles

__all__ = ["SPLITS", "assign_splits", "near_duplicate_groups", "prepare_dataset", "print_summary",
           "product_facts"]

SPLITS = ("train", "val", "test")
MAX_SHINGLE_DF = 50
"""Shingles in more descriptions than this (house boilerplate) are not used to find candidate pairs."""
MIN_PRODUCTS_FOR_HOLDOUT = 10
"""From this many usable products on, val and test always get at least one group each."""

class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_duplicate_groups(products: list[Product], threshold: float = NEAR_DUP_JACCARD) -> list[str]:
    """Group key per product: products sharing `group`, or with near-duplicate descriptions, get one key.

    The key is the smallest product id in the group, so it is stable whatever the catalog order.
    Candidate pairs come from an inverted index over shingles (skipping boilerplate shingles that occur
    in more than MAX_SHINGLE_DF descriptions); identical normalised texts are joined directly.
    """
    uf = _UnionFind(len(products))
    first_with: dict[str, int] = {}
    sets = [shingles(p.description) for p in products]
    for i, p in enumerate(products):
        keys = [f"group:{p.group}"] if p.group else []
        words = WORD.findall(p.description.casefold())
        keys.append("text:" + " ".join(words) if words else "")
        for key in filter(None, keys):
            j = first_with.setdefault(key, i)
            uf.union(i, j)
    index: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        for sh in s:
            index[sh].append(i)
    for i, s in enumerate(sets):
        shared: dict[int, int] = defaultdict(int)
        for sh in s:
            postings = index[sh]
            if len(postings) <= MAX_SHINGLE_DF:
                for j in postings:
                    if j > i:
                        shared[j] += 1
        for j in shared:
            inter = len(s & sets[j])  # exact overlap, boilerplate included
            if inter / (len(s) + len(sets[j]) - inter) >= threshold:
                uf.union(i, j)
    root_key: dict[int, str] = {}
    for i, p in enumerate(products):
        r = uf.find(i)
        root_key[r] = min(root_key.get(r, p.id), p.id)
    return [root_key[uf.find(i)] for i in range(len(products))]


def _hash01(seed: int, key: str) -> float:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    groups: list[str], seed: int = 13, val_frac: float = 0.1, test_frac: float = 0.15
) -> list[str]:
    """Split name per item, whole groups at a time.

    Groups are ordered by sha256(seed:group); the first ones fill test up to round(test_frac * n) items,
    the next ones val up to round(val_frac * n), the rest is train. With at least
    MIN_PRODUCTS_FOR_HOLDOUT items, val and test each get at least one group (if there are three groups).
    """
    n = len(groups)
    sizes: dict[str, int] = defaultdict(int)
    for g in groups:
        sizes[g] += 1
    order = sorted(sizes, key=lambda g: (_hash01(seed, g), g))
    want_test, want_val = round(test_frac * n), round(val_frac * n)
    if n >= MIN_PRODUCTS_FOR_HOLDOUT and len(order) >= 3:
        want_test, want_val = max(1, want_test), max(1, want_val)
    split_of: dict[str, str] = {}
    filled = {"test": 0, "val": 0}
    for g in order:
        if filled["test"] < want_test and len(split_of) < len(order) - 1:
            split_of[g] = "test"
        elif filled["val"] < want_val and len(split_of) < len(order) - 1:
            split_of[g] = "val"
        else:
            split_of[g] = "train"
        if split_of[g] in filled:
            filled[split_of[g]] += sizes[g]
    return [split_of[g] for g in groups]


def _record(product: Product, group: str, template: PromptTemplate, with_completion: bool,
            exemplars: list[Exemplar] = (), target_words: int | None = None) -> dict:
    rec = {
        "id": product.id,
        "group": group,
        "title": product.title,
        "attributes": product_facts(product),
        "prompt": template.messages(product, target_words=target_words, exemplars=list(exemplars)),
    }
    if exemplars:  # what the prompt showed: evaluation bans and checks the exemplars' facts
        rec["exemplars"] = [{"id": e.id, "title": e.title, "facts": e.facts}
                            for e in exemplars[: template.exemplars_k]]
    if with_completion:
        rec["completion"] = [{"role": "assistant", "content": product.description.strip()}]
    return rec


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare_dataset(
    cat: Catalog,
    out_dir: str | Path,
    voice: str | None = None,
    target_words: int | None = None,
    seed: int = 13,
    val_frac: float = 0.1,
    test_frac: float = 0.15,
    template: PromptTemplate | None = None,
    exemplars: int | None = DEFAULT_EXEMPLARS,
    drop_unsupported_sentences: bool = False,
) -> dict:
    """Write train/val/test/to_write JSONL, template.json and manifest.json into `out_dir`; return the
    manifest.

    The folder is built in a temporary sibling and swapped in at the end, so a crash never leaves half a
    dataset; an existing folder is only replaced when it is an earlier dataset (has manifest.json).
    `exemplars` similar products are shown per prompt (None: the template's own exemplars_k): training
    prompts retrieve from the train split, preferring exemplars whose facts differ; val and test from the
    train split; `to_write` and generation from every described product (`exemplars.jsonl`).
    Reference sentences whose claims the facts do not back are marked in each record
    (`reference_unsupported`, see dataset/targets.py) and, with `drop_unsupported_sentences`, left out of
    the train and val targets; the brand's house phrases are saved as `house_phrases.json`.
    """
    out_dir = Path(out_dir)
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise CatalogWriterError(f"val_frac + test_frac must be below 1 (got {val_frac} + {test_frac})")
    earlier = (out_dir / "manifest.json").exists() or (out_dir.is_dir() and not any(out_dir.iterdir()))
    if out_dir.exists() and not earlier:
        raise CatalogWriterError("output exists and is not an earlier dataset folder; choose another -o",
                                 file=out_dir)
    template = template or PromptTemplate()
    template = PromptTemplate.from_dict({**template.to_dict(), "voice": voice or template.voice,
                                         "target_words": target_words or template.target_words})
    usable = [p for p in cat.products if has_reference(p)]
    missing = [p for p in cat.products if not has_reference(p)]
    if not usable:
        raise CatalogWriterError(
            f"no product has a usable description (at least {USABLE_WORDS} words): nothing to learn from",
            file=cat.path,
        )
    groups = near_duplicate_groups(usable)
    splits = assign_splits(groups, seed=seed, val_frac=val_frac, test_frac=test_frac)
    template = retrieval.with_retrieval(template, exemplars, [p.description for p in usable])
    buckets = bool(template.length_buckets)
    corpus = retrieval.dataset_corpus(usable, groups, splits)
    corpus_text, corpus_sha = retrieval.corpus_text(corpus)
    if template.exemplars_k:
        template.exemplar_source, template.exemplar_sha256 = retrieval.EXEMPLARS_FILE, corpus_sha
    k = template.exemplars_k
    train_index = retrieval.ExemplarIndex([e for e in corpus if e.split == "train"])
    full_index = retrieval.ExemplarIndex(corpus)
    house = targets.learn_house(usable, splits, template.voice)
    cleaned, marks, claim_stats = targets.mark_references(usable, splits, house, drop_unsupported_sentences)
    records: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for p, g, s, marked in zip(cleaned, groups, splits, marks, strict=True):
        shown = train_index.search(p.title, product_facts(p), k, exclude_ids=[p.id], exclude_groups=[g],
                                   prefer_different_facts=s == "train",
                                   consensus=0 if s == "train" else template.exemplar_consensus)
        # Training prompts ask for their reference's length; val/test ask what generation would.
        words = template.snap_words(len(p.description.split())) if s == "train" and buckets else None
        records[s].append(_record(p, g, template, True, shown, words))
        records[s][-1]["reference_unsupported"] = marked
    to_write = [_record(p, p.group or p.id, template, False,
                        full_index.for_product(p, k, template.exemplar_consensus)) for p in missing]
    # Generation's default token budget: the training descriptions' lengths (dataset/lengths.py).
    template.length = length_profile([r["completion"][0]["content"] for r in records["train"]])
    # The brand's own claim share decides generation's default --strict (inference/settings.py).
    template.reference_unsupported_share = claim_stats["share"].get("train", claim_stats["share_all"])
    # How templated the brand is decides generation's default copy guidance (inference/settings.py).
    template.reference_self_similarity = self_similarity([r["completion"][0]["content"] for r in records["train"]])

    source = Path(cat.path)
    manifest = {
        "version": 1,
        "source": {"path": str(source.resolve()) if source.exists() else str(source),
                   "sha256": _sha256(source) if source.is_file() else None, "format": cat.format},
        "counts": {**{s: len(records[s]) for s in SPLITS}, "to_write": len(to_write),
                   "products": len(cat.products), "usable": len(usable), "groups": len(set(groups))},
        "template": template.to_dict(),
        "exemplars": {"file": retrieval.EXEMPLARS_FILE, "sha256": corpus_sha, "products": len(corpus),
                      "k": template.exemplars_k, "retrieval": "bm25s over title + fact values, same brand, "
                      "never the product's own split group; training prefers exemplars whose facts differ"},
        "split": {
            "rule": (f"whole groups (shared Product.group, or {SHINGLE}-word-shingle Jaccard >= "
                     f"{NEAR_DUP_JACCARD} between descriptions, union-find) ordered by sha256(seed:group); "
                     f"first ~test_frac of products -> test, next ~val_frac -> val, rest -> train"),
            "val_frac": val_frac, "test_frac": test_frac, "usable_words": USABLE_WORDS,
        },
        "claims": {"drop_unsupported_sentences": drop_unsupported_sentences, "house_phrases": len(house),
                   "house_file": HOUSE_FILE, **claim_stats},
        "seed": seed,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_dir(out_dir) as tmp:
        for s in SPLITS:
            write_jsonl_atomic(tmp / f"{s}.jsonl", records[s])
        write_jsonl_atomic(tmp / "to_write.jsonl", to_write)
        (tmp / retrieval.EXEMPLARS_FILE).write_text(corpus_text, encoding="utf-8")
        template.save(tmp / "template.json")
        house.save(tmp / HOUSE_FILE)
        write_json_atomic(tmp / "manifest.json", manifest)
    return manifest


def print_summary(manifest: dict, out_dir: str | Path) -> None:
    """A rich table of split sizes and where the files are."""
    from rich.console import Console
    from rich.table import Table

    c = manifest["counts"]
    table = Table(title=f"Dataset written to {out_dir}")
    table.add_column("file")
    table.add_column("records", justify="right")
    for s in SPLITS:
        table.add_row(f"{s}.jsonl", str(c[s]))
    table.add_row("to_write.jsonl", str(c["to_write"]))
    console = Console()
    console.print(table)
    console.print(
        f"{c['products']} products, {c['usable']} with a usable description in {c['groups']} groups "
        f"(seed {manifest['seed']}); template: {Path(out_dir) / 'template.json'}"
    )
    if claims := manifest.get("claims"):
        shares = ", ".join(f"{s} {claims['share'].get(s, 0):.0%}" for s in SPLITS if s in claims["share"])
        action = (f"dropped from {claims['cleaned']} train/val targets" if claims["drop_unsupported_sentences"]
                  else "kept (prepare --drop-unsupported-sentences drops them from train/val targets)")
        console.print(f"Reference sentences with a claim the facts do not back: {claims['share_all']:.0%} "
                      f"({shares}); {action}. House phrases: {claims['house_phrases']}.")
