"""CLI: the merchandiser-feedback loop — `feedback export|stats`, `retrain` on approved edits, `dpo` on
preference pairs.

Registered on the main Typer app by `register(app)` (cli.py), so this module never imports cli.py.
Heavy modules are imported inside the commands, as everywhere in the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

feedback_app = typer.Typer(help="Merchandiser feedback: export datasets, statistics.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", envvar="CATALOG_WRITER_DB", help="SQLAlchemy URL (default: sqlite data/feedback.db)."),
]


@feedback_app.command("export")
def feedback_export(
    kind: Annotated[str, typer.Option(help="sft|preference|kto")],
    out: Annotated[Path, typer.Option("-o", "--out")],
    db: DbOpt = None,
) -> None:
    """Export reviews as a TRL dataset (JSONL)."""
    from catalog_writer.feedback import exports

    exports.run_export(kind, out, db_url=db)


@feedback_app.command("stats")
def feedback_stats(db: DbOpt = None, json: bool = False) -> None:
    """Counts by status, reviewer and model version; A/B win rates with 95% intervals."""
    from catalog_writer.feedback import exports

    exports.print_stats(db_url=db, as_json=json)


def retrain(
    adapter: Annotated[Path, typer.Option(help="Parent adapter folder.")],
    min_approved: Annotated[int, typer.Option(help="Refuse with fewer approved edits.")] = 1,
    db: DbOpt = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Child adapter folder.")] = None,
    max_steps: int | None = None,
    weight: Annotated[int, typer.Option(help="Repeat each approved edit this many times.")] = 3,
    eval_limit: Annotated[int | None, typer.Option(help="Compare on the first N test products.")] = None,
) -> None:
    """Train a child adapter on the parent's data plus approved edits, and compare the two."""
    from catalog_writer.improve import retrain as retrain_mod

    retrain_mod.run_retrain(adapter, min_approved=min_approved, db_url=db, out=out, max_steps=max_steps,
                            weight=weight, eval_limit=eval_limit)


def dpo(
    adapter: Annotated[Path, typer.Option(help="Parent adapter folder.")],
    preferences: Annotated[Path, typer.Option(help="Preference JSONL from `feedback export`.")],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Child adapter folder.")] = None,
    max_steps: int | None = None,
    beta: Annotated[float, typer.Option(help="DPO beta (strength of the pull towards the parent).")] = 0.1,
    learning_rate: float = 5e-5,
    eval_limit: Annotated[int | None, typer.Option(help="Compare on the first N test products.")] = None,
) -> None:
    """Train a DPO child adapter from preference pairs and report its win rate against the parent."""
    from catalog_writer.improve import dpo as dpo_mod

    dpo_mod.run_dpo(adapter, preferences, out=out, max_steps=max_steps, beta=beta,
                    learning_rate=learning_rate, eval_limit=eval_limit)


def register(app: typer.Typer) -> None:
    """Add `feedback`, `retrain` and `dpo` to the main app."""
    app.add_typer(feedback_app, name="feedback")
    app.command("retrain")(retrain)
    app.command("dpo")(dpo)
