"""``prunesearch demo``: one real job end to end on the embedded default, in one command.

Migrates a SQLite database in a scratch folder, serves the API on 127.0.0.1 (a free port,
auth off: loopback only, no broker, so the jobs run in the API process), submits a small
CNN on 4,000 Fashion-MNIST training images over REST through
:class:`service.client.Client`, follows it, prints the leaderboard with its baselines,
downloads the best bundle, loads it back with ``pruning.load_bundle`` and checks its test
accuracy against the reported one.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from service.cli._console import EXIT_FAILED, EXIT_INTERRUPTED, fail, make_console
from service.cli._remote import client_errors
from service.cli._remote_tables import print_results
from service.cli._watch import JobProgress, check_outcome
from service.client import BestInfo, Client, ClientError
from service.settings import Settings

__all__ = ["demo_spec", "register"]

DEFAULT_OUT = Path("prunesearch-demo")
SERVER_FOLDER = "server"
# The files of a bundle: a re-run replaces them, so no stale model.onnx outlives its model.
_BUNDLE_FILES = ("model.safetensors", "model.onnx", "policy.json", "report.json")


def demo_spec(
    trials: int = 40, *, pretrain_epochs: int = 8, final_epochs: int = 2
) -> dict[str, Any]:
    """The demo's job: a small CNN on 4,000 Fashion-MNIST images, trained here, pruned to
    15% of its MACs (chosen with benchmarks/demo_seeds.py, where the search beat the uniform
    baseline on most seeds; at gentler budgets on digits the baselines won as often)."""
    return {
        "name": "demo-fmnist-small-cnn",
        "model": {"zoo": "small_cnn", "kwargs": {"width": 16}, "pretrain_epochs": pretrain_epochs},
        "data": {"source": "fashion-mnist", "train_subset": 4000, "val_fraction": 0.15, "seed": 0},
        "budget": {"max_macs": 0.15},
        "search": {"n_trials": trials, "seed": 0, "search_split": 300},
        "finetune": {
            "rung_candidates": 6,
            "rungs": 2,
            "rung_steps": 20,
            "final_epochs": final_epochs,
            "finalists": 2,
        },
    }


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Folder for the best model (a bundle)."),
    ] = DEFAULT_OUT,
    trials: Annotated[
        int,
        typer.Option(
            "--trials",
            min=3,
            metavar="N",
            help="Candidates screened, the three baselines included.",
        ),
    ] = 40,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the server's database and artifacts (in DIR/server)."),
    ] = False,
    # Shorter training for the test suite; the defaults are what the demo is about.
    pretrain_epochs: Annotated[int, typer.Option(min=1, hidden=True)] = 8,
    final_epochs: Annotated[int, typer.Option(min=1, hidden=True)] = 2,
) -> None:
    """Run a real job end to end on this machine: API, search, leaderboard, best model.

    Nothing to set up: SQLite, no Redis, auth off on 127.0.0.1. A few minutes on two cores.
    """
    console, errors = make_console(), make_console(stderr=True)
    spec = demo_spec(trials, pretrain_epochs=pretrain_epochs, final_epochs=final_epochs)
    started = time.monotonic()
    console.print(
        Text("prunesearch demo", style="bold")
        + Text(": a small CNN on Fashion-MNIST, pruned to 15% of its MACs by a search over REST")
    )
    with _workspace(errors, out, keep) as server_dir:
        best, bundle = _run(console, errors, spec, server_dir, out)
    _check_bundle(console, errors, spec, best, bundle)
    console.print(Text(f"demo finished in {time.monotonic() - started:.0f} s", style="bold green"))


@contextmanager
def _workspace(errors: Console, out: Path, keep: bool) -> Iterator[Path]:
    """The server's folder: DIR/server with --keep, else a scratch folder removed after."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if keep:
            (out / SERVER_FOLDER).mkdir(exist_ok=True)
    except OSError as exc:
        fail(errors, f"--out: cannot use {out}: {exc}", EXIT_FAILED)
    if keep:
        yield out / SERVER_FOLDER
        return
    with tempfile.TemporaryDirectory(prefix="prunesearch-demo-") as scratch:
        yield Path(scratch)


def _run(
    console: Console, errors: Console, spec: dict[str, Any], folder: Path, out: Path
) -> tuple[BestInfo, Path]:
    from service.app import create_app
    from service.cli._local_server import ServerError, serve_in_thread
    from service.db import migrate

    settings = Settings(
        database_url=f"sqlite:///{(folder / 'prunesearch.db').resolve()}",
        artifact_dir=folder / "artifacts",
        broker_url=None,
        auth=False,
        host="127.0.0.1",
    )
    _quiet_libraries()
    try:
        migrate(settings.database_url)
        with serve_in_thread(create_app(settings)) as url, Client(url, timeout=120) as client:
            console.print(Text(f"API on {url} (embedded execution, SQLite in {folder})"))
            with client_errors(errors):
                return _job(console, errors, client, spec, out)
    except typer.Exit:
        raise
    except ServerError as exc:
        fail(errors, str(exc), EXIT_FAILED)
    except Exception as exc:
        # Anything else (a database that cannot be created, a bug) still ends in one line.
        fail(errors, f"the demo failed: {type(exc).__name__}: {exc}", EXIT_FAILED)


def _job(
    console: Console, errors: Console, client: Client, spec: dict[str, Any], out: Path
) -> tuple[BestInfo, Path]:
    job = client.submit(spec)
    console.print(Text(f"submitted job {job.id}: {job.progress.trials_planned} trials planned"))
    try:
        with JobProgress(console) as progress:
            job = client.wait(job.id, poll_s=1.0, on_progress=progress)
    except KeyboardInterrupt:
        # The server stops after this: let the running trial end at its next epoch.
        with suppress(ClientError):
            client.cancel(job.id)
        fail(errors, "interrupted; the job was cancelled", EXIT_INTERRUPTED)
    check_outcome(errors, job)
    best = client.best(job.id)
    print_results(console, job, client.leaderboard(job.id, limit=100), best)
    for name in _BUNDLE_FILES:
        (out / name).unlink(missing_ok=True)
    bundle = client.download(job.id, out)
    files = ", ".join(name for name in _BUNDLE_FILES if (bundle / name).is_file())
    console.print(Text(f"best model written to {bundle}/ ({files})", style="bold"))
    return best, bundle


def _check_bundle(
    console: Console, errors: Console, spec: dict[str, Any], best: BestInfo, bundle: Path
) -> None:
    """Load the bundle as a user would and compare its test accuracy with the reported."""
    from pruning import PruningError, evaluate, load_bundle, zoo
    from pruning.data import load_builtin

    data_spec, model_spec = spec["data"], spec["model"]
    try:
        data = load_builtin(
            data_spec["source"],
            train_subset=data_spec.get("train_subset"),
            val_fraction=data_spec["val_fraction"],
            seed=data_spec["seed"],
        )
        kwargs = {
            "num_classes": data.num_classes,
            "in_channels": data.input_shape[0],
            **model_spec["kwargs"],
        }
        model = load_bundle(bundle, lambda: zoo.build(model_spec["zoo"], **kwargs))
        assert data.test is not None  # the built-in sets always have a test split
        measured = evaluate(model, data.test).accuracy
    except PruningError as exc:
        fail(errors, f"cannot load the downloaded bundle {bundle}: {exc}", EXIT_FAILED)
    reported = best.candidate.test_accuracy
    line = f"test accuracy of the loaded bundle {measured:.2%}, reported {_shown(reported)}"
    # Both count the same test samples: equal up to float rounding, or something is wrong.
    if reported is None or abs(measured - reported) > 0.5 / len(data.test):
        fail(errors, f"{line}: they differ", EXIT_FAILED)
    console.print(Text(f"{line}: they match", style="bold green"))


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.2%}"


def _quiet_libraries() -> None:
    # The progress bar replaces Optuna's per-trial log lines, and the experimental
    # heartbeat features the workers use would warn on every trial.
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
