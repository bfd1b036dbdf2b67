"""PromptTemplate: deterministic fact rendering, token budgets, voice/length lines, JSON round trip."""

from __future__ import annotations

import json

import pytest

from catalog_writer.ingest.catalog import Product
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.prompts import (
    TEMPLATE_VERSION,
    PromptTemplate,
    count_tokens,
    product_facts,
    truncate_tokens,
)


def make_product(**kw) -> Product:
    base = {
        "id": "p1", "title": "Wren Wool Throw", "brand": "Fernhill & Co.",
        "category": ["Home", "Bedding", "Blankets"],
        "attributes": {"Zeta": "last", "Care": "Dry clean", "Material": "lambswool", "alpha": "first",
                       "Empty": "  ", "Notes": "line one\n\n  line   two"},
        "options": {"Size": ["130 x 180 cm", "200 x 230 cm"], "Colour": ["Moss", "Oat"]},
    }
    base.update(kw)
    return Product(**base)


def user_lines(messages: list[dict]) -> list[str]:
    return messages[1]["content"].split("\n")


def test_count_tokens_is_a_fixed_word_piece_count():
    assert count_tokens("") == 0
    assert count_tokens("wool") == 1
    assert count_tokens("Lambswool") == 2  # "Lambsw" + "ool"
    assert count_tokens("Merino wool, 70%") == 5  # Merino / wool / , / 70 / %
    assert count_tokens("12345") == 2  # "123" + "45"


def test_truncate_tokens_cuts_at_budget_with_ellipsis():
    text = "one two three four five six"
    assert truncate_tokens(text, 6) == text
    assert truncate_tokens(text, 10) == text
    cut = truncate_tokens(text, 3)
    assert cut == "one two three…"
    assert count_tokens(cut.rstrip("…")) == 3
    assert truncate_tokens(text, 0) == ""


def test_product_facts_flattens_and_drops_empty_values():
    facts = product_facts(make_product(attributes={"Material": "wool", "Colour": "Grey", "Blank": ""}))
    assert facts == {
        "Brand": "Fernhill & Co.",
        "Category": "Home > Bedding > Blankets",
        "Material": "wool",
        # the option replaces the attribute of the same name
        "Colour": "Moss, Oat",
        "Size": "130 x 180 cm, 200 x 230 cm",
    }
    bare = product_facts(Product(id="x", title="T", options={"Size": ["", " "]}))
    assert bare == {}


def test_messages_render_facts_in_a_stable_order():
    msgs = PromptTemplate().messages(make_product())
    assert [m["role"] for m in msgs] == ["system", "user"]
    lines = user_lines(msgs)
    assert lines[0] == PromptTemplate().instruction
    assert lines[1] == ""
    assert lines[2:] == [
        "Product: Wren Wool Throw",
        "Brand: Fernhill & Co.",
        "Category: Home > Bedding > Blankets",
        "Material: lambswool",
        "Colour: Moss, Oat",
        "Size: 130 x 180 cm, 200 x 230 cm",
        "Care: Dry clean",
        "alpha: first",
        "Notes: line one line two",
        "Zeta: last",
    ]


def test_rendering_does_not_depend_on_dict_order():
    p1 = make_product()
    p2 = make_product(attributes=dict(reversed(list(p1.attributes.items()))),
                      options=dict(reversed(list(p1.options.items()))))
    t = PromptTemplate()
    # options keep their own value order, but option names are placed by priority, not position
    assert t.messages(p1) == t.messages(p2)


def test_value_and_prompt_budgets():
    long_value = " ".join(f"word{i}" for i in range(200))
    t = PromptTemplate(max_value_tokens=5)
    lines = user_lines(t.messages(make_product(attributes={"Material": long_value})))
    material = next(line for line in lines if line.startswith("Material: "))
    assert material.endswith("…")
    assert count_tokens(material.removeprefix("Material: ").rstrip("…")) == 5

    # A tight overall budget drops the least important facts first and always keeps the title.
    full = PromptTemplate()
    msgs = full.messages(make_product())
    total = sum(count_tokens(m["content"]) for m in msgs)
    tight = PromptTemplate(max_prompt_tokens=total - 3)
    tight_lines = user_lines(tight.messages(make_product()))
    assert "Zeta: last" not in tight_lines
    assert "Brand: Fernhill & Co." in tight_lines
    assert sum(count_tokens(m["content"]) for m in tight.messages(make_product())) <= total - 3
    tiny = PromptTemplate(max_prompt_tokens=1)
    assert user_lines(tiny.messages(make_product()))[2:] == ["Product: Wren Wool Throw"]


def test_voice_and_target_words_in_instruction():
    t = PromptTemplate()
    first = user_lines(t.messages(make_product()))[0]
    assert "voice" not in first and "words" not in first
    first = user_lines(t.messages(make_product(), voice="Fernhill & Co.", target_words=70))[0]
    assert first == f"{t.instruction} Write in the voice of Fernhill & Co. Aim for about 70 words."
    # template defaults apply when no argument is given; arguments win over them
    t2 = PromptTemplate(voice="Aurora", target_words=40)
    assert "voice of Aurora" in user_lines(t2.messages(make_product()))[0]
    assert "about 90 words" in user_lines(t2.messages(make_product(), target_words=90))[0]


def test_messages_from_facts_matches_messages():
    t = PromptTemplate(voice="Fernhill")
    p = make_product()
    assert t.messages_from_facts(p.title, product_facts(p)) == t.messages(p)


def test_save_load_round_trip_reproduces_prompts(tmp_path):
    t = PromptTemplate(
        system="Be brief.", instruction="Describe it.", voice="Fernhill & Co.", target_words=60,
        max_value_tokens=7, max_prompt_tokens=90, priority=["care", "material"],
    )
    path = t.save(tmp_path / "template.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == TEMPLATE_VERSION and data["max_value_tokens"] == 7
    loaded = PromptTemplate.load(tmp_path)  # a folder means its template.json
    assert loaded == t
    assert loaded.messages(make_product()) == t.messages(make_product())
    assert user_lines(loaded.messages(make_product()))[3] == "Brand: Fernhill & Co."
    assert PromptTemplate.from_dict(t.to_dict() | {"unknown_future_field": 1}) == t
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_load_errors_are_user_errors(tmp_path):
    with pytest.raises(CatalogWriterError, match="not found"):
        PromptTemplate.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogWriterError, match=r"not a valid template\.json"):
        PromptTemplate.load(bad)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"version": TEMPLATE_VERSION + 1}), encoding="utf-8")
    with pytest.raises(CatalogWriterError, match="newer"):
        PromptTemplate.load(newer)
