"""Copy guidance (inference/copying.py): the exemplar's n-gram continuations, the logits processor on the
tiny model, and reading the shown exemplar descriptions back from a prompt."""

from __future__ import annotations

import pytest

from catalog_writer.dataset.prompts import Exemplar, PromptTemplate
from catalog_writer.dataset.shown import shown_descriptions
from catalog_writer.dataset.swap import swap_facts
from catalog_writer.inference.copying import continuations, copy_processor, copy_sources, ngram_table

EXEMPLAR = Exemplar(id="linnet", title="Linnet Rib Beanie",
                    description="A deep rib beanie that stays put.\n\n- Deep turn-up cuff\n- One size",
                    facts={"Material": "merino wool", "Colour": "Charcoal, Pink", "Care": "Hand wash cold"})


def test_continuations_follow_the_longest_matching_suffix():
    table = ngram_table([1, 2, 3, 2, 4])
    assert continuations(table, []) == {1}  # an empty draft opens like the exemplar
    assert continuations(table, [9, 2]) == {3, 4}  # one-token match: every place "2" occurs
    assert continuations(table, [9, 3, 2]) == {4}  # the longer match (3, 2) wins over (2,)
    assert continuations(table, [7, 8]) == set()
    assert continuations(table, [4]) == set()  # the exemplar's last token has no continuation


def test_shown_descriptions_read_back_without_title_and_fact_lines():
    template = PromptTemplate(exemplars_k=2)
    other = Exemplar(id="x", title="Wren Scarf", description="Soft: really soft. Warm.",
                     facts={"Colour": "Moss"})
    messages = template.messages_from_facts("Ghyll Rib Beanie", {"Material": "recycled wool"},
                                            exemplars=[EXEMPLAR, other])
    assert shown_descriptions(template, messages) == [EXEMPLAR.description, other.description]
    assert shown_descriptions(PromptTemplate(), PromptTemplate().messages_from_facts("Mug", {})) == []


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.padding_side = "left"
    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), tok


def _greedy(model, tok, rows: list[str], sources: list[list[str]], bias: float, steps: int = 12):
    import torch
    from transformers import LogitsProcessorList

    batch = tok(rows, return_tensors="pt", padding=True)
    width = batch["input_ids"].shape[1]
    proc = copy_processor(tok, sources, width, bias)
    with torch.inference_mode():
        out = model.generate(**batch, max_new_tokens=steps, do_sample=False, pad_token_id=tok.pad_token_id,
                             logits_processor=LogitsProcessorList([proc] if proc else []))
    return out[:, width:].tolist()


def test_processor_makes_the_random_model_copy_its_own_rows_exemplar(tiny):
    model, tok = tiny
    text = "a warm wool hat for the hill"
    want = tok(text, add_special_tokens=False)["input_ids"]
    rows = ["Product: Ghyll Rib Beanie", "Product: Wren Scarf"]
    free = _greedy(model, tok, rows, [[], []], 0.0, steps=len(want))
    assert free[0] != want  # the random model does not write it by itself
    guided = _greedy(model, tok, rows, [[text], []], 50.0, steps=len(want))
    assert guided[0] == want  # a strong bias copies the exemplar token by token
    assert guided[1] == free[1]  # the other row has no exemplar: untouched
    assert copy_processor(tok, [[text]], 3, 0.0) is None and copy_processor(tok, [[]], 3, 2.0) is None


def test_copy_bias_is_validated():
    from catalog_writer.core.errors import CatalogWriterError
    from catalog_writer.inference.settings import GenerationSettings

    with pytest.raises(CatalogWriterError, match="--copy-bias"):
        GenerationSettings(copy_bias=-1).validate()


def test_copy_budget_covers_the_longest_exemplar(tiny):
    _, tok = tiny
    long = "a warm wool hat for the hill " * 10
    n = len(tok(long, add_special_tokens=False)["input_ids"])
    proc = copy_processor(tok, [["short"], [long]], 3, 2.0)
    assert proc.budget(8) >= n  # a draft that follows it is not cut
    assert copy_processor(tok, [["short"]], 3, 2.0).budget(500) == 500  # never lowers the budget


def test_the_exemplars_end_leads_the_draft_to_stop():
    table = ngram_table([1, 2, 3], end=0)
    assert continuations(table, [5, 2, 3]) == {0}  # the exemplar ended here: so does the draft
    assert continuations(ngram_table([1, 2, 3]), [5, 2, 3]) == set()
    assert continuations(table, [5, 3]) == set()  # one matching token is not the exemplar's end
    assert continuations(ngram_table([3, 1, 2, 3], end=0), [5, 3]) == {1}


def test_swap_facts_puts_the_products_values_into_the_exemplars_sentences():
    text = ("The Linnet beanie, in merino wool. Merino wool, chosen because it lasts. It comes in Charcoal "
            "and Pink. Hand wash cold. One size fits most; Linnet Rib Beanie. Mixed Charcoal tones.")
    exemplar = {"Product": "Linnet Rib Beanie", "Material": "merino wool", "Colour": "Charcoal, Pink",
                "Care": "Hand wash cold", "Size": "S", "Brand": "Fernhill"}
    product = {"Product": "Ghyll Rib Beanie Two Pack", "Material": "recycled wool blend",
               "Colour": "Pink, Charcoal, Forest", "Care": "Hand wash cold", "Size": "M", "Brand": "Other"}
    out = swap_facts(text, exemplar, product)
    assert "The Ghyll beanie, in recycled wool blend." in out  # a title word at its aligned place
    assert "Recycled wool blend, chosen" in out  # a sentence start keeps its capital
    assert "comes in Pink, Charcoal and Forest." in out  # the whole list, in the product's order
    assert "Ghyll Rib Beanie Two Pack." in out and "Hand wash cold." in out  # equal values stay
    assert "Mixed Charcoal tones" in out  # one value of a list alone is not the list: left alone
    assert "One size" in out  # a one-letter value is never looked for in prose
    assert swap_facts(text, exemplar, {}) == text
    origin = swap_facts("Knitted in Leicestershire, UK, by people we know.",
                        {"Origin": "Knitted in Leicestershire, UK"}, {"Origin": "Made in Cumbria, UK"})
    assert origin == "Made in Cumbria, UK, by people we know."  # a value with a comma is not a list
    # A value the prompt cut to its budget is not the whole value: nothing is swapped for it.
    assert "merino wool" in swap_facts(text, exemplar, {**product, "Material": "recycled wool bl…"})


def test_copy_sources_swap_the_shown_exemplar_for_the_prompts_product():
    template = PromptTemplate(exemplars_k=1)
    ex = Exemplar(id="linnet", title="Linnet Rib Beanie", facts={"Material": "merino wool"},
                  description="The Linnet hat: merino wool through and through.")
    messages = template.messages_from_facts("Ghyll Rib Beanie", {"Material": "recycled wool"}, exemplars=[ex])
    assert copy_sources(template, messages) == ["The Ghyll hat: recycled wool through and through."]


def test_a_copy_under_way_passes_the_no_repeat_ban(tiny):
    """The exemplar repeats a bigram; the ban on repeated generated bigrams would break the copy there."""
    import torch
    from transformers import LogitsProcessorList

    from catalog_writer.inference.processors import generated_only
    from catalog_writer.inference.settings import GenerationSettings

    model, tok = tiny
    text = "wool hat and wool hat for the hill"
    want = tok(text, add_special_tokens=False)["input_ids"]
    batch = tok(["Product: Ghyll Rib Beanie"], return_tensors="pt")
    width = batch["input_ids"].shape[1]
    proc = copy_processor(tok, [[text]], width, 50.0)
    settings = GenerationSettings(no_repeat_ngram_size=2)

    def run(exempt):
        processors = generated_only(settings, width, exempt) + [proc]
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=len(want), do_sample=False,
                                 pad_token_id=tok.pad_token_id,
                                 logits_processor=LogitsProcessorList(processors))
        return out[0, width:].tolist()

    assert run(None) != want  # the ban breaks the copy at the repeated bigram
    assert run(proc.exempt) == want
