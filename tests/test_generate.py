"""Generation engine: post-processing, HTML sanitising, batching equivalence, adapters, flags."""

from __future__ import annotations

import pytest
from adapter_helpers import save_lora

from catalog_writer.ingest.catalog import Product
from catalog_writer.inference.generate import GenerationSettings, Generator
from catalog_writer.inference.postprocess import postprocess, sanitize_html, to_html


def _products(n: int = 5) -> list[Product]:
    # Different prompt lengths, so a batch really needs left padding.
    return [
        Product(id=f"p{i}", title=f"Wool Scarf {i}" + " extra long title" * i, brand="Fernhill & Co.",
                category=["Accessories", "Scarves"], attributes={"Material": "alpaca blend"},
                options={"Colour": ["Slate", "Moss"][: 1 + i % 2]})
        for i in range(n)
    ]


# ------------------------------------------------------------------------------------ post-processing


def test_postprocess_trims_to_complete_sentences():
    assert postprocess("A warm scarf. Made in the UK! It feels soft and") == "A warm scarf. Made in the UK!"
    assert postprocess("Soft wool, 2.5 m long. Weighs 220 g") == "Soft wool, 2.5 m long."
    assert postprocess('He said "wear it." Then the') == 'He said "wear it."'


def test_postprocess_bullets_and_loops():
    text = "A warm scarf.\n- Alpaca blend\n- Hand wash\n- Long enough to"
    assert postprocess(text, truncated=True) == "A warm scarf.\n- Alpaca blend\n- Hand wash"
    assert postprocess("A warm scarf.\n- Alpaca blend", truncated=False) == "A warm scarf.\n- Alpaca blend"
    # an untuned model repeating itself: the duplicate line goes, the chat marker goes
    assert postprocess("Soft scarf.\nSoft scarf.\nWarm too.<|im_end|>") == "Soft scarf.\nWarm too."
    # nothing complete: keep the text rather than return an empty description
    assert postprocess("  alpaca  scarf in slate ") == "alpaca scarf in slate"


def test_postprocess_strips_model_html():
    out = postprocess("<p>Warm <b>scarf</b>.</p><script>steal()</script>")
    assert out == "Warm scarf."


def test_to_html_paragraphs_and_lists():
    html = to_html("A warm scarf.\nSoft too.\n\n- Alpaca & wool\n- Hand wash\nLast words <here>.")
    assert html == (
        "<p>A warm scarf. Soft too.</p>\n<ul><li>Alpaca &amp; wool</li><li>Hand wash</li></ul>\n"
        "<p>Last words &lt;here&gt;.</p>"
    )


def test_sanitize_html_strips_script_style_events_links():
    dirty = ('<p onclick="x()" style="color:red">Hi <a href="https://evil.example">click</a></p>'
             "<script>alert(1)</script><style>p{}</style><img src=x onerror=alert(1)><!-- c -->"
             '<ul><li onmouseover="y()">ok</li></ul><iframe src="//x"></iframe>')
    clean = sanitize_html(dirty)
    assert clean == "<p>Hi click</p><ul><li>ok</li></ul>"
    for bad in ("script", "style", "alert", "onclick", "onerror", "href", "<a", "<img", "iframe", "<!--"):
        assert bad not in clean


# ------------------------------------------------------------------------------------ engine


@pytest.fixture(scope="module")
def fp32_generator(varied_dir):
    # fp32: bf16 rounding differs between batch shapes, which would make the equivalence test flaky.
    return Generator(base_model=varied_dir, dtype="float32")


def test_batching_equivalence(fp32_generator):
    products = _products(5)
    s = GenerationSettings(max_new_tokens=12, batch_size=1)
    alone = [fp32_generator.generate_messages([fp32_generator.messages(p, s)], s)[0][0] for p in products]
    lengths = fp32_generator.prompt_lengths(products, s)
    assert len(set(lengths)) > 1  # padding really happens
    batched = fp32_generator.generate_messages([fp32_generator.messages(p, s) for p in products],
                                               GenerationSettings(max_new_tokens=12, batch_size=4))
    assert all(len(a) > 5 for a in alone) and len(set(alone)) == len(alone)
    assert [b[0] for b in batched] == alone


def test_generate_drafts_variants_and_seed(fp32_generator):
    products = _products(2)
    s = GenerationSettings(max_new_tokens=10, num_variants=2, seed=7, batch_size=2)
    drafts = fp32_generator.generate(products, s)
    assert [[d.product_id for d in ds] for ds in drafts] == [["p0", "p0"], ["p1", "p1"]]
    d = drafts[0][0]
    assert d.settings["do_sample"] is True  # variants imply sampling
    assert d.prompt[0]["role"] == "system" and "Wool Scarf 0" in d.prompt[1]["content"]
    assert 0 < d.new_tokens <= 10 and d.model_version == "base"
    assert set(d.flags) >= {"unsupported", "missing", "coverage"}
    again = fp32_generator.generate(products, s)
    assert [[x.text for x in ds] for ds in again] == [[x.text for x in ds] for ds in drafts]


def test_target_words_sets_budget_and_prompt(fp32_generator):
    s = GenerationSettings(target_words=5)
    assert s.effective().max_new_tokens == 11  # 5 words x 1.5 headroom x 1.4 tokens per word
    assert GenerationSettings(max_new_tokens=500, target_words=5).effective().max_new_tokens == 500  # explicit wins
    assert "about 5 words" in fp32_generator.messages(_products(1)[0], s)[1]["content"]


@pytest.fixture(scope="module")
def tiny_adapter(varied_dir, tmp_path_factory):
    """A LoRA adapter with non-zero weights plus its template.json (voice 'fernhill')."""
    from catalog_writer.dataset.prompts import PromptTemplate

    return save_lora(varied_dir, tmp_path_factory.mktemp("adapter") / "fernhill", seed=1,
                     template=PromptTemplate(voice="Fernhill & Co."),
                     meta={"voice": "fernhill", "version": "v2", "base_model": str(varied_dir)},
                     r=4, target_modules="all-linear", init_lora_weights=False)


def test_adapter_is_merged_and_template_used(varied_dir, tiny_adapter):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    gen = Generator(base_model=varied_dir, adapter=tiny_adapter, dtype="float32")
    assert not isinstance(gen.model, PeftModel)  # merged for inference
    assert gen.model_version == "fernhill@v2"
    s = GenerationSettings(max_new_tokens=8)
    prompt = gen.messages(_products(1)[0], s)
    assert "voice of Fernhill & Co." in prompt[1]["content"]
    merged = gen.generate_messages([prompt], s)[0][0]
    # the same prompt through the unmerged PEFT model gives the same greedy text
    peft = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(varied_dir), str(tiny_adapter)).eval()
    unmerged = Generator.from_loaded(peft, gen.tokenizer, gen.template).generate_messages([prompt], s)[0][0]
    assert merged == unmerged
    base_only = Generator.from_loaded(
        AutoModelForCausalLM.from_pretrained(varied_dir, dtype=torch.float32), gen.tokenizer, gen.template
    ).generate_messages([prompt], s)[0][0]
    assert base_only != merged  # the adapter really changes the output


def test_fast_decode_attention_matches_sdpa(varied_dir):
    import torch
    from transformers import AutoModelForCausalLM

    from catalog_writer.inference.fast_attention import NAME

    model = AutoModelForCausalLM.from_pretrained(varied_dir, dtype=torch.float32)
    gen = Generator(base_model=varied_dir, dtype="float32")
    assert gen.fast_attention and gen.model.config._attn_implementation == NAME
    ref = Generator.from_loaded(model, gen.tokenizer, gen.template)
    ref.model.set_attn_implementation("sdpa")  # from_loaded switched it: compare against plain SDPA
    s = GenerationSettings(max_new_tokens=12, batch_size=3)
    prompts = [gen.messages(p, s) for p in _products(3)]
    ids = torch.tensor([gen.encode(prompts[:1])[0]])
    with torch.inference_mode():
        fast = gen.model.generate(ids, max_new_tokens=6, do_sample=False, output_scores=True,
                                  return_dict_in_generate=True, pad_token_id=0)
        slow = ref.model.generate(ids, max_new_tokens=6, do_sample=False, output_scores=True,
                                  return_dict_in_generate=True, pad_token_id=0)
    assert torch.equal(fast.sequences, slow.sequences)
    assert max((a - b).abs().max().item() for a, b in zip(fast.scores, slow.scores)) < 1e-4
    assert gen.generate_messages(prompts, s) == ref.generate_messages(prompts, s)  # padded batch too
