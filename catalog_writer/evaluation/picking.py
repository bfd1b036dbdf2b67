"""Choosing among the tuned adapter's drafts for evaluation: best-of-N by the claim checker or a reward
model, and `--strict` (unsupported sentences dropped), as generation does."""

from __future__ import annotations

from pathlib import Path


def record_picker(strict: bool, data_dir: Path, reward: Path | None = None, contradictions: bool = False):
    """pick(record, raw candidates) -> (raw, text): the most faithful candidate (inference/selection.py),
    checked with the dataset's house phrases like the scores are; with `reward` (a reward model folder)
    the candidate it scores highest."""
    from catalog_writer.inference.postprocess import postprocess
    from catalog_writer.inference.selection import Checker, pick
    from catalog_writer.quality.house import load_house

    house = load_house(data_dir)
    scorer = None
    if reward is not None:
        from catalog_writer.inference.reward_scorer import RewardScorer

        scorer = RewardScorer(reward)

    def choose(record: dict, raws: list[str]) -> tuple[str, str]:
        texts = [postprocess(raw, truncated=False) for raw in raws]
        (best,) = pick(texts, Checker.for_record(record, house), strict=strict, contradictions=contradictions,
                       scorer=scorer.scorer_for(record["prompt"]) if scorer else None)
        return raws[best.index], best.text

    choose.key = {"reward": str(Path(reward).resolve()), "created": scorer.meta.get("created_at")} if scorer else None
    return choose


def filtered_drafts(records: list[dict], drafts: list[str], house, strict: bool = True) -> list[str]:
    """Each (post-processed) draft without its sentences that carry an unsupported claim (as `--strict`
    writes them), or with `strict` False only those that contradict the facts (generation's default);
    `house`: the dataset's house phrases."""
    from catalog_writer.inference.selection import Checker

    return [Checker.for_record(r, house).final(d, strict, contradictions=True) for r, d in zip(records, drafts)]

