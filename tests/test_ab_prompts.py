"""A/B comparisons keep each text's own prompt; pairs whose two prompts differ are not exported."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from catalog_writer.app.cli import app
from catalog_writer.feedback import exports
from catalog_writer.feedback.store import Store

SYS = {"role": "system", "content": "You write copy."}
PROMPT_V1 = [SYS, {"role": "user", "content": "Exemplar: Felt cap.\nTitle: Wool socks"}]
PROMPT_V2 = [SYS, {"role": "user", "content": "Exemplar: Linen towel.\nTitle: Wool socks"}]


def _store(tmp_path) -> tuple[Store, dict]:
    s = Store(f"sqlite:///{tmp_path / 'fb.db'}")
    socks = s.snapshot_product({"id": "socks", "title": "Wool socks", "attributes": {"Material": "Merino"}}, "demo")
    g = {"v1": s.add_generation(socks, PROMPT_V1, "Merino socks, soft.", "socks@v1"),
         "v2": s.add_generation(socks, PROMPT_V2, "Socks made of silk.", "socks@v2"),
         "v1b": s.add_generation(socks, PROMPT_V1, "Socks in merino for cold feet.", "socks@v3")}
    return s, g


def test_comparison_keeps_both_prompts(tmp_path):
    s, g = _store(tmp_path)
    s.add_comparison(g["v2"], g["v1"], "B", "ann")
    (c,) = s.comparisons()
    assert c["prompt_a"] == PROMPT_V2 and c["prompt_b"] == PROMPT_V1  # not A's prompt twice
    assert c["prompt"] == PROMPT_V2


def test_mixed_prompt_pairs_are_left_out_same_prompt_pairs_keep_their_own(tmp_path):
    s, g = _store(tmp_path)
    mixed = s.add_comparison(g["v2"], g["v1"], "B", "ann")  # v1 (PROMPT_V1) beat v2 (PROMPT_V2)
    same = s.add_comparison(g["v1b"], g["v1"], "A", "ann")  # both from PROMPT_V1
    s.add_comparison(g["v1b"], g["v2"], "tie", "ann")  # ties are never pairs, and not "left out"
    rows = exports.preference_records(s)
    assert [(r["comparison_id"], r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == \
        [(same, "Socks in merino for cold feet.", "Merino socks, soft.")]
    assert rows[0]["prompt"] == PROMPT_V1
    assert exports.mixed_prompt_comparisons(s) == [mixed]
    # the mixed comparison still counts in the A/B win rate
    assert sum(r["comparisons"] for r in exports.stats(s)["ab"]) == 3


def test_cli_export_says_what_it_left_out(tmp_path):
    s, g = _store(tmp_path)
    s.add_comparison(g["v2"], g["v1"], "B", "ann")
    s.add_comparison(g["v1b"], g["v1"], "A", "ann")
    out = tmp_path / "pref.jsonl"
    res = CliRunner().invoke(app, ["feedback", "export", "--kind", "preference", "-o", str(out), "--db", s.url])
    assert res.exit_code == 0, res.output
    assert "left out 1 A/B comparison" in res.output
    (row,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["prompt"] == PROMPT_V1
