"""Exemplar retrieval and retrieve-and-edit prompts: exclusions, same brand, no split leakage, token
budgets, the neighbour baseline, and prompts rebuilt identically from the saved template and corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.product import Product
from catalog_writer.dataset import retrieval
from catalog_writer.dataset.prompts import Exemplar, PromptTemplate, count_tokens, product_facts

from conftest import DEMO_CATALOG


def ex(id: str, title: str, group: str = "", brand: str = "Fernhill", **facts) -> Exemplar:
    return Exemplar(id=id, title=title, facts={"Brand": brand, **facts}, description=f"About {title}.",
                    group=group or id, split="train")


CORPUS = [
    ex("beanie-a", "Ghyll Rib Beanie", Material="recycled wool blend", Colour="Pink, Charcoal"),
    ex("beanie-b", "Ghyll Rib Beanie Two Pack", group="beanie-a", Material="recycled wool blend"),
    ex("beanie-c", "Merlin Rib Beanie", Material="merino wool", Colour="Slate"),
    ex("beanie-d", "Other Brand Rib Beanie", brand="Acme", Material="recycled wool blend"),
    ex("towel", "Dunlin Linen Tea Towel", Material="pure linen"),
]


def test_search_ranks_by_similarity_and_excludes_itself_its_group_and_other_brands():
    index = retrieval.ExemplarIndex(CORPUS)
    facts = {"Brand": "Fernhill", "Material": "recycled wool blend", "Colour": "Pink"}
    assert [e.id for e in index.search("Ghyll Rib Beanie", facts, 2)] == ["beanie-a", "beanie-b"]
    got = index.search("Ghyll Rib Beanie", facts, 5, exclude_ids=["beanie-a"], exclude_groups=["beanie-a"])
    # its group (a near-duplicate two-pack) and the other brand's beanie never come back
    assert [e.id for e in got] == ["beanie-c", "towel"]
    # brand unknown: every brand is a candidate
    assert "beanie-d" in [e.id for e in index.search("Rib Beanie", {"Material": "wool"}, 5)]
    assert index.search("Ghyll Rib Beanie", facts, 0) == []


def test_training_prefers_exemplars_whose_facts_differ():
    index = retrieval.ExemplarIndex(CORPUS)
    facts = {"Brand": "Fernhill", "Material": "recycled wool blend", "Colour": "Pink, Charcoal"}
    plain = index.search("Rib Beanie", facts, 1, exclude_ids=["beanie-a"])
    different = index.search("Rib Beanie", facts, 1, exclude_ids=["beanie-a"], prefer_different_facts=True)
    assert plain[0].id == "beanie-b"  # same facts: copying them would cost nothing
    assert different[0].id == "beanie-c"  # merino / Slate: the model must use the target's own facts


def test_exemplar_blocks_respect_the_token_budget():
    long = Exemplar(id="x", title="Wren Wool Throw", facts={"Material": "lambswool " * 30, "Colour": "Moss"},
                    description="A throw for the sofa. " * 80)
    for budget in (150, 400, 1000):
        for k in (1, 2, 3):
            t = PromptTemplate(exemplars_k=k, exemplar_budget=budget)
            blocks = t.exemplar_blocks([long] * 3)
            assert len(blocks) == k
            assert sum(count_tokens(b) for b in blocks) <= budget, (budget, k)
            assert all("A throw for the sofa" in b for b in blocks)
    assert PromptTemplate(exemplars_k=0).exemplar_blocks([long]) == []


def test_length_line_snaps_to_buckets_and_follows_the_exemplars():
    t = PromptTemplate(exemplars_k=2, length_buckets=[40, 60, 90], default_words=55)
    user = lambda **kw: t.messages_from_facts("Throw", {"Material": "wool"}, **kw)[1]["content"]
    assert "about 90 words" in user(target_words=100)
    assert "about 60 words" in user()  # no exemplars: the brand's median
    short = [Exemplar(id=str(i), title="T", facts={}, description="word " * 38) for i in range(2)]
    assert "about 40 words" in user(exemplars=short)  # the exemplars' median length
    assert user(exemplars=short).index("word word") < user(exemplars=short).index("Product: Throw")


def _catalog():
    from catalog_writer.ingest.catalog import read_catalog

    return read_catalog(DEMO_CATALOG)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    from catalog_writer.dataset.pairs import prepare_dataset

    out = tmp_path_factory.mktemp("retrieval") / "data"
    prepare_dataset(_catalog(), out, voice="Fernhill & Co.", exemplars=2)
    return out


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_prepared_prompts_never_leak_across_splits(demo_data):
    corpus = {e.id: e for e in retrieval.read_exemplars(demo_data / "exemplars.jsonl")}
    for split in ("train", "val", "test"):
        for rec in _records(demo_data / f"{split}.jsonl"):
            shown = rec["exemplars"]
            assert len(shown) == 2
            for e in shown:
                source = corpus[e["id"]]
                assert source.split == "train"  # every split retrieves from train only
                assert source.group != rec["group"] and source.id != rec["id"]
                assert source.brand == rec["attributes"]["Brand"]
                assert source.description[:40] in rec["prompt"][1]["content"]
            # the reference itself never appears in its own prompt (house phrases may)
            assert rec["completion"][0]["content"] not in rec["prompt"][1]["content"]


def test_training_prompts_carry_their_reference_length_bucket(demo_data):
    template = PromptTemplate.load(demo_data)
    assert template.length_buckets and template.exemplars_k == 2
    for rec in _records(demo_data / "train.jsonl")[:10]:
        words = len(rec["completion"][0]["content"].split())
        assert f"about {template.snap_words(words)} words" in rec["prompt"][1]["content"]


def test_generation_rebuilds_identical_prompts_from_the_saved_template(demo_data, tmp_path):
    import shutil

    template = PromptTemplate.load(demo_data)
    index = retrieval.template_index(template, demo_data)
    assert len(index) == sum(len(_records(demo_data / f"{s}.jsonl")) for s in ("train", "val", "test"))
    missing = {p.id: p for p in _catalog().products}
    for rec in _records(demo_data / "to_write.jsonl"):
        product = missing[rec["id"]]
        shown = index.for_product(product, template.exemplars_k, template.exemplar_consensus)
        assert template.messages(product, exemplars=shown) == rec["prompt"]
    # a described product never gets itself as an exemplar at generation time
    described = next(p for p in _catalog().products if p.id in {e.id for e in index.exemplars})
    assert described.id not in [e.id for e in index.for_product(described, 5)]

    # A changed corpus is refused with a message naming the file.
    copy = tmp_path / "adapter"
    copy.mkdir()
    template.save(copy / "template.json")
    shutil.copyfile(demo_data / "exemplars.jsonl", copy / "exemplars.jsonl")
    with (copy / "exemplars.jsonl").open("a") as f:
        f.write(json.dumps({"id": "new", "title": "New", "facts": {}, "description": "x"}) + "\n")
    with pytest.raises(CatalogWriterError, match="sha256") as e:
        retrieval.template_index(PromptTemplate.load(copy), copy)
    assert str(e.value.file) == str(copy / "exemplars.jsonl")
    (copy / "exemplars.jsonl").unlink()
    with pytest.raises(CatalogWriterError, match="not found"):
        retrieval.template_index(PromptTemplate.load(copy), copy)


def test_neighbour_baseline_copies_the_nearest_training_description(demo_data):
    train = _records(demo_data / "train.jsonl")
    test = _records(demo_data / "test.jsonl")
    texts = retrieval.neighbour_baseline(test, train)
    by_id = {r["id"]: r["completion"][0]["content"] for r in train}
    index = retrieval.ExemplarIndex(retrieval.records_corpus(train))
    for rec, text in zip(test, texts):
        # The top BM25 match (prompts may show another first: consensus ordering), never its own group.
        top = index.search(rec["title"], rec["attributes"], 1, exclude_ids=[rec["id"]],
                           exclude_groups=[rec["group"]])
        assert text == by_id[top[0].id] and top[0].group != rec["group"]


def test_product_without_brand_searches_every_product():
    p = Product(id="new", title="Merlin Beanie", attributes={"Material": "merino wool"})
    index = retrieval.ExemplarIndex(CORPUS)
    assert index.for_product(p, 1)[0].id == "beanie-c"
    assert "Brand" not in product_facts(p)


def test_strip_echo_cuts_the_prompt_structure_a_draft_repeats():
    t = PromptTemplate(exemplars_k=1)
    draft = ("Ghyll Rib Beanie\nBrand: Fernhill & Co.\nA deep rib beanie.\n\n- Deep cuff\n\n"
             f"{t.product_line}\nProduct: Peat Canvas Tote\nBrand: Fernhill & Co.")
    assert t.strip_echo(draft) == "Ghyll Rib Beanie\nA deep rib beanie.\n\n- Deep cuff"
    plain = "Colours: Ochre Stripe and Red Stripe.\nMachine wash at 40."
    assert t.strip_echo(plain) == plain  # a fact-like sentence of the voice stays


def test_consensus_shows_the_brands_typical_wording_first():
    """The most similar product is written unusually; two others share the brand's usual wording (once their
    facts are swapped for the product's): consensus ordering shows one of those first."""
    odd = Exemplar(id="odd", title="Ghyll Rib Beanie Deluxe", facts={"Brand": "F", "Material": "merino wool"},
                   description="Limited run. Ask in the shop.", group="odd")
    text = "A warm hat. Made from {} that feels good in the hand. Hand wash cold."
    usual = [Exemplar(id=f"u{i}", title=f"{name} Hat", facts={"Brand": "F", "Material": material},
                      description=text.format(material), group=f"u{i}")
             for i, (name, material) in enumerate([("Wren", "alpaca"), ("Kite", "lambswool")])]
    index = retrieval.ExemplarIndex([odd, *usual])
    facts = {"Brand": "F", "Material": "merino wool"}
    assert index.search("Ghyll Rib Beanie", facts, 1)[0].id == "odd"  # BM25 alone
    assert index.search("Ghyll Rib Beanie", facts, 1, consensus=3)[0].id in {"u0", "u1"}
    assert [e.id for e in index.search("Ghyll Rib Beanie", facts, 3, consensus=3)][-1] == "odd"
    # Alike only after the swap: their own materials differ, the product's goes in both.
    order = retrieval.consensus_order(usual + [odd], "Ghyll Rib Beanie", facts, [0, 1, 2])
    assert order[-1] == 2
