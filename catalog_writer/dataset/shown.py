"""Read a rendered prompt back: the exemplars it shows (facts, description) and the product's own facts.

Copy guidance (inference/copying.py) needs what the model saw, exactly as the template rendered it (values
and descriptions cut to their budgets), and a prompt is the one thing every engine and every caller has.
"""

from __future__ import annotations

import re
from typing import Any

PromptTemplate = Any  # dataset.prompts.PromptTemplate; not imported, since prompts.py uses this module
# A "Name: value" line of an exemplar block (title, facts), as opposed to its description's first line,
# which is prose: a line with a sentence end in it ("Soft: really soft. Warm.") is description.
FACT_LINE = re.compile(r"^[^\s:.][^:\n.]{0,40}: (?!.*\.(\s|$))\S")


def _user(messages: list[dict]) -> str:
    return next((m["content"] for m in messages if m["role"] == "user"), "")


def _facts(lines: list[str]) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in lines)


def shown_exemplars(template: PromptTemplate, messages: list[dict]) -> list[tuple[dict[str, str], str]]:
    """(facts, description) of each exemplar block; the facts include the title under its label."""
    out = []
    for block in _user(messages).split(template.exemplar_line)[1:]:
        lines = block.split(template.product_line)[0].strip("\n").split("\n")
        start = next((i for i, line in enumerate(lines) if not FACT_LINE.match(line)), len(lines))
        if text := "\n".join(lines[start:]).strip():
            out.append((_facts(lines[:start]), text))
    return out


def shown_product(template: PromptTemplate, messages: list[dict]) -> dict[str, str]:
    """The product's own title and fact lines as the prompt shows them (after the last exemplar)."""
    user = _user(messages)
    body = user.split(template.product_line)[-1] if template.product_line in user else user
    if (start := body.find(f"{template.title_label}: ")) < 0:
        return {}
    return _facts([line for line in body[start:].split("\n") if FACT_LINE.match(line)])


def shown_descriptions(template: PromptTemplate, messages: list[dict]) -> list[str]:
    """The exemplar descriptions as the prompt shows them (cut to budget)."""
    return [text for _, text in shown_exemplars(template, messages)]
