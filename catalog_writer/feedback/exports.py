"""Feedback -> TRL datasets (SFT, preference, KTO JSONL) and review statistics.

The current state of a generation is its latest review. Prompts are the exact chat messages the model saw,
completions are conversational (`[{"role": "assistant", "content": ...}]`), as TRL 1.x expects:
- sft:        {prompt, completion} from approved generations (the edited text where the reviewer edited).
- preference: {prompt, chosen, rejected, source, margin, ...ids} from A/B choices (ties skipped), from
              approved edits (edited text over the model's original) and from rating gaps between
              generations of the same product and prompt (`margin` = rating difference; null otherwise).
              Each text comes with its own generation's prompt, and an A/B pair whose two texts were
              written from different prompts is left out, not exported with both: DPO compares the two
              texts' log-probabilities under one prompt and the reward model scores (prompt, text), so a
              text judged under a prompt it never saw (another template, other exemplars) would teach a
              preference about the prompt, not the text. `mixed_prompt_comparisons` counts them.
- kto:        {prompt, completion, label} from approvals (True, the final text) and rejections (False).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.core.fileio import write_jsonl_atomic
from catalog_writer.feedback.store import Store

KINDS = ("sft", "preference", "kto")


def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _final_text(gen: dict) -> str:
    review = gen["review"]
    return (review and review["edited_text"]) or gen["text"]


def was_edited(gen: dict) -> bool:
    """True when the generation's current review holds a text other than the model's (whitespace aside)."""
    review = gen["review"]
    return bool(review and review["edited_text"] and review["edited_text"].strip() != gen["text"].strip())


def sft_records(store: Store) -> list[dict]:
    """Approved generations as prompt/completion pairs (latest review per generation), deduplicated."""
    out, seen = [], set()
    for g in store.generations():
        if not g["review"] or g["review"]["status"] != "approved":
            continue
        text = _final_text(g)
        key = (json.dumps(g["prompt"], sort_keys=True), text.strip())
        if key in seen:
            continue
        seen.add(key)
        out.append({"prompt": g["prompt"], "completion": _assistant(text), "product_id": g["product"]["product_id"],
                    "generation_id": g["id"], "review_id": g["review"]["id"], "edited": was_edited(g)})
    return out


def kto_records(store: Store) -> list[dict]:
    """Approved (label True, final text) and rejected (label False, model text) generations."""
    out, seen = [], set()
    for g in store.generations():
        status = g["review"]["status"] if g["review"] else None
        if status not in ("approved", "rejected"):
            continue
        text = _final_text(g) if status == "approved" else g["text"]
        key = (json.dumps(g["prompt"], sort_keys=True), text.strip(), status)
        if key in seen:
            continue
        seen.add(key)
        out.append({"prompt": g["prompt"], "completion": _assistant(text), "label": status == "approved",
                    "product_id": g["product"]["product_id"], "generation_id": g["id"]})
    return out


def _latest_ratings(store: Store) -> dict[int, int]:
    """generation id -> its most recent non-empty rating (a later review without a rating keeps it)."""
    ratings: dict[int, int] = {}
    for r in store.reviews():  # oldest first
        if r["rating"] is not None:
            ratings[r["generation_id"]] = r["rating"]
    return ratings


def _pair(prompt, chosen: str, rejected: str, source: str, product_id: str, *, margin=None,
          comparison_id=None, review_id=None, chosen_id=None, rejected_id=None) -> dict:
    return {"prompt": prompt, "chosen": _assistant(chosen), "rejected": _assistant(rejected), "source": source,
            "margin": margin, "product_id": product_id, "comparison_id": comparison_id, "review_id": review_id,
            "chosen_generation_id": chosen_id, "rejected_generation_id": rejected_id}


def _mixed_prompts(comparison: dict) -> bool:
    return json.dumps(comparison["prompt_a"], sort_keys=True) != json.dumps(comparison["prompt_b"], sort_keys=True)


def mixed_prompt_comparisons(store: Store) -> list[int]:
    """Ids of decisive A/B comparisons whose two texts had different prompts (left out of `preference`)."""
    return [c["id"] for c in store.comparisons() if c["winner"] != "tie" and _mixed_prompts(c)]


def preference_records(store: Store) -> list[dict]:
    """Preference pairs from A/B choices, approved edits and rating gaps; deduplicated (first source wins,
    in that order) and pairs whose two texts are equal are dropped."""
    gens = {g["id"]: g for g in store.generations()}
    pairs = []
    for c in store.comparisons():
        if c["winner"] == "tie" or _mixed_prompts(c):
            continue
        win, lose = (c["generation_a_id"], c["generation_b_id"])[:: 1 if c["winner"] == "a" else -1]
        pairs.append(_pair(gens[win]["prompt"], gens[win]["text"], gens[lose]["text"], "ab",
                           c["product"]["product_id"], comparison_id=c["id"], chosen_id=win, rejected_id=lose))
    for g in gens.values():
        if was_edited(g) and g["review"]["status"] == "approved":
            pairs.append(_pair(g["prompt"], g["review"]["edited_text"], g["text"], "edit",
                               g["product"]["product_id"], review_id=g["review"]["id"], rejected_id=g["id"]))
    groups: dict[tuple, list[tuple[int, dict]]] = defaultdict(list)
    for gid, rating in _latest_ratings(store).items():
        g = gens[gid]
        key = (g["product"]["catalog_name"], g["product"]["product_id"], json.dumps(g["prompt"], sort_keys=True))
        groups[key].append((rating, g))
    for members in groups.values():
        for (ra, ga), (rb, gb) in combinations(sorted(members, key=lambda m: (-m[0], m[1]["id"])), 2):
            if ra > rb:
                pairs.append(_pair(ga["prompt"], ga["text"], gb["text"], "rating", ga["product"]["product_id"],
                                   margin=float(ra - rb), chosen_id=ga["id"], rejected_id=gb["id"]))
    out, seen = [], set()
    for p in pairs:
        chosen, rejected = p["chosen"][0]["content"].strip(), p["rejected"][0]["content"].strip()
        key = (json.dumps(p["prompt"], sort_keys=True), chosen, rejected)
        if chosen == rejected or key in seen:
            continue
        seen.add(key)
        out.append(p)
    return out


def export(kind: str, out: Path, store: Store) -> int:
    """Write one export kind to `out`; return the number of records. Nothing to export -> error."""
    builders = {"sft": sft_records, "preference": preference_records, "kto": kto_records}
    if kind not in builders:
        raise CatalogWriterError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    records = builders[kind](store)
    if not records:
        raise CatalogWriterError(f"nothing to export as {kind}: the feedback database has no usable reviews",
                                 file=store.display_url)
    write_jsonl_atomic(out, records)
    return len(records)


def run_export(kind: str, out: Path, db_url: str | None = None) -> int:
    """CLI `feedback export`."""
    from rich.console import Console

    store = Store(db_url)
    n = export(kind, out, store)
    console = Console(stderr=True)
    console.print(f"wrote {n} {kind} records to {out}")
    if kind == "preference" and (mixed := mixed_prompt_comparisons(store)):
        console.print(f"left out {len(mixed)} A/B comparison(s) whose two texts had different prompts "
                      "(a preference pair needs one prompt for both texts)")
    return n


# ---- statistics --------------------------------------------------------------------------------------

def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% with z=1.96); (0, 1) when n == 0."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def win_rate(wins: int, decisive: int) -> tuple[float | None, list[float]]:
    """(win rate, 95% Wilson interval) over decisive comparisons, rounded to 4 places. Ties are not
    Bernoulli trials: callers leave them out of `decisive`."""
    lo, hi = wilson_interval(wins, decisive)
    return (round(wins / decisive, 4) if decisive else None), [round(lo, 4), round(hi, 4)]


def win_rate_curve(comparisons: list[dict], first: str, second: str) -> list[dict]:
    """The win rate of `first` against `second` after each of their decisive comparisons, in order, with its
    interval (the A/B page's chart; the last point is `stats`' row for the pair)."""
    points, wins = [], 0
    decisive = [c for c in comparisons if {c["model_a"], c["model_b"]} == {first, second} and c["winner"] != "tie"]
    for n, c in enumerate(decisive, start=1):
        wins += c["winner_model"] == first
        rate, (lo, hi) = win_rate(wins, n)
        points.append({"comparison": n, "win rate": rate, "low": lo, "high": hi})
    return points


def stats(store: Store) -> dict:
    """Counts by current status, reviewer and model version, plus A/B win rates.

    A/B: per unordered pair of systems; win_rate = wins of the first / decisive comparisons, with a 95%
    Wilson interval. Ties are EXCLUDED from the win rate (they are not Bernoulli trials) and reported apart.
    """
    gens = store.generations()
    by_status = Counter(g["review"]["status"] if g["review"] else "unreviewed" for g in gens)
    by_model: dict[str, dict] = {}
    ratings = _latest_ratings(store)
    for g in gens:
        m = by_model.setdefault(g["model_version"], {"generations": 0, "approved": 0, "rejected": 0, "draft": 0,
                                                     "unreviewed": 0, "edited": 0, "ratings": []})
        m["generations"] += 1
        m[g["review"]["status"] if g["review"] else "unreviewed"] += 1
        m["edited"] += was_edited(g)
        if g["id"] in ratings:
            m["ratings"].append(ratings[g["id"]])
    for m in by_model.values():
        r = m.pop("ratings")
        m["rated"], m["mean_rating"] = len(r), (round(sum(r) / len(r), 3) if r else None)
    by_reviewer: dict[str, dict] = {}
    for r in store.reviews():
        d = by_reviewer.setdefault(r["reviewer"], {"reviews": 0, "approved": 0, "rejected": 0, "draft": 0,
                                                   "comparisons": 0, "seconds": 0.0})
        d["reviews"] += 1
        d[r["status"]] += 1
        d["seconds"] += r["seconds"] or 0.0
    ab: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for c in store.comparisons():
        by_reviewer.setdefault(c["reviewer"], {"reviews": 0, "approved": 0, "rejected": 0, "draft": 0,
                                               "comparisons": 0, "seconds": 0.0})["comparisons"] += 1
        pair = tuple(sorted((c["model_a"], c["model_b"])))
        ab[pair][c["winner_model"] if c["winner"] != "tie" else "tie"] += 1
    ab_rows = []
    for (a, b), cnt in sorted(ab.items()):
        rate, ci = win_rate(cnt[a], cnt[a] + cnt[b])
        ab_rows.append({"model_a": a, "model_b": b, "comparisons": cnt[a] + cnt[b] + cnt["tie"], "wins_a": cnt[a],
                        "wins_b": cnt[b], "ties": cnt["tie"], "win_rate_a": rate, "ci95_a": ci})
    return {"database": store.display_url, "generations": len(gens), "reviews": sum(d["reviews"] for d in
            by_reviewer.values()), "by_status": dict(by_status), "by_reviewer": by_reviewer,
            "by_model": by_model, "ab": ab_rows, "ties": "excluded from win rates (reported separately)"}


def print_stats(db_url: str | None = None, as_json: bool = False) -> dict:
    """CLI `feedback stats`: rich tables, or one JSON object with --json."""
    report = stats(Store(db_url))
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
        return report
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{report['database']}[/]: {report['generations']} generations, "
                  f"{report['reviews']} reviews")
    if not report["generations"]:
        console.print("no feedback yet: review descriptions in the app (`catalog-writer app`)")
        return report
    t = Table("status (latest review)", "generations")
    for k, v in sorted(report["by_status"].items()):
        t.add_row(k, str(v))
    console.print(t)
    t = Table("model version", "generations", "approved", "rejected", "draft", "unreviewed", "edited",
              "mean rating")
    for k, m in sorted(report["by_model"].items()):
        t.add_row(k, *(str(m[c]) for c in ("generations", "approved", "rejected", "draft", "unreviewed",
                                           "edited")), "-" if m["mean_rating"] is None else f"{m['mean_rating']:.2f}")
    console.print(t)
    t = Table("reviewer", "reviews", "approved", "rejected", "draft", "A/B", "minutes")
    for k, d in sorted(report["by_reviewer"].items()):
        t.add_row(k, *(str(d[c]) for c in ("reviews", "approved", "rejected", "draft", "comparisons")),
                  f"{d['seconds'] / 60:.1f}")
    console.print(t)
    if report["ab"]:
        t = Table("A", "B", "A wins", "B wins", "ties", "A win rate", "95% CI (Wilson)",
                  title="A/B win rates (ties excluded)")
        for r in report["ab"]:
            rate = "-" if r["win_rate_a"] is None else f"{r['win_rate_a']:.0%}"
            t.add_row(r["model_a"], r["model_b"], str(r["wins_a"]), str(r["wins_b"]), str(r["ties"]), rate,
                      f"{r['ci95_a'][0]:.0%}-{r['ci95_a'][1]:.0%}")
        console.print(t)
    return report
