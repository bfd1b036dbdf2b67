"""Decoding settings: one home for the defaults, validation through the real command line."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from adapter_helpers import save_lora
from test_user_errors import assert_one_line_error, run_cli

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.inference.settings import GenerationSettings, describe, option


def _command(name: str):
    import typer.main

    from catalog_writer.app.cli import app

    return typer.main.get_command(app).commands[name]


@pytest.mark.parametrize("command", ["generate", "evaluate"])
def test_cli_defaults_and_help_come_from_the_settings(command):
    defaults = GenerationSettings()
    params = {p.name: p for p in _command(command).params}
    checked = 0
    for f in fields(GenerationSettings):
        param = next((p for p in params.values() if option(f.name) in p.opts), None)
        if param is None:
            continue
        assert param.default == getattr(defaults, f.name), f.name
        assert param.help.startswith(describe(f.name))
        checked += 1
    assert checked >= (11 if command == "generate" else 3)


def test_every_field_is_documented_and_has_an_option():
    for f in fields(GenerationSettings):
        assert len(describe(f.name)) > 20, f.name
        assert f.metadata["option"], f.name


def test_cli_args_reproduce_settings():
    s = GenerationSettings(do_sample=True, temperature=0.9, target_words=60, best_of=3)
    assert s.cli_args() == ["--sample", "--temperature", "0.9", "--best-of", "3", "--target-words", "60"]
    assert GenerationSettings().cli_args() == []
    assert GenerationSettings(strict=False).cli_args() == ["--no-strict"]
    assert GenerationSettings(strict=True).cli_args() == ["--strict"]


def test_budget_order():
    length = {"max_new_tokens": 120}
    assert GenerationSettings().budget() == 160
    assert GenerationSettings().budget(length) == 120
    assert GenerationSettings(target_words=40).budget(length) == 84  # a word target beats the profile
    assert GenerationSettings(max_new_tokens=30, target_words=40).budget(length) == 30  # explicit beats both
    s = GenerationSettings(best_of=3).effective(length)
    assert s.do_sample and s.max_new_tokens == 120 and s.effective() == s  # idempotent


CATALOG = Path(__file__).parent / "fixtures" / "catalogs" / "shopify_old.csv"


@pytest.mark.parametrize(("args", "needles"), [
    (["--sample", "--temperature", "0"], ["--temperature", "above 0 when sampling", "got 0.0"]),
    (["--variants", "3", "--temperature", "0"], ["--temperature", "when sampling"]),
    (["--top-p", "1.5"], ["--top-p", "at most 1", "got 1.5"]),
    (["--max-new-tokens", "0"], ["--max-new-tokens", "at least 1", "got 0"]),
    (["--batch-size", "0"], ["--batch-size", "at least 1"]),
    (["--variants", "0"], ["--variants", "at least 1"]),
    (["--best-of", "0"], ["--best-of", "at least 1"]),
    (["--repetition-penalty", "0"], ["--repetition-penalty", "above 0"]),
])
def test_generate_rejects_bad_decoding_options(args, needles, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["generate", CATALOG, "-o", out, "--base-model", tmp_path / "no-model", *args],
                           capsys, monkeypatch)
    assert_one_line_error(code, err, *needles)
    assert not list(tmp_path.iterdir())  # nothing written, no model looked for


def test_evaluate_rejects_batch_size_zero(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["evaluate", tmp_path / "test.jsonl", "--batch-size", "0"], capsys, monkeypatch)
    assert_one_line_error(code, err, "--batch-size", "at least 1")


def test_greedy_ignores_temperature():
    GenerationSettings(temperature=0).validate()  # greedy: no temperature is used
    with pytest.raises(CatalogWriterError, match="--temperature"):
        GenerationSettings(temperature=0, best_of=2).effective()  # best-of samples


def test_repetition_controls_skip_the_prompt():
    """A token the prompt used keeps its score; the same token once generated is penalised."""
    import torch

    from catalog_writer.inference.processors import generated_only

    prompt, generated = [5, 6, 7, 8], [9, 10, 9]
    ids = torch.tensor([prompt + generated])
    scores = torch.ones(1, 16)
    penalty = GenerationSettings(repetition_penalty=2.0, no_repeat_ngram_size=0)
    out = generated_only(penalty, len(prompt))(ids, scores.clone())
    assert out[0, 5:9].tolist() == [1.0] * 4  # prompt tokens: no penalty
    assert out[0, 9].item() == 0.5 and out[0, 10].item() == 0.5  # generated tokens: penalised
    assert out[0, 11].item() == 1.0
    # no-repeat n-grams look at the generated tokens only: "9 10" was generated, so 10 after 9 is banned,
    # while "7 8" from the prompt may be written again.
    ban = generated_only(GenerationSettings(repetition_penalty=1.0, no_repeat_ngram_size=2), len(prompt))
    out = ban(ids, scores.clone())
    assert out[0, 10].item() == float("-inf") and torch.isfinite(out[0, [8, 9]]).all()
    ids2 = torch.tensor([prompt + [7]])
    assert torch.isfinite(ban(ids2, scores.clone())).all()  # "7 8" is a prompt bigram: still allowed
    assert len(generated_only(GenerationSettings(repetition_penalty=1.0, no_repeat_ngram_size=0), 4)) == 0
    assert len(generated_only(GenerationSettings(), 4)) == 1  # the default: no-repeat 3-grams only


def test_generator_passes_prompt_blind_processors(tiny_model_dir):
    """The engine turns the built-in (prompt-counting) penalty off and passes ours, cut at the prompt."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, RepetitionPenaltyLogitsProcessor

    from catalog_writer.inference.generate import Generator

    gen = Generator.from_loaded(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                AutoTokenizer.from_pretrained(tiny_model_dir))
    seen, inner = [], gen.model.generate

    def spy(**kwargs):
        seen.append(kwargs)
        return inner(**kwargs)

    gen.model.generate = spy
    prompts = [[{"role": "user", "content": "Wool scarf."}], [{"role": "user", "content": "A longer wool scarf."}]]
    gen.generate_messages(prompts, GenerationSettings(max_new_tokens=2, repetition_penalty=1.3,
                                                      no_repeat_ngram_size=0, batch_size=2))
    (kw,) = seen
    assert kw["repetition_penalty"] == 1.0 and kw["no_repeat_ngram_size"] == 0
    (proc,) = kw["logits_processor"]
    assert isinstance(proc, RepetitionPenaltyLogitsProcessor) and proc.penalty == 1.3
    assert proc.prompt_ignore_length == kw["input_ids"].shape[1]


def test_length_profile_sets_the_default_budget():
    from catalog_writer.dataset.lengths import length_profile

    texts = [" ".join(["word"] * n) for n in (50, 60, 70, 70, 80, 90, 100)] + ["  "]
    p = length_profile(texts)
    assert p["n"] == 7 and p["median_words"] == 70 and p["p10_words"] == 56 and p["p90_words"] == 94
    assert p["max_new_tokens"] == 132  # ceil(94 * 1.4)
    assert length_profile([]) is None and length_profile(["one two"])["max_new_tokens"] == 3
    assert GenerationSettings().effective(p).max_new_tokens == 132


def test_prepare_saves_the_profile_and_evaluation_uses_it(tmp_path):
    """prepare -> template.json (copied into the adapter) carries the budget; evaluation decodes with it."""
    from catalog_writer.dataset import pairs
    from catalog_writer.dataset.prompts import PromptTemplate
    from catalog_writer.evaluation.evaluate import decoding_settings
    from catalog_writer.ingest.catalog import read_catalog

    demo = Path(__file__).resolve().parent.parent / "data" / "demo-catalog.csv"
    manifest = pairs.prepare_dataset(read_catalog(demo), tmp_path / "data", seed=13)
    template = PromptTemplate.load(tmp_path / "data" / "template.json")
    length = template.length
    assert length == manifest["template"]["length"]
    # the brand's own claim share, which turns --strict on by default (the demo's copy is mostly faithful)
    assert template.reference_unsupported_share == manifest["claims"]["share"]["train"] < 0.25
    # and how templated it is, which sets the default copy guidance (Fernhill repeats its house template)
    assert template.reference_self_similarity >= 0.15
    assert length["n"] == manifest["counts"]["train"] and 55 <= length["median_words"] <= 80
    assert 100 <= length["max_new_tokens"] < 160  # the demo's references are ~70 words
    settings = decoding_settings(tmp_path / "data" / "test.jsonl", batch_size=4)
    assert settings.max_new_tokens == length["max_new_tokens"] and not settings.do_sample


class Canned:
    """An engine whose candidates are given texts, in order (selection is tested without a model)."""

    def __new__(cls, texts: list[str]):
        from catalog_writer.dataset.prompts import PromptTemplate
        from catalog_writer.inference.generate import Engine

        class _Canned(Engine):
            def _complete(self, prompts, s, progress, avoid=None):
                return [[(texts[k % len(texts)], 7, False) for k in range(s.candidates)] for _ in prompts]

        engine = _Canned()
        engine.template, engine.model_version = PromptTemplate(), "canned@v1"
        return engine


SCARF = dict(id="heron-scarf", title="Heron Scarf", brand="Fernhill & Co.", attributes={"Material": "alpaca blend"},
             options={"Colour": ["Slate", "Moss"]})
CANDIDATES = [
    "A merino scarf in red. Made in Portugal.",           # two invented facts
    "An alpaca blend scarf in Slate.",                   # faithful, half the colours
    "An alpaca blend scarf in Slate and Moss. It is OEKO-TEX certified.",  # full coverage, one claim
    "An alpaca blend scarf in Slate and Moss.",          # faithful, full coverage
]


def test_best_of_keeps_fewest_claims_then_highest_coverage():
    from catalog_writer.ingest.catalog import Product

    product = Product(**SCARF)
    (greedy,) = Canned(CANDIDATES).generate([product], GenerationSettings(drop_contradictions=False))[0]
    assert greedy.text == CANDIDATES[0] and greedy.flags["unsupported"]  # one candidate: kept, flagged
    (default,) = Canned(CANDIDATES).generate([product], GenerationSettings())[0]
    assert default.text == "Made in Portugal."  # merino and red contradict its facts; the origin only goes beyond
    (best,) = Canned(CANDIDATES).generate([product], GenerationSettings(best_of=4))[0]
    assert best.text == CANDIDATES[3] and best.flags["unsupported"] == [] and best.flags["coverage"] == 1.0
    (of3,) = Canned(CANDIDATES[:3]).generate([product], GenerationSettings(best_of=3))[0]
    assert of3.text == CANDIDATES[1]  # no claims beats full coverage with a claim
    two = Canned(CANDIDATES).generate([product], GenerationSettings(best_of=2, num_variants=2))[0]
    assert [d.text for d in two] == [CANDIDATES[3], CANDIDATES[1]] and two[0].settings["best_of"] == 2


def test_strict_drops_unsupported_sentences():
    from catalog_writer.ingest.catalog import Product

    product = Product(**SCARF)
    (d,) = Canned(CANDIDATES[2:3]).generate([product], GenerationSettings(strict=True))[0]
    assert d.text == "An alpaca blend scarf in Slate and Moss." and d.flags["unsupported"] == []
    assert "OEKO" not in d.html
    # strict candidates compete on what they keep: the one left with full coverage wins
    (d,) = Canned(CANDIDATES[:3]).generate([product], GenerationSettings(strict=True, best_of=3))[0]
    assert d.text == "An alpaca blend scarf in Slate and Moss."
    # by default strict follows the voice: on when its own references are mostly faithful
    engine = Canned(CANDIDATES[2:3])
    engine.template.reference_unsupported_share = 0.1
    (d,) = engine.generate([product], GenerationSettings())[0]
    assert d.text == "An alpaca blend scarf in Slate and Moss." and d.settings["strict"] is True
    engine.template.reference_unsupported_share = 0.6
    (d,) = engine.generate([product], GenerationSettings())[0]
    assert "OEKO-TEX" in d.text and d.settings["strict"] is False


def test_copy_guidance_default_follows_how_templated_the_voice_is():
    """8 where the brand's descriptions repeat a house template, 2 where each is written anew; unknown
    (older templates): 8, the default before it was measured; an explicit --copy-bias wins."""
    from catalog_writer.inference.settings import TEMPLATED_SIMILARITY
    from catalog_writer.ingest.catalog import Product

    assert GenerationSettings().copy_bias_for(None) == 8.0
    assert GenerationSettings().copy_bias_for(TEMPLATED_SIMILARITY) == 8.0
    assert GenerationSettings().copy_bias_for(0.05) == 2.0
    assert GenerationSettings(copy_bias=0.0).copy_bias_for(0.05) == 0.0
    engine = Canned(CANDIDATES[3:])
    engine.template.reference_self_similarity = 0.05
    (d,) = engine.generate([Product(**SCARF)], GenerationSettings())[0]
    assert d.settings["copy_bias"] == 2.0
    assert GenerationSettings(copy_bias=4.0).cli_args() == ["--copy-bias", "4.0"]


def test_generator_decodes_best_of_candidates(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from catalog_writer.inference.generate import Generator
    from catalog_writer.ingest.catalog import Product

    gen = Generator.from_loaded(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                                AutoTokenizer.from_pretrained(tiny_model_dir))
    seen = []
    inner = gen._complete
    gen._complete = lambda *a, **k: seen.append(out := inner(*a, **k)) or out
    drafts = gen.generate([Product(**SCARF)], GenerationSettings(max_new_tokens=3, best_of=3, num_variants=2))
    assert len(seen[0][0]) == 6 and len(drafts[0]) == 2  # 2 variants x 3 candidates decoded, 2 kept


@pytest.fixture()
def eval_data(tiny_model_dir, tmp_path):
    """A two-product test set like `prepare` writes, and a random LoRA adapter on the tiny model."""
    import json

    from catalog_writer.dataset.prompts import PromptTemplate

    data = tmp_path / "data"
    template = PromptTemplate(target_words=3)  # a 7-token budget keeps the tiny model quick
    template.save(data / "template.json")
    rows = [("Heron Scarf", {"Material": "alpaca blend", "Colour": "Slate"}, "An alpaca blend scarf in Slate."),
            ("Oak Board", {"Material": "Oak", "Length": "40 cm"}, "A 40 cm serving board of solid oak.")]
    with (data / "test.jsonl").open("w") as f:
        for i, (title, facts, ref) in enumerate(rows):
            f.write(json.dumps({"id": f"p{i}", "title": title, "attributes": facts,
                                "prompt": template.messages_from_facts(title, facts),
                                "completion": [{"role": "assistant", "content": ref}]}) + "\n")
    adapter = save_lora(tiny_model_dir, tmp_path / "adapter", seed=1, template=template,
                        r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    return data / "test.jsonl", adapter


def test_evaluate_best_of_block(eval_data, tiny_model_dir, tmp_path, capsys, monkeypatch):
    import json

    test_file, adapter = eval_data
    code, out, err = run_cli(["evaluate", test_file, "--adapter", adapter, "--base-model", tiny_model_dir,
                              "--best-of", "3", "--strict", "--json", "--batch-size", "2", "--report",
                              tmp_path / "report", "--no-base"], capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert "base" not in result  # --no-base: the base model was not run
    assert set(result["tuned_best_of"]) == set(result["tuned"])  # same keys beside tuned
    assert result["decoding_best_of"]["best_of"] == 3 and result["decoding_best_of"]["strict"] is True
    assert result["decoding_best_of"]["do_sample"] is True and result["decoding"]["do_sample"] is False
    assert result["tuned_best_of"]["unsupported_per_output"] == 0.0  # strict leaves no unsupported sentence
    md = (tmp_path / "report" / "report.md").read_text()
    assert "tuned_best_of" in md.split("## Metrics")[1].splitlines()[2]
    rows = [json.loads(line) for line in (tmp_path / "report" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["system"] for r in rows).count("tuned_best_of") == 2


def test_evaluate_strict_strips_the_greedy_drafts(eval_data, tiny_model_dir, tmp_path, capsys, monkeypatch):
    """--strict: tuned and base are the greedy drafts minus their unsupported sentences (no second run),
    and tuned_plain keeps the drafts before."""
    import json

    from catalog_writer.inference import generate

    loads = []
    monkeypatch.setattr(generate.Generator, "close", lambda self: loads.append(self))
    # The random tiny model writes no claims: its drafts here each end with one the facts do not back.
    draft = "A fine thing to own. It is OEKO-TEX certified."
    monkeypatch.setattr(generate.Generator, "complete_messages",
                        lambda self, prompts, s, avoid=None: [[(draft, 9, False)] for _ in prompts])
    test_file, adapter = eval_data
    code, out, err = run_cli(["evaluate", test_file, "--adapter", adapter, "--base-model", tiny_model_dir,
                              "--strict", "--json", "--batch-size", "2", "--report", tmp_path / "report"],
                             capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["tuned"]["unsupported_per_output"] == result["base"]["unsupported_per_output"] == 0.0
    assert set(result["tuned_plain"]) == set(result["tuned"]) and "tuned_best_of" not in result
    assert len(loads) == 2  # tuned and base: strict ran no model of its own
    assert result["decoding"]["strict"] is True and result["strict_from"] == "--strict"
    assert result["tuned"]["model_version"].endswith(" --strict")
    assert "tuned_plain: the same tuned drafts before" in (tmp_path / "report" / "report.md").read_text()
    assert result["tuned"]["mean_words"] == 5 and result["tuned_plain"]["mean_words"] == 9
    assert result["tuned_plain"]["outputs_with_unsupported"] == 1.0


@pytest.mark.parametrize(("share", "flag", "strict"), [(0.1, None, True), (0.6, None, False), (None, None, False),
                                                       (0.1, "--no-strict", False), (0.6, "--strict", True)])
def test_strict_default_follows_the_brands_claim_share(eval_data, tiny_model_dir, capsys, monkeypatch,
                                                       share, flag, strict):
    """Without --strict/--no-strict, strict is on when few of the brand's own reference sentences are
    flagged (template.reference_unsupported_share <= 0.25), for evaluate as for generation."""
    import json

    from catalog_writer.dataset.prompts import PromptTemplate
    from catalog_writer.inference.settings import STRICT_AUTO_SHARE

    test_file, adapter = eval_data
    path = test_file.parent / "template.json"
    template = PromptTemplate.load(path)
    template.reference_unsupported_share = share
    template.save(path)
    assert GenerationSettings(strict=None if flag is None else flag == "--strict").effective(
        None, share).strict is strict
    assert (GenerationSettings().strict_for(STRICT_AUTO_SHARE), GenerationSettings().strict_for(0.26)) == (True, False)
    code, out, err = run_cli(["evaluate", test_file, "--json", "--batch-size", "2", "--base-model", tiny_model_dir,
                              *([flag] if flag else [])], capsys, monkeypatch)
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["decoding"]["strict"] is strict
    assert result["base"]["model_version"].endswith("--strict") is strict
    assert result["decoding"]["copy_bias"] == 8.0  # the template does not say how templated the voice is


def test_evaluate_best_of_needs_an_adapter(eval_data, capsys, monkeypatch):
    code, _, err = run_cli(["evaluate", eval_data[0], "--best-of", "2"], capsys, monkeypatch)
    assert_one_line_error(code, err, "--best-of", "--adapter")


def test_contradicting_sentences_go_by_default_even_without_strict():
    """A colour the facts list otherwise is wrong, not unrecorded: dropped unless --keep-contradictions.
    A feature the facts do not mention stays (strict is off for this voice)."""
    from catalog_writer.ingest.catalog import Product

    text = "An alpaca blend scarf in Slate. A cream scarf with black accents. Soft and warm, with a fringe."
    engine = Canned([text])
    engine.template.reference_unsupported_share = 0.6  # strict off
    (d,) = engine.generate([Product(**SCARF)], GenerationSettings())[0]
    assert d.text == "An alpaca blend scarf in Slate. Soft and warm, with a fringe."
    (kept,) = engine.generate([Product(**SCARF)], GenerationSettings(drop_contradictions=False))[0]
    assert kept.text == text and d.settings["drop_contradictions"] is True
    assert GenerationSettings(drop_contradictions=False).cli_args() == ["--keep-contradictions"]
