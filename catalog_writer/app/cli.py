"""The `catalog-writer` command line, laid out by verb: the pipeline verbs here; the models, feedback-loop
and reward verbs in cli_models.py, cli_feedback.py and cli_reward.py, registered below.

Only typer/rich are imported at start-up; every command imports its heavy module (torch, transformers)
inside the function, so `catalog-writer --help` stays fast. User errors (CatalogWriterError) print one
line on stderr and exit with code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from catalog_writer.app import cli_feedback, cli_models, cli_reward
from catalog_writer.core.errors import CatalogWriterError
from catalog_writer.dataset.retrieval import DEFAULT_EXEMPLARS
from catalog_writer.inference.settings import GenerationSettings, describe

app = typer.Typer(
    help="Write product descriptions in a brand's own voice.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="shopify|woocommerce|magento|merchant|generic (default: detect)."),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="Column mapping for generic files: FIELD=COLUMN (repeatable) or a YAML file."),
]
BaseOpt = Annotated[
    Path | None, typer.Option("--base-model", help="Local HF model folder (default: models/base).")
]

# Decoding options: defaults and help come from GenerationSettings (their one home).
DECODING = GenerationSettings()
BatchSizeOpt = Annotated[int, typer.Option(help=describe("batch_size"))]
BestOfOpt = Annotated[int, typer.Option(help=describe("best_of"))]
StrictOpt = Annotated[bool | None, typer.Option("--strict/--no-strict", help=describe("strict"))]
ContradictionsOpt = Annotated[bool, typer.Option("--drop-contradictions/--keep-contradictions",
                                                 help=describe("drop_contradictions"))]
CopyBiasOpt = Annotated[float | None, typer.Option(help=describe("copy_bias"))]
RewardOpt = Annotated[Path | None, typer.Option(
    help="Reward model folder (`reward train`): rank the --best-of candidates by it instead of the claim checker.")]


@app.command()
def inspect(
    file: Path,
    format: FormatOpt = None,
    map: MapOpt = None,
    json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Read a catalog file and report format, products, descriptions, attributes and problems."""
    from catalog_writer.ingest import catalog

    cat = catalog.read_catalog(file, format=format, mapping=catalog.parse_mapping(map))
    report = catalog.inspect_report(cat)
    if json:
        import json as _json

        typer.echo(_json.dumps(report, ensure_ascii=False))
    else:
        catalog.print_report(report)


@app.command()
def prepare(
    file: Path,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output dataset folder.")],
    format: FormatOpt = None,
    map: MapOpt = None,
    voice: Annotated[str | None, typer.Option(help="Brand-voice name written into prompts.")] = None,
    target_words: Annotated[int | None, typer.Option(help="Target length in words.")] = None,
    seed: int = 13,
    drop_unsupported_sentences: Annotated[bool, typer.Option(
        help="Leave reference sentences whose claims the facts do not back out of train/val targets.")] = False,
    exemplars: Annotated[int, typer.Option(
        help="Similar described products of the brand shown in each prompt (0 = none).")] = DEFAULT_EXEMPLARS,
) -> None:
    """Build train/val/test instruction pairs (TRL prompt/completion JSONL) from a catalog."""
    from catalog_writer.ingest import catalog
    from catalog_writer.dataset import pairs

    cat = catalog.read_catalog(file, format=format, mapping=catalog.parse_mapping(map))
    manifest = pairs.prepare_dataset(cat, out, voice=voice, target_words=target_words, seed=seed,
                                     drop_unsupported_sentences=drop_unsupported_sentences, exemplars=exemplars)
    pairs.print_summary(manifest, out)


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="A `prepare` output folder.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Adapter folder, e.g. models/adapters/aurora.")],
    config: Annotated[Path | None, typer.Option(help="YAML recipe (default: configs/cpu-qlora.yaml).")] = None,
    base_model: BaseOpt = None,
    method: Annotated[str | None, typer.Option(help="qlora|lora (default: qlora where 4-bit works).")] = None,
    max_steps: int | None = None,
    epochs: float | None = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in OUT.")] = False,
    force: Annotated[bool, typer.Option(
        help="Replace a finished adapter in OUT trained with a different config (same config: kept).")] = False,
    processes: Annotated[int, typer.Option(help=(
        "Train in N processes (DDP via accelerate launch: gloo on CPU, NCCL on GPUs); each takes 1/N of "
        "every batch, so the effective batch grows N times. Resume with the same N."))] = 1,
) -> None:
    """Fine-tune a LoRA/QLoRA adapter on a prepared dataset."""
    from catalog_writer.training import train as train_mod

    if processes != 1:
        from catalog_writer.training import launch

        launch.run_processes(processes, data, out, config=config, base_model=base_model, method=method,
                             max_steps=max_steps, epochs=epochs, resume=resume, force=force)
        return
    train_mod.run_training(
        data, out, config=config, base_model=base_model, method=method,
        max_steps=max_steps, epochs=epochs, resume=resume, force=force,
    )


@app.command()
def evaluate(
    test_file: Annotated[Path, typer.Argument(help="test.jsonl from `prepare`.")],
    adapter: Annotated[Path | None, typer.Option(help="Adapter folder to evaluate.")] = None,
    base_model: BaseOpt = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate on the first N products.")] = None,
    batch_size: BatchSizeOpt = DECODING.batch_size,
    best_of: Annotated[
        int, typer.Option(help=describe("best_of") + " Scored as the block tuned_best_of.")
    ] = DECODING.best_of,
    strict: StrictOpt = DECODING.strict,
    drop_contradictions: ContradictionsOpt = DECODING.drop_contradictions,
    reward: RewardOpt = None,
    copy_bias: CopyBiasOpt = DECODING.copy_bias,
    base: Annotated[bool, typer.Option("--base/--no-base", help="Also score the base model with the same "
                                       "prompts and decoding (as long again as the tuned run).")] = True,
    json: bool = False,
    report: Annotated[Path | None, typer.Option(help="Write a markdown report with charts here.")] = None,
) -> None:
    """Score the tuned adapter against the base model and a copy baseline (ROUGE, faithfulness)."""
    from catalog_writer.evaluation import evaluate as evaluate_mod

    evaluate_mod.run_evaluation(
        test_file, adapter=adapter, base_model=base_model, limit=limit, batch_size=batch_size,
        as_json=json, report_dir=report, best_of=best_of, strict=strict, reward=reward, copy_bias=copy_bias,
        drop_contradictions=drop_contradictions, with_base=base,
    )


@app.command()
def generate(
    file: Path,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output file.")],
    adapter: Annotated[Path | None, typer.Option(help="Adapter folder.")] = None,
    voice: Annotated[str | None, typer.Option(help="Registered voice (its active version).")] = None,
    base_model: BaseOpt = None,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="Input: shopify|woocommerce|magento|merchant|generic.")
    ] = None,
    map: MapOpt = None,
    only_missing: Annotated[bool, typer.Option(help="Only products without a usable description (empty or under 8 words).")] = False,
    limit: int | None = None,
    out_format: Annotated[
        str, typer.Option("--format", help="Output: same (the catalog's own format), csv or jsonl.")
    ] = "same",
    engine: Annotated[str, typer.Option(
        help="auto (default: ct2 where CTranslate2 is installed, else hf), hf, ct2 (CTranslate2 fp32, same greedy "
             "text as hf), ct2-int8, or vllm (GPU servers).")] = "auto",
    batch_size: BatchSizeOpt = DECODING.batch_size,
    variants: Annotated[int, typer.Option(help=describe("num_variants"))] = DECODING.num_variants,
    best_of: BestOfOpt = DECODING.best_of,
    strict: StrictOpt = DECODING.strict,
    drop_contradictions: ContradictionsOpt = DECODING.drop_contradictions,
    reward: RewardOpt = None,
    max_new_tokens: Annotated[int | None, typer.Option(help=describe("max_new_tokens"))] = DECODING.max_new_tokens,
    target_words: Annotated[int | None, typer.Option(help=describe("target_words"))] = DECODING.target_words,
    sample: Annotated[bool, typer.Option(help=describe("do_sample"))] = DECODING.do_sample,
    temperature: Annotated[float, typer.Option(help=describe("temperature"))] = DECODING.temperature,
    top_p: Annotated[float, typer.Option(help=describe("top_p"))] = DECODING.top_p,
    repetition_penalty: Annotated[
        float, typer.Option(help=describe("repetition_penalty"))
    ] = DECODING.repetition_penalty,
    no_repeat_ngram_size: Annotated[
        int, typer.Option(help=describe("no_repeat_ngram_size"))
    ] = DECODING.no_repeat_ngram_size,
    seed: Annotated[int, typer.Option(help=describe("seed"))] = DECODING.seed,
    copy_bias: CopyBiasOpt = DECODING.copy_bias,
    workers: Annotated[int | None, typer.Option(
        help="Run on N Ray workers (a local Ray cluster unless --ray-address), 1 CPU thread each; same output.")
    ] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster for the workers (auto, or HOST:6379 of its head); default: a local one.")] = None,
    gpus_per_worker: Annotated[float, typer.Option(help="GPUs each Ray worker reserves (cluster recipe).")] = 0.0,
) -> None:
    """Write descriptions for a whole catalog and save it back in its own format (resumable)."""
    from catalog_writer.inference import batch

    settings = GenerationSettings(
        max_new_tokens=max_new_tokens, do_sample=sample, temperature=temperature, top_p=top_p,
        repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size, num_variants=variants,
        best_of=best_of, strict=strict, seed=seed, target_words=target_words, batch_size=batch_size,
        copy_bias=copy_bias, drop_contradictions=drop_contradictions,
    )
    batch.run_batch(
        file, out, adapter=adapter, voice=voice, base_model=base_model, input_format=input_format,
        mapping=map, only_missing=only_missing, limit=limit, out_format=out_format, settings=settings,
        engine=engine, reward=reward, runner=_ray_runner(workers, ray_address, gpus_per_worker),
    )


def _ray_runner(workers: int | None, address: str | None, gpus_per_worker: float):
    """The Ray runner for `--workers N` / `--ray-address` (one worker unless N is given); None without."""
    if workers is None and address is None:
        return None
    from catalog_writer.inference.distributed import RayRunner

    return RayRunner(1 if workers is None else workers, address, gpus_per_worker)


# The other verbs live in modules of their own; registered here so `--help` lists the commands in pipeline
# order with `app` last, then the groups models, feedback, reward.
cli_models.register(app)  # `models fetch|list|promote` (app/cli_models.py)
cli_feedback.register(app)  # `feedback export|stats`, `retrain`, `dpo` (app/cli_feedback.py)
cli_reward.register(app)  # `reward train`, `improve` (app/cli_reward.py)


@app.command("app")
def run_app(
    port: int = 8501,
    address: Annotated[str, typer.Option(help="Bind address (localhost only by default).")] = "127.0.0.1",
) -> None:
    """Start the review app (Streamlit) on the demo catalog and the embedded model.

    Settings from the environment: CATALOG_WRITER_BASE (base model folder), CATALOG_WRITER_DB (feedback
    DB URL), CATALOG_WRITER_MODELS (models root), CATALOG_WRITER_CATALOG (catalog shown first).
    """
    import subprocess

    app_py = Path(__file__).resolve().parents[2] / "app.py"
    if not app_py.exists():
        raise CatalogWriterError("app.py not found next to the package (run from a source checkout)", file=app_py)
    # The same limits as .streamlit/config.toml, for runs started outside the checkout.
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_py), "--server.address", address,
           "--server.port", str(port), "--browser.gatherUsageStats", "false", "--server.maxUploadSize", "50",
           "--runner.magicEnabled", "false"]
    raise typer.Exit(subprocess.call(cmd))


def main() -> None:
    """Console entry point: a user error is one line on stderr and exit code 2; Ctrl-C is one line saying
    how to go on and exit code 130 (the shell's code for SIGINT); neither prints a traceback."""
    try:
        app()
    except CatalogWriterError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, SystemExit) as e:
        from catalog_writer.app.interrupts import interrupted_message, was_interrupted

        if not was_interrupted(e):
            raise
        # On a line of its own: after the terminal's ^C echo, or a progress bar the interrupt cut short.
        typer.echo("\n" + interrupted_message(sys.argv[1:]), err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
