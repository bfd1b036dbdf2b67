"""Evaluation report: report.md with the metrics table, PNG charts and example outputs side by side."""

from __future__ import annotations

import json
from pathlib import Path

from catalog_writer.core.fileio import atomic_write, write_json_atomic
from catalog_writer.quality.metrics import unsupported_claims, word_count

SYSTEMS = ("tuned", "tuned_plain", "tuned_best_of", "base", "copy", "neighbour")
"""The scored systems, in table order (the human references follow)."""
SYSTEM_COLOURS = {"tuned": "#2b6cb0", "tuned_plain": "#90cdf4", "tuned_best_of": "#319795", "base": "#a0aec0", "copy": "#dd6b20",
                  "neighbour": "#805ad5", "reference": "#38a169"}
METRIC_ROWS = [
    ("rouge1", "ROUGE-1 F1", "higher"), ("rouge2", "ROUGE-2 F1", "higher"), ("rougeL", "ROUGE-L F1", "higher"),
    ("coverage", "Attribute coverage", "higher"), ("unsupported_per_output", "Unsupported claims / output", "lower"),
    ("outputs_with_unsupported", "Outputs with an unsupported claim", "lower"),
    ("mean_words", "Mean words", "~reference"), ("length_ratio", "Length ratio (output/reference)", "~1"),
    ("distinct_2", "Distinct-2", "higher"),
    ("near_twins", "Outputs with a near twin among the others", "~reference"),
    ("twins_of_published", "Outputs nearly repeating a published description", "~reference"),
]

NOTE = (
    "The **copy** baseline strings the title and attribute values into one sentence. It scores well on "
    "ROUGE because references repeat those facts, and covers every attribute by construction, yet it is "
    "not a description: read ROUGE beside it, and judge models on coverage, unsupported claims, length "
    "and diversity too. The **neighbour** baseline is the description of the most similar training product "
    "(BM25 on title and facts, same brand, never the product's own group), published unedited: it shows how "
    "much of the score the brand's repeated structure gives for free, and its claims are another product's. Unsupported claims are materials, colours, sizes and numbers in an output that "
    "the product's title and facts do not contain; the **reference** column runs the human-written "
    "descriptions through the same checks, so it shows how often real copy goes beyond the catalog facts. "
    "Coverage leaves out brand, category, tags and type. A near twin shares at least half its 3-word shingles "
    "(Jaccard) with another text: twins among the outputs, or of a description the shop already publishes "
    "(the training split), are pages a shop would not publish twice; the reference column shows the brand's "
    "own habit."
)


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"), binary=True)
    plt.close(fig)
    return path.name


def charts(out: Path, result: dict, records: list[dict], preds: dict[str, list[str]]) -> list[str]:
    """rouge.png, faithfulness.png, length.png; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    systems = [s for s in preds if s in result]
    colours = [SYSTEM_COLOURS.get(s, "gray") for s in systems]
    names = []

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    metrics = ["rouge1", "rouge2", "rougeL"]
    width = 0.8 / len(systems)
    for j, (s, c) in enumerate(zip(systems, colours)):
        xs = [i + (j - (len(systems) - 1) / 2) * width for i in range(len(metrics))]
        ax.bar_label(ax.bar(xs, [result[s][m] for m in metrics], width, label=s, color=c), fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(metrics)), ["ROUGE-1", "ROUGE-2", "ROUGE-L"])
    ax.set_ylim(0, max(0.1, *(result[s][m] for s in systems for m in metrics)) * 1.15)
    ax.set_ylabel("F1 vs reference")
    ax.set_title("ROUGE (copy baseline shown for scale)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    names.append(_save(fig, out / "rouge.png"))

    fig, axes = plt.subplots(1, 2, figsize=(8.5, 3.2))
    with_ref = systems + (["reference"] if "reference" in result else [])
    for ax, (m, label) in zip(axes, [("coverage", "Attribute coverage (higher is better)"),
                                     ("unsupported_per_output", "Unsupported claims / output (lower)")]):
        values = [result[s][m] for s in with_ref]
        bars = ax.bar(with_ref, values, color=[SYSTEM_COLOURS.get(s, "gray") for s in with_ref])
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
        ax.set_ylim(0, max(1.0, *values) * 1.15)  # coverage is a share; keep 0 at the bottom when all are 0
        ax.set_title(label, fontsize=10)
    names.append(_save(fig, out / "faithfulness.png"))

    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    data = [[word_count(r["completion"][0]["content"]) for r in records]] + [[word_count(t) for t in preds[s]]
                                                                           for s in systems]
    ax.boxplot(data)
    ax.set_xticks(range(1, len(data) + 1), ["reference", *systems])
    ax.set_ylabel("words")
    ax.set_title("Length in words")
    names.append(_save(fig, out / "length.png"))
    return names


def _cell(text: str, claims: list[str] | None = None) -> str:
    """A markdown table cell: pipes escaped, line breaks kept as <br>, flagged claims appended."""
    import html

    body = html.escape(text.strip() or "(empty)").replace("|", "&#124;").replace("\n", "<br>")
    if claims:
        body += "<br>**unsupported:** " + html.escape(", ".join(claims)).replace("|", "&#124;")
    return body


def _label(system: str, result: dict) -> str:
    version = result[system].get("model_version")
    return f"{system} ({version})" if version and version != system else system


def markdown(result: dict, records: list[dict], preds: dict[str, list[str]], images: list[str],
             examples: int = 5) -> str:
    systems = [s for s in preds if s in result]
    columns = systems + (["reference"] if "reference" in result else [])
    lines = [
        "# Evaluation report", "",
        f"- Test file: `{result['test_file']}` ({result['n']} products)",
        f"- Base model: `{result['base_model']}`",
        (f"- Adapter: `{result['adapter']}` ({result['adapter_version']})" if result.get("adapter")
         else "- Adapter: none (base model and copy baseline only)"),
        f"- Decoding (same for every model): `{json.dumps(result['decoding'])}`",
        *(["- tuned and base drafts without their sentences with "
           + ("an unsupported claim" if result["decoding"].get("strict") else "a claim contradicting the facts")
           + f", as `generate` writes them (strict: {result.get('strict_from')}); tuned_plain: the same tuned "
           "drafts before"] if "tuned_plain" in result else []),
        *([f"- tuned_best_of: the same adapter, the most faithful of several samples per product: "
           f"`{json.dumps(result['decoding_best_of'])}`"] if result.get("decoding_best_of") else []),
        f"- Evaluated at: {result['evaluated_at']}", "",
        "## Metrics", "",
        "| metric | better | " + " | ".join(_label(s, result) for s in columns) + " |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for key, label, better in METRIC_ROWS:
        lines.append(f"| {label} | {better} | " + " | ".join(
            "-" if result[s].get(key) is None else f"{result[s][key]:.3f}" for s in columns) + " |")
    lines += [
        "",
        NOTE, "",
        "## Charts", "",
        *[f"![{Path(n).stem}]({n})" for n in images], "",
        f"## Examples (first {min(examples, len(records))} products)", "",
        "| title | reference | " + " | ".join(systems) + " |",
        "|---|---|" + "---|" * len(systems),
    ]
    for i, r in enumerate(records[:examples]):
        facts, title = r.get("attributes", {}), r.get("title", "")
        row = [_cell(title), _cell(r["completion"][0]["content"])]
        row += [_cell(preds[s][i], unsupported_claims(preds[s][i], facts, title)) for s in systems]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, result: dict, records: list[dict], preds: dict[str, list[str]]) -> Path:
    """Write charts, metrics.json and report.md into `out`; returns the report.md path."""
    out.mkdir(parents=True, exist_ok=True)
    images = charts(out, result, records, preds)
    write_json_atomic(out / "metrics.json", result)
    text = markdown(result, records, preds, images)
    return atomic_write(out / "report.md", lambda f: f.write(text))


def print_summary(result: dict) -> None:
    """One table: metrics down, systems across."""
    from rich.console import Console
    from rich.table import Table

    systems = [s for s in (*SYSTEMS, "reference") if s in result]
    table = Table(title=f"{result['n']} test products, greedy decoding")
    table.add_column("metric")
    for s in systems:
        version = result[s]["model_version"]
        table.add_column(s if version == s else f"{s}\n{version}", justify="right")
    for metric in ("rouge1", "rouge2", "rougeL", "coverage", "unsupported_per_output", "outputs_with_unsupported",
                   "mean_words", "reference_mean_words", "length_ratio", "distinct_2", "near_twins",
                   "twins_of_published"):
        table.add_row(metric, *("-" if result[s].get(metric) is None else f"{result[s][metric]:.3f}"
                                for s in systems))
    console = Console()
    console.print(table)
    console.print("The copy baseline only strings the facts together: high ROUGE there is not a description. "
                  "The neighbour baseline is the description of the most similar training product, unedited. "
                  "near_twins: outputs sharing half their 3-word shingles with another output; "
                  "twins_of_published: with a training description the shop already publishes.")
    if best := result.get("decoding_best_of"):
        rank = "the best by the " + result["best_of_ranking"] if result.get("best_of_ranking", "claim checker") \
            != "claim checker" else "the most faithful"
        console.print(f"tuned_best_of: {rank} of {best['best_of']} samples per product (temperature "
                      f"{best['temperature']}, top-p {best['top_p']}{', strict' if best['strict'] else ''}).")
    if "tuned_plain" in result:
        drops = "an unsupported claim" if result["decoding"]["strict"] else "a claim contradicting the facts"
        console.print(f"tuned and base: without their sentences with {drops} (strict: {result['strict_from']}); "
                      "tuned_plain: the same tuned drafts before.")
    if result.get("report"):
        console.print(f"Report: {result['report']}")
