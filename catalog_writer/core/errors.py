"""User-facing errors: printed by the CLI as one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path


class CatalogWriterError(Exception):
    """A problem with the user's input or setup that they can fix.

    `file`, `row` (1-based, the header is row 1) and `column` are included in the message when known,
    so the one line printed by the CLI says exactly where to look.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message
