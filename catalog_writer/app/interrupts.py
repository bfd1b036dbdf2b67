"""What `catalog-writer` says after Ctrl-C: one line naming the command and how to go on.

Every long command keeps its finished work, so the way on is to run it again: `generate` journals each
batch (OUT.journal.jsonl), `evaluate --report DIR` appends each batch to DIR/predictions.jsonl, `train`
checkpoints (and continues from the last one with --resume), `retrain` and `dpo` continue from their
checkpoints by themselves. The rest either finish quickly or write atomically, so nothing half-written
is left behind.
"""

from __future__ import annotations

GROUPS = ("models", "model", "feedback")  # sub-command groups: the command is two words
AGAIN = "run the same command again to resume"
HINTS = {
    "generate": AGAIN,
    "retrain": AGAIN,
    "dpo": AGAIN,
    "prepare": "nothing was written; run the same command again",
    "models fetch": "nothing was changed; run the same command again",
    "model fetch": "nothing was changed; run the same command again",
}


def _has_option(argv: list[str], name: str) -> bool:
    return any(a == name or a.startswith(name + "=") for a in argv)


def command_of(argv: list[str]) -> str:
    """The (sub-)command named on the command line, e.g. "generate" or "models fetch"."""
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        return "catalog-writer"
    return " ".join(words[:2]) if words[0] in GROUPS and len(words) > 1 else words[0]


def interrupted_message(argv: list[str]) -> str:
    """`interrupted: COMMAND; HOW TO GO ON` for the arguments after the program name."""
    cmd = command_of(argv)
    if cmd == "train":
        hint = (AGAIN if _has_option(argv, "--resume")
                else "run the same command with --resume to continue from the last checkpoint")
    elif cmd == "evaluate":
        hint = (AGAIN if _has_option(argv, "--report")
                else "predictions are kept only with --report DIR; run it again with one to make it resumable")
    else:
        hint = HINTS.get(cmd)
    return f"interrupted: {cmd}; {hint}" if hint else f"interrupted: {cmd}"


def was_interrupted(exc: BaseException) -> bool:
    """Whether Ctrl-C ended the command: typer turns KeyboardInterrupt into a silent exit 130 (older
    click: "Aborted!", exit 1), so look for it along the exception chain."""
    seen: BaseException | None = exc
    for _ in range(20):  # a chain is a few links; the bound guards against a hand-made cycle
        if seen is None:
            return False
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
