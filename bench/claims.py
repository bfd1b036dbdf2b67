"""Claim checker precision and recall on labelled sentences of the model's own drafts, new vs old checker.

    .venv/bin/python bench/claims.py            # table: precision, recall, F1 per checker, overall and per brand
    .venv/bin/python bench/claims.py --misses   # also list the sentences each checker gets wrong

The labelled set is tests/fixtures/claims_labelled.jsonl: sentences of drafts written by SmolLM2-135M on the
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


def _scores(rows, flagged) -> dict:
    tp = sum(f and r["label"] == "unsupported" for r, f in zip(rows, flagged))
    fp = sum(f and r["label"] != "unsupported" for r, f in zip(rows, flagged))
    fn = sum(not f and r["label"] == "unsupported" for r, f in zip(rows, flagged))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"n": len(rows), "tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--misses", action="store_true", help="list false positives and false negatives")
    args = ap.parse_args()

    from catalog_writer.quality.claims import unsupported_claims
    from catalog_writer.quality.house import HousePhrases

    rows = [json.loads(x) for x in (FIXTURES / "claims_labelled.jsonl").read_text("utf-8").splitlines() if x.strip()]
    houses = {k: HousePhrases.from_dict(v)
              for k, v in json.loads((FIXTURES / "claims_house.json").read_text("utf-8")).items()}
    checkers = {"new (quality/claims.py)": lambda text, facts, title, house, exemplars=None:
                unsupported_claims(text, facts, title, house, exemplars)}
    if (old := _old_checker()) is not None:
        checkers[f"old ({OLD_COMMIT})"] = old
    unsupported = sum(r["label"] == "unsupported" for r in rows)
    print(f"{len(rows)} labelled sentences ({unsupported} unsupported) from "
          f"{len({(r['brand'], r['source'], r['id']) for r in rows})} drafts\n")
    print(f"{'checker':28} {'subset':16} {'n':>4} {'P':>6} {'R':>6} {'F1':>6}  tp/fp/fn")
    for name, fn in checkers.items():
        claims = [fn(r["sentence"], r["facts"], r["title"], houses.get(r["brand"]), r.get("exemplars"))
                  for r in rows]
        flagged = [bool(c) for c in claims]
        subsets = {"all": list(range(len(rows)))}
        for key in ("brand", "source"):
            for v in sorted({r[key] for r in rows}):
                subsets[f"{key}={v}"] = [i for i, r in enumerate(rows) if r[key] == v]
        for sub, idx in subsets.items():
            s = _scores([rows[i] for i in idx], [flagged[i] for i in idx])
            print(f"{name:28} {sub:16} {s['n']:>4} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f}"
                  f"  {s['tp']}/{s['fp']}/{s['fn']}")
        if args.misses:
            for r, c, f in zip(rows, claims, flagged):
                if f != (r["label"] == "unsupported"):
                    tag = "FP" if f else "FN"
                    print(f"   {tag} [{r['brand']}] {r['sentence']!r} found={c} labelled={r.get('span')!r}")
        print()


if __name__ == "__main__":
    main()
