"""The sentence-level claim checker on hand-made strings, and its precision/recall on labelled model outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog_writer.quality.claims import check, drop_unsupported_sentences, split_sentences, unsupported_claims
from catalog_writer.quality.house import HousePhrases, load_house
from catalog_writer.quality.metrics import attribute_coverage, missing_attributes

FIXTURES = Path(__file__).parent / "fixtures"


def kinds(text, facts, title="", **kw):
    return [(c.kind, c.text) for s in check(text, facts, title, **kw) for c in s.claims]


def test_the_issue_examples_are_seen():
    facts = {"Material": "rapeseed wax", "Scent": "Fig leaf"}
    assert kinds("Hand-poured from soy wax with notes of cedarwood; it burns for forty hours.", facts) == [
        ("provenance", "Hand-poured"), ("material", "soy wax"), ("scent", "cedarwood"), ("number", "forty hours")]
    facts = {"Material": "lambswool", "Origin": "Woven in Wales"}
    assert kinds("OEKO-TEX certified and Made in Portugal.", facts) == [
        ("certification", "OEKO-TEX certified"), ("origin", "Made in Portugal")]
    assert kinds("Choose from sage, olive or oatmeal.", {"Colour": "Moss"}) == [
        ("colour", "sage"), ("colour", "olive"), ("colour", "oatmeal")]
    assert kinds("It should be washed at least once a year.", {"Care": "Hand wash cold"}) == [
        ("care", "once a year")]
    assert kinds("Designed by a local craftswoman.", {}) == [("provenance", "Designed by a local craftswoman")]
    assert kinds("Ghilly's cottage is nestled at the foot of a hill.", {}) == [("content", "Ghilly")]


def test_backed_claims_pass():
    facts = {"Care": "Hand wash cold, dry flat", "Origin": "Woven in the Scottish Borders, UK",
             "Material": "alpaca blend", "Colour": "Slate"}
    text = ("Hand wash it in cold water and dry it flat. Woven in the Scottish Borders, UK. "
            "A woolly alpaca scarf in slate grey. It's warm; no two are quite alike.")
    assert unsupported_claims(text, facts, "Vetch Scarf") == []
    # A care fact backs its own instruction only: "Hand wash" does not back "made by hand".
    assert kinds("Made by hand in our workshop.", facts) == [("provenance", "Made by hand in our workshop")]
    assert kinds("Burns for 40 hours.", {"Burn time": "forty hours"}) == []
    assert kinds("A hoodie with an adjustable hood.", {}, "Hero Hoodie") == [("content", "adjustable")]


def test_house_phrases_are_voice_but_not_for_hard_claims():
    brand = ["A mug. Made by people we know by name, a short drive from us.",
             "A throw. Made by people we know by name, a short drive from us. Machine wash at 30.",
             "A scarf, made by people we know by name. Machine wash at 30.",
             "A towel. Thrown by people we know by name."]
    house = HousePhrases.learn(brand)
    assert ("by", "peopl", "we", "know", "by", "name") in house.phrases
    text = "Made by people we know by name. Machine wash at 30."
    assert kinds(text, {}) == [("provenance", "Made by people"), ("care", "Machine wash"), ("number", "30")]
    # The house line is voice; a care claim and a number stay claims however often the brand writes them.
    assert kinds(text, {}, house=house) == [("care", "Machine wash"), ("number", "30")]


def test_house_phrases_round_trip(tmp_path):
    house = HousePhrases.learn(["Luma keeps you dry. Wash it cold."] * 4)
    house.save(tmp_path / "house_phrases.json")
    again = load_house(tmp_path)
    assert again.phrases == house.phrases and again.names == house.names and again.documents == 4
    assert load_house(tmp_path / "nothing") is None and load_house(None) is None


def test_neighbour_leakage():
    exemplar = {"title": "Merino Crew Beanie", "Material": "Merino wool", "Colour": "Charcoal, Pink, Forest"}
    facts = {"Material": "recycled wool blend", "Colour": "Charcoal"}
    text = "A merino beanie in Charcoal, Pink and Forest. Softer than the Crew."
    assert kinds(text, facts, "Tarn Beanie", exemplars=[exemplar]) == [
        ("leakage", "merino"), ("leakage", "Pink"), ("leakage", "Forest"), ("leakage", "Crew")]
    # Without exemplars the same words are still unsupported, under their plain kinds.
    assert kinds(text, facts, "Tarn Beanie") == [
        ("material", "merino"), ("colour", "Pink"), ("colour", "Forest"), ("content", "Crew")]


def test_numbers_keep_their_units():
    care = {"Care": "Machine wash 40°C, tumble dry low"}
    assert kinds("Machine wash it at 40%.", care) == [("number", "40%")]
    assert kinds("Machine wash it at 40°C.", care) == kinds("Machine wash it at 40 degrees.", care) == []
    assert kinds("Machine wash it at 40.", care) == []  # a bare number is backed by the value with any unit
    sizes = {"Size": "300 ml, 400 ml"}
    assert kinds("Holds 300ml or 400 millilitres.", sizes) == []
    assert kinds("Holds 300 g.", sizes) == [("number", "300 g")]
    candle = {"Care": "Trim the wick to 5 mm, burn no more than 4 hours"}
    assert kinds("Put it out after four hours.", candle) == []
    assert kinds("Burns for four days. Trim the wick to 5 cm.", candle) == [("number", "four days"),
                                                                           ("number", "5 cm")]
    # "130 x 180 cm": 130 carries no unit of its own, so "130 cm" stays backed
    assert kinds("It is 130 cm wide.", {"Size": "130 x 180 cm"}) == []


def test_care_frequency_and_no_need_to_wash_are_care_claims():
    throw = {"Care": "Air outdoors, spot clean, dry clean only"}
    assert kinds("Hang it out, spot clean, and dry clean it rarely.", throw) == [("care", "clean it rarely")]
    assert kinds("It rarely needs it.", throw) == [("care", "rarely needs it")]
    assert kinds("It does not need to be washed.", throw) == [("care", "does not need to be washed")]
    assert kinds("Wash it rarely.", {"Care": "Wash rarely, by hand"}) == []


def test_making_properties_fits_and_labels():
    tee = {"Material": "Cotton"}
    assert kinds("Hand-dyeing and hand-brushed.", tee) == [("provenance", "Hand-dyeing"),
                                                            ("provenance", "hand-brushed")]
    for text, claim in [("Reinforced heel", "Reinforced"), ("No itch", "No itch"),
                        ("It keeps you dry.", "keeps you dry"), ("Semi-fitted.", "Semi-fitted"),
                        ("Crew neckline.", "Crew neckline"), ("It allows you to breathe easily.", "breathe easily"),
                        ("Plenty of ventilation.", "ventilation")]:
        assert kinds(text, tee, "Desiree Tee") == [("content", claim)], text
    assert kinds("It keeps you dry.", {"Climate": "Rainy, Cool"}, "Inez Jacket") == []  # rain backs "dry"
    # an unknown word used as a field label names something; field names and fact words do not
    towel = {"Colour": "Natural", "Care": "Wipe clean", "Type": "Tote"}
    assert kinds("Bark: Natural.", towel) == [("content", "Bark")]
    assert kinds("Colours: Natural. Care: wipe clean. Tote: Natural. Breathing: a great choice.", towel) == []
    # apposition names need an article after the comma: "Awkward, but..." is an adjective
    assert kinds("Awkward, but it's natural.", {}) == []
    assert kinds("Spartakos, the best tank.", {}) == [("content", "Spartakos")]


def test_parts_every_product_of_its_type_has():
    assert kinds("Sleeves are soft.", {"Material": "Wool"}, "Chaz Kangeroo Hoodie") == []
    assert kinds("Sleeves are soft.", {"Material": "Wool"}, "Daria Bikram Pant") == [("content", "Sleeves")]
    assert kinds("Ribbed hem.", {}, "Chaz Kangeroo Hoodie") == [("content", "Ribbed")]  # the hem is; ribbing is not


def test_split_sentences_bullets_and_abbreviations():
    text = 'Soft, e.g. for cold days. Warm!\n\n- No itch\n- Adjustable hood.• Thumbhole cuffs.\n8" zips. "Quoted." Next'
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Soft, e.g. for cold days.", "Warm!", "No itch", "Adjustable hood.", "Thumbhole cuffs.", '8" zips.',
        '"Quoted."', "Next"]


def test_drop_unsupported_sentences_keeps_layout():
    facts = {"Material": "merino wool", "Care": "Hand wash"}
    text = "A merino scarf. Made in Portugal.\n\n- Hand wash\n- Zip pocket\n\nUse it well."
    assert drop_unsupported_sentences(text, facts) == "A merino scarf.\n\n- Hand wash\n\nUse it well."
    assert drop_unsupported_sentences("A merino scarf.", facts) == "A merino scarf."
    assert drop_unsupported_sentences("- Made in Portugal. Soft merino.\n- Zip pocket", facts) == "- Soft merino."


def test_coverage_credits_paraphrase_but_not_shared_words():
    assert attribute_coverage("A woolly alpaca scarf.", {"Material": "alpaca blend"}) == 1.0
    assert attribute_coverage("A soft lambswool scarf.", {"Material": "brushed lambswool"}) == 1.0
    assert attribute_coverage("Machine wash it at 40 and tumble dry it on low.",
                              {"Care": "Machine wash 40°C, tumble dry low"}) == 1.0
    assert attribute_coverage("Burns for four hours.", {"Burn time": "4 hours"}) == 1.0
    assert attribute_coverage("A wool scarf.", {"Material": "alpaca blend"}) == 0.0
    assert attribute_coverage("Silky to the touch.", {"Material": "Silk"}) == 1.0
    facts = {"Colour": "Ochre Stripe, Blue Stripe"}
    # "stripes" is shared by both values: only the distinctive word ("blue") credits one.
    assert missing_attributes("In blue stripes.", facts) == ["Colour: Ochre Stripe"]


def _fixture(name: str = "claims_labelled.jsonl"):
    rows = [json.loads(line) for line in (FIXTURES / name).read_text("utf-8").splitlines() if line.strip()]
    houses = json.loads((FIXTURES / "claims_house.json").read_text("utf-8"))
    return rows, {k: HousePhrases.from_dict(v) for k, v in houses.items()}


@pytest.mark.parametrize("name", ["claims_labelled.jsonl", "claims_heldout.jsonl"])
def test_labelled_set_precision_and_recall(name):
    """Goal of issue 11: recall >= 0.85 and precision >= 0.8 on sentences of the model's own drafts, on the
    set the word lists were tuned on and on the held-out set (claims_heldout.md)."""
    rows, houses = _fixture(name)
    assert len(rows) >= 150
    tp = fp = fn = 0
    for r in rows:
        flagged = bool(unsupported_claims(r["sentence"], r["facts"], r["title"], houses.get(r["brand"]),
                                          r.get("exemplars")))
        truth = r["label"] == "unsupported"
        tp += flagged and truth
        fp += flagged and not truth
        fn += truth and not flagged
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    assert recall >= 0.85, (precision, recall)
    assert precision >= 0.8, (precision, recall)
    assert 0.2 < sum(r["label"] == "unsupported" for r in rows) / len(rows) < 0.8  # both classes well present


@pytest.mark.parametrize("text", ["", "   ", "\n\n- \n"])
def test_empty_text(text):
    assert check(text, {"Material": "Wool"}) == [] and drop_unsupported_sentences(text, {}) == text


def test_prepare_marks_and_optionally_drops_unsupported_reference_sentences(tmp_path):
    from catalog_writer.dataset.pairs import prepare_dataset
    from catalog_writer.core.fileio import read_jsonl as load_jsonl
    from catalog_writer.ingest.catalog import read_catalog

    cat = read_catalog(Path(__file__).parent.parent / "data" / "demo-catalog.csv")
    kept = prepare_dataset(cat, tmp_path / "kept", exemplars=0)
    claims = kept["claims"]
    assert claims["drop_unsupported_sentences"] is False and claims["house_phrases"] > 50
    assert 0.02 < claims["share_all"] < 0.5 and set(claims["share"]) == {"train", "val", "test"}
    assert load_house(tmp_path / "kept") is not None
    train = load_jsonl(tmp_path / "kept" / "train.jsonl")
    marked = [r for r in train if r["reference_unsupported"]]
    assert marked and all(s["claims"] for r in marked for s in r["reference_unsupported"])
    dropped = prepare_dataset(cat, tmp_path / "dropped", exemplars=0, drop_unsupported_sentences=True)
    assert dropped["claims"]["cleaned"] > 0
    by_id = {r["id"]: r for r in load_jsonl(tmp_path / "dropped" / "train.jsonl")}
    for r in marked:
        target = by_id[r["id"]]["completion"][0]["content"]
        if target != r["completion"][0]["content"]:  # cleaned: none of its marked sentences is left
            assert not any(s["text"] in target for s in r["reference_unsupported"])
    # test keeps the published description whatever the option
    refs = lambda d: [r["completion"] for r in load_jsonl(tmp_path / d / "test.jsonl")]  # noqa: E731
    assert refs("dropped") == refs("kept")


def test_contradictions_are_claims_against_recorded_facts():
    from catalog_writer.quality.claims import Claim, contradicts, drop_unsupported_sentences

    facts = {"Color": "Blue, Green", "Material": "Fleece"}
    assert contradicts(Claim("colour", "Cream", 0, 5), facts)
    assert contradicts(Claim("material", "cotton", 0, 6), facts)
    assert not contradicts(Claim("colour", "Cream", 0, 5), {"Material": "Fleece"})  # no colour recorded
    assert not contradicts(Claim("content", "waterproof", 0, 10), facts)
    assert contradicts(Claim("leakage", "Merino", 0, 6), {})
    text = "A blue fleece hoodie. Made of 100% cotton. Waterproof and warm."
    assert drop_unsupported_sentences(text, facts, contradictions_only=True) == "A blue fleece hoodie. Waterproof and warm."
    assert drop_unsupported_sentences(text, facts) == "A blue fleece hoodie."
