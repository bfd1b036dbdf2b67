"""Claim checker precision and recall on labelled sentences of the model's own drafts, new vs old checker.

    .venv/bin/python bench/claims.py            # P, R (95% Wilson intervals), F1 per checker: tuned-on vs held-out set
    .venv/bin/python bench/claims.py --by       # also per brand and per source
    .venv/bin/python bench/claims.py --misses   # also list the wrong sentences (never the held-out "untouched" part)

Two labelled sets, side by side. The held-out set (tests/fixtures/claims_heldout.jsonl, see
claims_heldout.md) is 498 sentences of 84 drafts by the 12-step one-exemplar adapters, each labelled before
the checker was run on it: parts "dev" and "untouched" (every third draft, never printed by --misses) on
products the first set never used (demo to_write and val, Luma val and the rest of its test split), and
"fresh", the Luma adapter on the Luma gear catalogs (bags, watches, fitness equipment) that neither it nor
the checker had seen, measured once after the last rule change.

The tuned-on set is tests/fixtures/claims_labelled.jsonl: sentences of drafts written by SmolLM2-135M on the
test splits of the demo catalog and of Magento Luma - the base model and quickly tuned adapters (6 steps
demo, 4 steps Luma) with the plain prompt ("base", "tuned"), and on the demo the base model and a 12-step
QLoRA adapter with one retrieved exemplar in the prompt ("base-retrieval", "tuned-retrieval", whose rows
carry the exemplars' facts for leakage) - each labelled by
hand from its facts and title (supported / unsupported, with the offending span). A sentence is
unsupported when it states something checkable about the product or its maker that the facts and title do
not back: a number, material, colour, size, origin, care step, certification or eco claim, warranty, who or
how it was made, a feature or property, a name; vague praise and uses ("perfect for winter") are not
claims, and the brand's recurring lines ("by people we know by name") are its voice. House phrases per brand are in
tests/fixtures/claims_house.json (learned from each catalog's training split by `prepare`).
The old checker is the one before quality/claims.py (materials, colours, digits, letter sizes), read from
git history; it is skipped when git or that commit is not available. No model is loaded.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
FIXTURES = REPO / "tests" / "fixtures"
OLD_COMMIT = "086537c"
"""Last commit with the lexical checker only (metrics.py + vocabulary.py)."""


def _old_checker():
    """`unsupported_claims` of the old metrics.py, run against the old vocabulary.py."""
    try:
        src = {name: subprocess.run(["git", "show", f"{OLD_COMMIT}:catalog_writer/quality/{name}.py"], cwd=REPO,
                                    capture_output=True, text=True, check=True).stdout
               for name in ("vocabulary", "metrics")}
    except (OSError, subprocess.CalledProcessError):
        return None
    vocab = types.ModuleType("old_vocabulary")
    exec(compile(src["vocabulary"], "old_vocabulary.py", "exec"), vocab.__dict__)
    saved = sys.modules.get("catalog_writer.quality.vocabulary")
    sys.modules["catalog_writer.quality.vocabulary"] = vocab
    try:
        old = types.ModuleType("old_metrics")
        exec(compile(src["metrics"], "old_metrics.py", "exec"), old.__dict__)
    finally:
        if saved is not None:
            sys.modules["catalog_writer.quality.vocabulary"] = saved
    return lambda text, facts, title, house, exemplars=None: old.unsupported_claims(text, facts, title)


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for k successes in n (one formula; not worth a scipy dependency)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _scores(rows, flagged) -> dict:
    tp = sum(f and r["label"] == "unsupported" for r, f in zip(rows, flagged))
    fp = sum(f and r["label"] != "unsupported" for r, f in zip(rows, flagged))
    fn = sum(not f and r["label"] == "unsupported" for r, f in zip(rows, flagged))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"n": len(rows), "tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r,
            "p_ci": wilson(tp, tp + fp), "r_ci": wilson(tp, tp + fn), "f1": 2 * p * r / (p + r) if p + r else 0.0}


def load(name: str) -> list[dict]:
    return [json.loads(x) for x in (FIXTURES / name).read_text("utf-8").splitlines() if x.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--misses", action="store_true", help="list false positives and false negatives")
    ap.add_argument("--by", action="store_true", help="also per brand and per source within each set")
    args = ap.parse_args()

    from catalog_writer.quality.claims import unsupported_claims
    from catalog_writer.quality.house import HousePhrases

    sets = {"tuned-on": load("claims_labelled.jsonl"), "held-out": load("claims_heldout.jsonl")}
    houses = {k: HousePhrases.from_dict(v)
              for k, v in json.loads((FIXTURES / "claims_house.json").read_text("utf-8")).items()}
    checkers = {"new (quality/claims.py)": lambda text, facts, title, house, exemplars=None:
                unsupported_claims(text, facts, title, house, exemplars)}
    if (old := _old_checker()) is not None:
        checkers[f"old ({OLD_COMMIT})"] = old
    for name, rows in sets.items():
        unsupported = sum(r["label"] == "unsupported" for r in rows)
        print(f"{name}: {len(rows)} labelled sentences ({unsupported} unsupported) from "
              f"{len({(r['brand'], r['source'], r['id']) for r in rows})} drafts")
    print("\nP and R with 95% Wilson intervals")
    print(f"{'checker':26} {'set':10} {'subset':22} {'n':>4} {'P':>6} {'P 95%':>12} {'R':>6} {'R 95%':>12} "
          f"{'F1':>6}  tp/fp/fn")
    for name, fn in checkers.items():
        for set_name, rows in sets.items():
            claims = [fn(r["sentence"], r["facts"], r["title"], houses.get(r["brand"]), r.get("exemplars"))
                      for r in rows]
            flagged = [bool(c) for c in claims]
            subsets = {"all": list(range(len(rows)))}
            # held-out rows carry a part: "untouched" was never read while changing the checker
            for v in sorted({r["part"] for r in rows if "part" in r}):
                subsets[f"part={v}"] = [i for i, r in enumerate(rows) if r.get("part") == v]
            for key in ("brand", "source") if args.by else ():
                for v in sorted({r[key] for r in rows}):
                    subsets[f"{key}={v}"] = [i for i, r in enumerate(rows) if r[key] == v]
            for sub, idx in subsets.items():
                s = _scores([rows[i] for i in idx], [flagged[i] for i in idx])
                print(f"{name:26} {set_name:10} {sub:22} {s['n']:>4} {s['precision']:6.3f} "
                      f"{s['p_ci'][0]:5.2f}-{s['p_ci'][1]:4.2f}  {s['recall']:6.3f} "
                      f"{s['r_ci'][0]:5.2f}-{s['r_ci'][1]:4.2f}  {s['f1']:6.3f}  {s['tp']}/{s['fp']}/{s['fn']}")
            if args.misses:
                for r, c, f in zip(rows, claims, flagged):
                    if f != (r["label"] == "unsupported") and r.get("part") != "untouched":
                        tag = "FP" if f else "FN"
                        print(f"   {tag} [{set_name} {r['brand']} {r.get('part', '')}] {r['sentence']!r} "
                              f"found={c} labelled={r.get('span')!r}")
        print()


if __name__ == "__main__":
    main()
