"""User errors through the real command line: exit code 2, one line naming the file (and field, row or
column where known), no traceback, nothing half-written. Ctrl-C: exit 130, one line, and the job resumes.

Most cases run `catalog_writer.app.cli.main()` in-process (the console entry point itself, fast); the
Ctrl-C cases run the installed command in a subprocess and send it a real SIGINT.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from catalog_writer.app.cli import main


def run_cli(args: list[str], capsys, monkeypatch, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `catalog-writer ARGS` run through the console entry point."""
    monkeypatch.setattr(sys, "argv", ["catalog-writer", *map(str, args)])
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main()
    out, err = capsys.readouterr()
    code = e.value.code if isinstance(e.value.code, int) else (0 if e.value.code is None else 1)
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> str:
    """Exit 2, a single `error:` line on stderr that contains every needle, no traceback."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- 1. recipes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, section", [("lora: 16\n", "lora"), ("sft:\n  - 1\n  - 2\n", "sft"),
                                           ("model: qlora\n", "model")])
def test_recipe_section_that_is_not_a_mapping(text, section, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    out = tmp_path / "adapter"
    code, _, err = run_cli(["train", tmp_path / "data", "-o", out, "--config", bad], capsys, monkeypatch)
    assert_one_line_error(code, err, str(bad), repr(section), "mapping")
    assert not out.exists()


def test_recipe_misspelt_key_still_an_error(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lroa:\n  r: 8\n")  # (test_train covers keys inside sections, which import TRL)
    code, _, err = run_cli(["train", tmp_path / "data", "-o", tmp_path / "a", "--config", bad], capsys, monkeypatch)
    assert_one_line_error(code, err, str(bad), "lroa", "did you mean 'lora'")
    assert not (tmp_path / "a").exists()
