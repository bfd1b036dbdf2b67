"""prepare_dataset: group-aware splits, near-duplicate grouping, record layout, manifest, atomic output."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from catalog_writer.dataset import pairs, retrieval
from catalog_writer.ingest.catalog import Catalog, Product
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import read_jsonl
from catalog_writer.dataset.prompts import PromptTemplate

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo-catalog.csv"
VOCAB = [f"{a}{b}" for a in ("bram", "fell", "tarn", "wren", "moss", "oat", "slate", "rust") for b in
         ("ley", "wick", "by", "thorpe", "dale", "holm", "sett", "ford", "ham", "ton")]


def text(rng: random.Random, n: int = 30) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n)) + "."


def make_catalog(tmp_path: Path, n: int = 40) -> Catalog:
    """n products with distinct random descriptions, plus planted variants/near-duplicates/empties."""
    rng = random.Random(7)
    products = [
        Product(id=f"p{i:03d}", title=f"Product {i}", brand="Fernhill & Co.", category=["Home", "Blankets"],
                attributes={"Material": "wool"}, options={"Colour": ["Moss", "Oat"]}, description=text(rng),
                main_row=i)
        for i in range(n)
    ]
    # near duplicate: same text with one word changed and a sentence added
    words = products[1].description.split()
    words[5] = "different"
    twin = " ".join(words) + " Two of them."
    products.append(Product(id="p900", title="Product 1 Two Pack", description=twin))
    # shared catalog group (e.g. Merchant item_group_id) with unrelated texts
    products[2].group = "family-a"
    products[3].group = "family-a"
    # products to write: empty and too short
    products.append(Product(id="w1", title="Empty one", description=""))
    products.append(Product(id="w2", title="Stub", description="Coming soon."))
    src = tmp_path / "catalog.csv"
    rows = "".join(f"{p.id},{p.title}\n" for p in products)
    src.write_text("Handle,Title\n" + rows, encoding="utf-8")
    return Catalog(path=src, format="shopify", header=["Handle", "Title"], table=[], products=products,
                   description_column="Body (HTML)")


def read_split(out: Path) -> dict[str, list[dict]]:
    return {s: read_jsonl(out / f"{s}.jsonl") for s in (*pairs.SPLITS, "to_write")}


def test_shingles_and_near_duplicate_groups():
    assert pairs.shingles("A b c d") == {"a b c", "b c d"}
    assert pairs.shingles("Two words") == {"two words"}
    rng = random.Random(1)
    a, b = text(rng), text(rng)
    near = a.replace(a.split()[3], "changed", 1)
    prods = [Product(id="z", title="", description=a), Product(id="y", title="", description=b),
             Product(id="x", title="", description=near), Product(id="w", title="", description=b.upper())]
    assert pairs.near_duplicate_groups(prods) == ["x", "w", "x", "w"]  # key = smallest id in the group
    assert pairs.near_duplicate_groups(prods, threshold=1.01) == ["z", "w", "x", "w"]  # identical text only


def test_assign_splits_keeps_groups_whole_and_fills_holdouts():
    groups = [f"g{i // 3}" for i in range(30)]  # 10 groups of 3
    splits = pairs.assign_splits(groups, seed=13)
    by_group: dict[str, set[str]] = {}
    for g, s in zip(groups, splits, strict=True):
        by_group.setdefault(g, set()).add(s)
    assert all(len(v) == 1 for v in by_group.values())
    assert {"train", "val", "test"} <= set(splits)
    assert splits == pairs.assign_splits(groups, seed=13)
    assert any(pairs.assign_splits(groups, seed=s) != splits for s in range(1, 6))
    # tiny catalogs: everything can stay in train, but never an empty train
    assert pairs.assign_splits(["a", "b"], seed=13) == ["train", "train"]
    assert "train" in pairs.assign_splits([f"g{i}" for i in range(12)], test_frac=0.5, val_frac=0.45)


def test_prepare_dataset_layout_and_split_guarantees(tmp_path):
    cat = make_catalog(tmp_path)
    out = tmp_path / "ds"
    manifest = pairs.prepare_dataset(cat, out, voice="Fernhill & Co.", target_words=70, seed=13)
    assert sorted(p.name for p in out.iterdir()) == [
        "exemplars.jsonl", "house_phrases.json", "manifest.json", "template.json", "test.jsonl",
        "to_write.jsonl", "train.jsonl", "val.jsonl"]
    data = read_split(out)
    assert {r["id"] for r in data["to_write"]} == {"w1", "w2"}
    assert all("completion" not in r for r in data["to_write"])
    labelled = [r for s in pairs.SPLITS for r in data[s]]
    assert len(labelled) == 41 and len({r["id"] for r in labelled}) == 41
    assert data["val"] and data["test"] and data["train"]
    split_of_group: dict[str, set[str]] = {}
    for s in pairs.SPLITS:
        for r in data[s]:
            split_of_group.setdefault(r["group"], set()).add(s)
    assert all(len(v) == 1 for v in split_of_group.values())
    by_id = {r["id"]: r for r in labelled}
    assert by_id["p001"]["group"] == by_id["p900"]["group"] == "p001"
    assert by_id["p002"]["group"] == by_id["p003"]["group"] == "p002"

    rec = by_id["p010"]
    assert set(rec) == {"id", "group", "title", "attributes", "prompt", "completion", "exemplars",
                        "reference_unsupported"}
    assert rec["completion"] == [{"role": "assistant", "content": cat.products[10].description}]
    assert rec["attributes"] == {"Brand": "Fernhill & Co.", "Category": "Home > Blankets", "Material": "wool",
                                 "Colour": "Moss, Oat"}
    # the saved template reproduces every prompt exactly
    template = PromptTemplate.load(out / "template.json")
    assert template.voice == "Fernhill & Co." and template.target_words == 70
    corpus = {e.id: e for e in retrieval.read_exemplars(out / "exemplars.jsonl")}
    shown = [corpus[e["id"]] for e in rec["exemplars"]]
    assert rec["prompt"] == template.messages(cat.products[10], exemplars=shown)
    assert "voice of Fernhill & Co. Aim for about 70 words." in rec["prompt"][1]["content"]

    on_disk = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest
    assert manifest["source"]["sha256"] == hashlib.sha256(cat.path.read_bytes()).hexdigest()
    assert manifest["source"]["format"] == "shopify"
    sizes = {s: len(data[s]) for s in pairs.SPLITS}
    assert manifest["counts"] == {**sizes, "to_write": 2, "products": 43, "usable": 41, "groups": 39}
    assert manifest["seed"] == 13 and manifest["template"] == template.to_dict()


def test_prepare_is_deterministic_and_seed_dependent(tmp_path):
    cat = make_catalog(tmp_path)
    pairs.prepare_dataset(cat, tmp_path / "a", seed=13)
    pairs.prepare_dataset(cat, tmp_path / "b", seed=13)
    pairs.prepare_dataset(cat, tmp_path / "c", seed=99)
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "to_write.jsonl", "template.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "test.jsonl").read_bytes() != (tmp_path / "c" / "test.jsonl").read_bytes()


def test_output_folder_is_replaced_atomically(tmp_path, monkeypatch):
    cat = make_catalog(tmp_path)
    out = tmp_path / "ds"
    pairs.prepare_dataset(cat, out, seed=13)
    before = (out / "train.jsonl").read_bytes()

    def boom(self, path):
        raise RuntimeError("disk full")

    monkeypatch.setattr(PromptTemplate, "save", boom)
    with pytest.raises(RuntimeError):
        pairs.prepare_dataset(cat, out, seed=99)
    assert (out / "train.jsonl").read_bytes() == before  # the old dataset is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.csv", "ds"]  # no temp folder left
    monkeypatch.undo()

    pairs.prepare_dataset(cat, out, seed=99)  # an earlier dataset folder is replaced
    assert (out / "train.jsonl").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["catalog.csv", "ds"]

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(CatalogWriterError, match="not an earlier dataset"):
        pairs.prepare_dataset(cat, precious)
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_errors_for_unusable_input(tmp_path):
    cat = make_catalog(tmp_path)
    cat.products = [p for p in cat.products if p.id in ("w1", "w2")]
    with pytest.raises(CatalogWriterError, match="no product has a usable description"):
        pairs.prepare_dataset(cat, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
    with pytest.raises(CatalogWriterError, match="below 1"):
        pairs.prepare_dataset(make_catalog(tmp_path), tmp_path / "ds", val_frac=0.5, test_frac=0.5)


def test_print_summary_shows_counts(tmp_path, capsys):
    manifest = pairs.prepare_dataset(make_catalog(tmp_path), tmp_path / "ds")
    pairs.print_summary(manifest, tmp_path / "ds")
    out = capsys.readouterr().out
    assert "to_write.jsonl" in out and f"{manifest['counts']['train']}" in out
    assert "41 with a usable description" in out


def test_demo_catalog_end_to_end(tmp_path):
    from catalog_writer.ingest.catalog import read_catalog

    cat = read_catalog(DEMO)
    manifest = pairs.prepare_dataset(cat, tmp_path / "demo", voice="Fernhill & Co.")
    c = manifest["counts"]
    assert c["products"] == 100 and c["usable"] == 79 and c["to_write"] == 21
    assert c["train"] + c["val"] + c["test"] == 79 and c["val"] >= 5 and c["test"] >= 8
    data = read_split(tmp_path / "demo")
    split_of = {r["id"]: s for s in pairs.SPLITS for r in data[s]}
    group_of = {r["id"]: r["group"] for s in pairs.SPLITS for r in data[s]}
    # the planted near-duplicate listings share their sibling's group and split
    for twin, sibling in [("ghyll-rib-beanie-two-pack", "ghyll-rib-beanie"),
                          ("millstone-walking-socks-gift-box", "millstone-walking-socks"),
                          ("hazel-linen-tea-towel-seconds", "hazel-linen-tea-towel")]:
        assert group_of[twin] == group_of[sibling] and split_of[twin] == split_of[sibling]
    # every reference names its material and colours, so faithfulness metrics have something to check
    for r in (r for s in pairs.SPLITS for r in data[s]):
        text = r["completion"][0]["content"].lower()
        assert r["attributes"]["Brand"] == "Fernhill & Co."
        assert r["attributes"]["Material"].lower() in text
        assert all(c.lower() in text for c in r["attributes"].get("Colour", "").split(", ") if c)
