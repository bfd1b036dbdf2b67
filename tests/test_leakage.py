"""Exemplar-fact leakage: which words are banned, the logits processor on the tiny model, and generation
rebuilding the prepared prompts (exemplars included) from an adapter's saved template and corpus."""

from __future__ import annotations

import json
import shutil

import pytest
from adapter_helpers import save_lora

from catalog_writer.dataset import retrieval
from catalog_writer.dataset.prompts import Exemplar
from catalog_writer.inference.leakage import leakage_processor, token_sequences

from conftest import DEMO_CATALOG

EXEMPLAR = Exemplar(id="linnet", title="Linnet Rib Beanie", description="A deep rib beanie.",
                    facts={"Brand": "Fernhill", "Material": "merino wool", "Colour": "Charcoal, Pink, Forest",
                           "Tags": "hat, gift", "Origin": "Knitted in Leicestershire, UK"})


def test_leak_terms_are_the_exemplars_facts_the_product_lacks():
    facts = {"Brand": "Fernhill", "Material": "recycled wool blend", "Colour": "Charcoal",
             "Origin": "Knitted in Leicestershire, UK"}
    terms = retrieval.leak_terms([EXEMPLAR], "Ghyll Rib Beanie", facts, house={"deep", "forest"})
    assert {"merino", "pink", "linnet"} <= set(terms)
    # its own facts, shared words, house voice and tags are never banned
    assert not {"wool", "charcoal", "rib", "beanie", "knitted", "leicestershire", "forest", "gift"} & set(terms)
    assert retrieval.leak_terms([], "Ghyll Rib Beanie", facts) == []
    house = retrieval.house_words(["A warm wool hat.", "A wool scarf.", "A linen towel."], share=0.5)
    assert house == {"a", "wool"}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


def _boosted_generate(model, tok, rows: list[str], processors: list, steps: int = 24) -> list[str]:
    import torch
    from transformers import LogitsProcessorList, SequenceBiasLogitsProcessor

    seqs = token_sequences(tok, ["merino"])
    # Push the random model hard towards every prefix of " Merino"/"Merino": it writes the word unless banned.
    booster = SequenceBiasLogitsProcessor({seq[:j]: 40.0 * j for seq in seqs for j in range(1, len(seq) + 1)})
    tok.padding_side = "left"
    batch = tok(rows, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=steps, do_sample=False, pad_token_id=tok.pad_token_id,
                             logits_processor=LogitsProcessorList([booster, *processors]))
    return tok.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)


def test_processor_bans_a_value_on_its_own_row_only(tiny):
    model, tok = tiny
    rows = ["Product: Ghyll Rib Beanie", "Product: Linnet Rib Beanie"]
    free = _boosted_generate(model, tok, rows, [])
    assert all("erino" in text for text in free)  # the booster works: without the ban the word appears
    guard = leakage_processor(tok, [["merino"], []])
    banned, allowed = _boosted_generate(model, tok, rows, [guard])
    assert "merino" not in banned.casefold().replace(" ", "")
    assert "erino" in allowed  # the other product's exemplar had no merino: nothing banned there
    assert leakage_processor(tok, [[], []]) is None


def test_generator_rebuilds_prepared_prompts_and_bans_exemplar_facts(tiny_model_dir, tmp_path):
    from catalog_writer.dataset.pairs import prepare_dataset
    from catalog_writer.inference.generate import Generator
    from catalog_writer.inference.settings import GenerationSettings
    from catalog_writer.ingest.catalog import read_catalog

    cat = read_catalog(DEMO_CATALOG)
    data = tmp_path / "data"
    prepare_dataset(cat, data, voice="Fernhill & Co.", exemplars=1)
    adapter = tmp_path / "adapter"
    save_lora(tiny_model_dir, adapter, r=2, target_modules=["q_proj"])
    for name in ("template.json", "exemplars.jsonl"):  # what `train` copies into the adapter
        shutil.copyfile(data / name, adapter / name)

    gen = Generator(base_model=tiny_model_dir, adapter=adapter, dtype="float32")
    products = {p.id: p for p in cat.products}
    s = GenerationSettings(max_new_tokens=8, batch_size=4)
    records = [json.loads(line) for line in (data / "to_write.jsonl").read_text().splitlines()][:4]
    for rec in records:
        assert gen.messages(products[rec["id"]], s) == rec["prompt"]
        assert gen.exemplars_for(products[rec["id"]])[0].id == rec["exemplars"][0]["id"]
    product = products[records[0]["id"]]
    assert gen.avoid_for(product)  # another product's name at least
    drafts = gen.generate([products[r["id"]] for r in records], s)
    assert [d[0].prompt for d in drafts] == [r["prompt"] for r in records]
