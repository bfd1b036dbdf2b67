"""CLI: `reward train` (a reward model from the catalog and reviews) and `improve` (GRPO against it).

Registered on the main Typer app by `register(app)` (cli.py), so this module never imports cli.py.
Heavy modules are imported inside the commands, as everywhere in the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

reward_app = typer.Typer(help="Reward models: learn what reviewers and the claim checker prefer.",
                         no_args_is_help=True)

BaseOpt = Annotated[Path | None, typer.Option("--base-model", help="Local HF model folder (default: models/base).")]
MaxStepsOpt = Annotated[int | None, typer.Option(help="Training steps (overrides the recipe).")]


@reward_app.command("train")
def reward_train(
    data: Annotated[Path, typer.Argument(help="A `prepare` output folder (its train and val products).")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Reward model folder, e.g. models/rewards/fernhill.")],
    preferences: Annotated[Path | None, typer.Option(
        help="Preference JSONL from `feedback export --kind preference`, added to the bootstrap pairs.")] = None,
    adapter: Annotated[Path | None, typer.Option(
        help="The policy whose sampled drafts make the bootstrap pairs (default: the base model).")] = None,
    base_model: BaseOpt = None,
    max_steps: MaxStepsOpt = None,
    config: Annotated[Path | None, typer.Option(help="YAML recipe (default: configs/reward.yaml).")] = None,
    limit: Annotated[int | None, typer.Option(help="Use the first N train/val products only.")] = None,
    drafts: Annotated[Path | None, typer.Option(
        help="drafts.jsonl of an earlier reward model (same products): reuse its sampled drafts.")] = None,
) -> None:
    """Train a reward model (TRL RewardTrainer, scalar head + LoRA) on bootstrap and review pairs; its
    held-out pair accuracy with a 95% interval goes to run.json."""
    from catalog_writer.improve import reward

    reward.run_reward_train(data, out, preferences=preferences, adapter=adapter, base_model=base_model,
                            max_steps=max_steps, config=config, limit=limit, drafts=drafts)


def improve(
    adapter: Annotated[Path, typer.Option(help="Parent adapter folder (a trained voice).")],
    reward: Annotated[Path, typer.Option(help="Reward model folder from `reward train`.")],
    max_steps: MaxStepsOpt = None,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Child adapter folder.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML recipe (default: configs/improve.yaml).")] = None,
    base_model: BaseOpt = None,
    limit: Annotated[int | None, typer.Option(help="Train on the first N training prompts.")] = None,
    eval_limit: Annotated[int | None, typer.Option(help="Compare on the first N test products.")] = None,
) -> None:
    """Online preference optimisation (TRL GRPO): reward = the reward model minus a claim-checker penalty;
    the child adapter is a new version of the voice, compared with its parent on the test split."""
    from catalog_writer.improve import online

    online.run_improve(adapter, reward, max_steps=max_steps, out=out, config=config, base_model=base_model,
                       limit=limit, eval_limit=eval_limit)


def register(app: typer.Typer) -> None:
    """Add `reward` and `improve` to the main app."""
    app.add_typer(reward_app, name="reward")
    app.command("improve")(improve)
