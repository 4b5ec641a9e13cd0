"""Consoles and error exits shared by the commands."""

from __future__ import annotations

import os
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

# Exit codes: 1 the work failed, 2 the input is wrong (as click's usage errors), 130 Ctrl-C.
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130

_LOG_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    """A Rich console on stdout (results) or stderr (progress and errors)."""
    console = Console(stderr=stderr, highlight=False)
    # Rich assumes 80 columns when the output is not a terminal (a pipe, a CI log, a test
    # runner) and would fold the leaderboard's dozen columns; logs have no width to keep to.
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _LOG_WIDTH
    return console


def fail(console: Console, message: str, code: int, *, hint: str | None = None) -> NoReturn:
    """Print ``error: message`` (and a hint) and leave with ``code``, no traceback."""
    # Text, not markup: messages quote user input and shapes like "[1, 28, 28]".
    console.print(Text("error: ", style="bold red") + Text(message))
    if hint:
        console.print(Text("hint: ", style="yellow") + Text(hint))
    raise typer.Exit(code)
