"""Decoding settings: one home for the defaults, validation through the real command line."""

from __future__ import annotations

from dataclasses import fields

import pytest

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
        assert param.help == describe(f.name)
        checked += 1
    assert checked >= (11 if command == "generate" else 1)


def test_every_field_is_documented_and_has_an_option():
    for f in fields(GenerationSettings):
        assert len(describe(f.name)) > 20, f.name
        assert f.metadata["option"], f.name


def test_cli_args_reproduce_settings():
    s = GenerationSettings(do_sample=True, temperature=0.9, target_words=60, best_of=3)
    assert s.cli_args() == ["--sample", "--temperature", "0.9", "--best-of", "3", "--target-words", "60"]
    assert GenerationSettings().cli_args() == []


def test_budget_order():
    length = {"max_new_tokens": 120}
    assert GenerationSettings().budget() == 160
    assert GenerationSettings().budget(length) == 120
    assert GenerationSettings(target_words=40).budget(length) == 84  # a word target beats the profile
    assert GenerationSettings(max_new_tokens=30, target_words=40).budget(length) == 30  # explicit beats both
    s = GenerationSettings(best_of=3).effective(length)
    assert s.do_sample and s.max_new_tokens == 120 and s.effective() == s  # idempotent
