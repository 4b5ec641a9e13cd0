"""The root ``typer.Typer`` that every command group registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="prunesearch",
    help="Search per-layer pruning policies for a PyTorch model within a budget.",
    no_args_is_help=True,
    add_completion=False,
    # Expected failures become short messages and exit codes in each command; a traceback
    # is left for real bugs, printed plainly rather than as Rich's multi-screen panels.
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Search per-layer pruning policies for a PyTorch model within a budget."""
    # A callback keeps ``app`` a command group even while it holds a single command, so
    # ``prunesearch search SPEC`` stays spelled the same as more commands arrive.
