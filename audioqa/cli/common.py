"""What every command shares: the consoles, the one error boundary, the choices and the common options."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from ..errors import AudioQAError

err = Console(stderr=True, soft_wrap=True)  # one-line reasons stay on one line
out = Console(width=None if sys.stdout.isatty() else 240)  # logs and pipes get the whole table


def say(label: str, message: str, *, style: str = "red") -> None:
    """``label: message`` on stderr; the message is never read as rich markup (file names hold '[')."""
    err.print(Text.assemble((f"{label}: ", style), message), highlight=False)


def output_folder(path: Path) -> Path:
    """Create ``--out`` if needed and check that files can be written there, before any work is done."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AudioQAError(f"--out {path}: cannot be used as the output folder ({e.strerror})") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise AudioQAError(f"--out {path}: cannot write there ({e.strerror})") from None
    return path


class ErrorsToExitCodes(TyperGroup):
    """The CLI's one error boundary: an AudioQAError from any command is one line and exit 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except AudioQAError as e:
            say("error", str(e))
            raise typer.Exit(code=2) from None


# Choices: typer refuses any other value, listing these.
Language = Literal["auto", "zh", "en"]
Device = Literal["cpu", "cuda"]
HtmlAudio = Literal["embed", "link"]
Executor = Literal["local", "ray"]
ExportFormat = Literal["csv", "parquet", "jsonl"]
ExportBy = Literal["call", "agent"]

ConfigOption = Annotated[Optional[Path], typer.Option(
    "--config", help="YAML merged over audioqa's defaults (audioqa/configs/default.yaml).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]



def table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["result"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row[c]) for c in columns))
    return table


def print_result(title: str, rows: list[dict[str, Any]], as_json: bool, *, whole: Any = None) -> None:
    """Rows as a table, or ``whole`` (default: the rows) as one line of JSON."""
    if as_json:
        print(json.dumps(rows if whole is None else whole, ensure_ascii=False))
    else:
        out.print(table(title, rows))
