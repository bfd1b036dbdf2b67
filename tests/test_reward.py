"""Reward model: bootstrap pairs, training on the tiny model, scoring, best-of by reward, the registry."""

from __future__ import annotations

import json
import shutil

import pytest
from adapter_helpers import save_lora
from typer.testing import CliRunner

from catalog_writer.app.cli import app
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.improve import bootstrap
from catalog_writer.inference.selection import Checker, pick

FACTS = {"Material": "Merino wool", "Colour": "Grey"}
PROMPT = [{"role": "system", "content": "You write copy."},
          {"role": "user", "content": "Product: Wool socks\nMaterial: Merino wool\nColour: Grey"}]


def _record(pid: str, reference: str) -> dict:
    return {"id": pid, "title": "Wool socks", "attributes": FACTS, "prompt": PROMPT,
            "completion": [{"role": "assistant", "content": reference}]}


def test_bootstrap_pairs_follow_the_claim_checker():
    clean = _record("socks", "Soft merino wool socks in grey.")
    claimy = _record("socks-2", "Grey merino wool socks. Machine washable at 40 degrees.")  # 2 claims itself
    drafts = [["Merino socks.", "Silk socks in red.", "", "Silk socks in red."],
              ["Merino socks.", "Silk socks in red.", "Silk socks in grey, machine washable at 30, by hand."]]
    pairs = bootstrap.bootstrap_pairs([clean, claimy], drafts, per_product=10)
    got = [(p["product_id"], p["source"], p["chosen"], p["rejected"], p["chosen_unsupported"],
            p["rejected_unsupported"]) for p in pairs]
    assert ("socks", "reference", "Soft merino wool socks in grey.", "Silk socks in red.", 0, 2) in got
    assert ("socks", "faithful", "Merino socks.", "Silk socks in red.", 0, 2) in got
    # an empty draft says nothing and a repeated one counts once: exactly these two pairs for "socks"
    assert sum(g[0] == "socks" for g in got) == 2
    # the reference with 2 claims only beats drafts with more: not "Silk socks in red." (2), but the 4-claim one
    refs = [g for g in got if g[0] == "socks-2" and g[1] == "reference"]
    assert [g[3] for g in refs] == ["Silk socks in grey, machine washable at 30, by hand."] and refs[0][5] > 2
    assert all(p["prompt"] == PROMPT for p in pairs)
    # at most per_product of each kind per product, chosen reproducibly
    few = bootstrap.bootstrap_pairs([claimy], drafts[1:], per_product=1, seed=3)
    assert [p["source"] for p in few] == ["reference", "faithful"]
    assert few == bootstrap.bootstrap_pairs([claimy], drafts[1:], per_product=1, seed=3)
    assert bootstrap.counts(pairs) == {"reference": 2, "faithful": 3}
    # reference pairs capped on their own (0: none), faithful pairs untouched
    no_ref = bootstrap.bootstrap_pairs([clean, claimy], drafts, per_product=10, reference_per_product=0)
    assert bootstrap.counts(no_ref) == {"faithful": 3}
    both = [drafts[1], drafts[1]]  # two drafts beat the clean reference, one the claimy reference
    assert bootstrap.counts(bootstrap.bootstrap_pairs([clean, claimy], both, per_product=10))["reference"] == 3
    one_ref = bootstrap.bootstrap_pairs([clean, claimy], both, per_product=10, reference_per_product=1)
    assert bootstrap.counts(one_ref) == {"reference": 2, "faithful": 4}
    assert "reference_per_product" in bootstrap.PairSettings.keys()


def test_review_pairs_come_from_the_preference_export(tmp_path):
    f = tmp_path / "pref.jsonl"
    row = {"prompt": PROMPT, "chosen": [{"role": "assistant", "content": "Good."}],
           "rejected": [{"role": "assistant", "content": "Bad."}], "source": "ab", "product_id": "p1", "margin": None}
    f.write_text(json.dumps(row) + "\n")
    assert bootstrap.review_pairs(f) == [{"prompt": PROMPT, "chosen": "Good.", "rejected": "Bad.", "source": "ab",
                                         "product_id": "p1", "margin": None}]


# ---- the tiny model -----------------------------------------------------------------------------------

RECIPE = """
model: {top_layers: 1}
pairs: {window: 96, samples_per_product: 3, temperature: 1.0, pairs_per_product: 2, held_out: 0.3, seed: 1,
        max_new_tokens: 16}
lora: {r: 4, lora_alpha: 8, target_modules: [q_proj, v_proj, down_proj]}
reward: {learning_rate: 1.0e-3, max_steps: 2, per_device_train_batch_size: 4, bf16: false, report_to: [],
         save_strategy: "no", logging_steps: 1, activation_checkpointing: false}
"""


@pytest.fixture()
def dataset(tmp_path):
    from train_helpers import make_dataset

    data = make_dataset(tmp_path / "data", n_train=8, n_val=2)
    shutil.copy(data / "val.jsonl", data / "test.jsonl")
    return data


def test_reward_train_makes_a_model_that_scores(dataset, tiny_model_dir, tmp_path):
    from catalog_writer.inference.reward_scorer import RewardScorer
    from catalog_writer.training import registry

    (tmp_path / "reward.yaml").write_text(RECIPE)
    out = tmp_path / "models" / "rewards" / "tiny"
    res = CliRunner().invoke(app, ["reward", "train", str(dataset), "-o", str(out), "--base-model",
                                   str(tiny_model_dir), "--config", str(tmp_path / "reward.yaml")])
    assert res.exit_code == 0, res.output
    meta = registry.read_adapter_meta(out)
    assert meta["kind"] == "reward" and meta["window"] == 96 and meta["metrics"]["steps"] == 2
    held = meta["metrics"]["held_out"]
    assert held["pairs"] == meta["pairs"]["held_out"] > 0
    assert 0 <= held["ci95"][0] <= held["accuracy"] <= held["ci95"][1] <= 1
    assert sum(b["pairs"] for b in held["by_source"].values()) == held["pairs"]
    drafts = [json.loads(line) for line in (out / "drafts.jsonl").read_text().splitlines()]
    assert len(drafts) == 10 and all(len(d["drafts"]) == 3 for d in drafts)  # 8 train + 2 val products, reusable
    assert meta["pairs"]["all"].get("perturbed", 0) > 0
    saved = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert {p["split"] for p in saved} == {"train", "held_out"}
    train_ids = {p["product_id"] for p in saved if p["split"] == "train"}
    assert not train_ids & {p["product_id"] for p in saved if p["split"] == "held_out"}  # whole products held out

    # reloaded from disk, the model reproduces the held-out accuracy it reported
    scorer = RewardScorer(out)
    held_pairs = [p for p in saved if p["split"] == "held_out"]
    chosen = scorer.score([p["prompt"] for p in held_pairs], [p["chosen"] for p in held_pairs])
    rejected = scorer.score([p["prompt"] for p in held_pairs], [p["rejected"] for p in held_pairs])
    assert sum(c > r for c, r in zip(chosen, rejected)) == held["correct"]
    assert len(set(chosen + rejected)) > 1  # not a constant

    # `models list` shows it as a reward model, never as a voice adapter
    root = tmp_path / "models"
    assert registry.list_adapters(root) == [] and [r["name"] for r in registry.list_rewards(root)] == ["tiny"]
    res = CliRunner().invoke(app, ["models", "list", "--root", str(root)])
    assert res.exit_code == 0 and "reward models" in res.output and "tiny" in res.output
    # an occupied output folder is a one-line error
    res = CliRunner().invoke(app, ["reward", "train", str(dataset), "-o", str(out), "--base-model",
                                   str(tiny_model_dir), "--config", str(tmp_path / "reward.yaml")])
    assert isinstance(res.exception, CatalogWriterError) and "already holds" in str(res.exception)


@pytest.fixture()
def tiny_reward(tiny_model_dir, tmp_path):
    """A reward model folder with a random scalar head (what `reward train` saves, without training)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    from catalog_writer.training import registry

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=1)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], task_type="SEQ_CLS"))
    out = tmp_path / "models" / "rewards" / "rm"
    model.save_pretrained(out)
    registry.write_adapter_meta(out, {"kind": "reward", "name": "rm", "base_model": str(tiny_model_dir),
                                      "window": 96, "metrics": {"held_out": {"accuracy": 0.8}}})
    return out


def test_best_of_by_reward_picks_the_highest_scored(tiny_reward):
    from catalog_writer.inference.reward_scorer import RewardScorer

    checker = Checker(FACTS, "Wool socks")
    texts = ["Merino socks.", "Silk socks in red.", "Soft merino wool socks in grey.", "Grey socks."]
    # a scorer that prefers the claim-heavy text: the reward wins over the claim checker's order
    (best,) = pick(texts, checker, scorer=lambda ts: [len(t) if "Silk" in t else 0.0 for t in ts])
    assert best.index == 1 and best.flags["reward"] == best.reward == float(len(texts[1]))
    two = pick(texts, checker, keep=2, scorer=lambda ts: [0.0, 1.0, 3.0, 2.0])
    assert [c.index for c in two] == [2, 3]
    (plain,) = pick(texts, checker)  # no reward: the claim checker's order (fewest claims, then coverage)
    assert plain.index == 2 and plain.reward is None and "reward" not in plain.flags

    scorer = RewardScorer(tiny_reward)
    scores = scorer.score([PROMPT] * len(texts), texts)
    chosen = pick(texts, checker, keep=len(texts), scorer=scorer.scorer_for(PROMPT))
    assert [c.index for c in chosen] == sorted(range(len(texts)), key=lambda i: -scores[i])
    assert chosen[0].reward == pytest.approx(max(scores), abs=1e-4)


def test_generate_ranks_variants_by_the_reward_model(tiny_model_dir, tmp_path):
    from catalog_writer.core.product import Product
    from catalog_writer.inference.generate import Generator, GenerationSettings
    from catalog_writer.training.modeling import load_for_inference

    class Longest:  # a stand-in reward model: longer is better
        def scorer_for(self, prompt):
            return lambda texts: [float(len(t)) for t in texts]

    gen = Generator.from_loaded(*load_for_inference(tiny_model_dir))
    gen.reward = Longest()
    product = Product(id="p1", title="Wool socks", attributes={"Material": "Merino"})
    s = GenerationSettings(best_of=4, num_variants=2, max_new_tokens=12, seed=1)
    drafts = gen.generate([product], s)[0]
    assert len(drafts) == 2 and all("reward" in d.flags for d in drafts)
    assert [d.flags["reward"] for d in drafts] == sorted((d.flags["reward"] for d in drafts), reverse=True)
    assert drafts[0].flags["reward"] == float(len(drafts[0].text))


def test_reward_options_refuse_wrong_input(tmp_path, tiny_reward, dataset):
    runner = CliRunner()
    voice = tmp_path / "voice"
    voice.mkdir()
    (voice / "run.json").write_text(json.dumps({"voice": "v", "version": "v1"}))
    from catalog_writer.inference.reward_scorer import read_reward_meta

    with pytest.raises(CatalogWriterError, match="not a reward model"):
        read_reward_meta(voice)
    res = runner.invoke(app, ["evaluate", str(dataset / "test.jsonl"), "--adapter", str(voice), "--reward",
                              str(tiny_reward)])
    assert isinstance(res.exception, CatalogWriterError) and "--best-of 2" in str(res.exception)
    res = runner.invoke(app, ["reward", "train", str(tmp_path / "nowhere"), "-o", str(tmp_path / "rm2")])
    assert isinstance(res.exception, CatalogWriterError) and "prepare" in str(res.exception)


IMPROVE = """
grpo: {learning_rate: 1.0e-3, max_steps: 2, per_device_train_batch_size: 4, num_generations: 4, beta: 0.04,
       max_completion_length: 16, generation_kwargs: {use_cache: true}, reward_weights: [1.0, 0.5], bf16: false,
       report_to: [], save_strategy: "no", logging_steps: 1, activation_checkpointing: false, seed: 0}
"""


def test_improve_writes_a_child_with_parent_and_reward(dataset, tiny_model_dir, tiny_reward, tmp_path):
    from catalog_writer.improve import online
    from catalog_writer.training import registry

    parent = save_lora(tiny_model_dir, tmp_path / "models" / "adapters" / "tiny",
                       meta={"voice": "tiny", "version": "v1", "base_model": str(tiny_model_dir), "method": "lora",
                             "dataset": str(dataset)},
                       r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    shutil.copy(dataset / "template.json", parent / "template.json")
    registry.register_voice("tiny", parent, root=tmp_path / "models")
    (tmp_path / "improve.yaml").write_text(IMPROVE)

    meta = online.run_improve(parent, tiny_reward, config=tmp_path / "improve.yaml", eval_limit=2,
                              eval_max_new_tokens=8)
    child = tmp_path / "models" / "adapters" / "tiny-v2"
    saved = registry.read_adapter_meta(child)
    assert saved["parent"] == str(parent) and (saved["voice"], saved["version"], saved["method"]) == \
        ("tiny", "v2", "grpo")
    assert saved["reward"]["path"] == str(tiny_reward) and saved["reward"]["held_out"] == 0.8
    assert saved["reward"]["claim_penalty_weight"] == 0.5
    assert saved["metrics"]["steps"] == 2 and len(saved["metrics"]["log"]) == 2
    assert {"reward", "reward_model", "claim_penalty"} <= set(saved["metrics"]["reward_first"])
    cmp = saved["metrics"]["comparison_vs_parent"]
    assert cmp["n"] == 2 and cmp["parent"]["model_version"] == "tiny@v1" and cmp["child"]["model_version"] == "tiny@v2"
    assert meta["metrics"]["comparison_vs_parent"] == cmp
    assert (child / "template.json").exists() and not (child.parent / ".tiny-v2.work").exists()
    # registered as the voice's next version, the active one unchanged until `models promote`
    assert registry.resolve_voice("tiny@v2", tmp_path / "models") == child.resolve()
    assert registry.resolve_voice("tiny", tmp_path / "models") == parent.resolve()
    # a reward model is refused as the parent, and a voice adapter as the reward
    with pytest.raises(CatalogWriterError, match="not a reward model"):
        online.run_improve(parent, parent, config=tmp_path / "improve.yaml")


def test_perturbed_pairs_put_another_products_fact_into_the_reference():
    socks = _record("socks", "Soft merino wool socks in grey. They keep feet warm.")
    hat = {**_record("hat", "A felt hat made in Poland."), "title": "Felt hat",
           "attributes": {"Material": "Rabbit felt", "Colour": "Grey"}}
    pairs = bootstrap.perturbed_pairs([socks, hat], per_product=10, seed=2)
    mine = [p for p in pairs if p["product_id"] == "socks"]
    assert mine and all(p["chosen"] == socks["completion"][0]["content"] for p in mine)
    assert all(p["rejected_unsupported"] > p["chosen_unsupported"] for p in pairs)
    rejected = {p["rejected"] for p in mine}
    assert "Soft Rabbit felt socks in grey. They keep feet warm." in rejected  # the material swapped
    assert any("Made in Poland" in t or "made in Poland" in t for t in rejected)  # a sentence of the hat
    assert bootstrap.perturbed_pairs([socks, hat], per_product=0) == []


def test_drafts_are_reused_only_for_the_same_products(tmp_path):
    f = tmp_path / "drafts.jsonl"
    f.write_text(json.dumps({"id": "socks", "drafts": ["a", "b"]}) + "\n")
    assert bootstrap.load_drafts(f, [_record("socks", "x")]) == [["a", "b"]]
    assert bootstrap.load_drafts(f, [_record("socks", "x"), _record("hat", "y")]) is None
    assert bootstrap.load_drafts(tmp_path / "none.jsonl", [_record("socks", "x")]) is None
