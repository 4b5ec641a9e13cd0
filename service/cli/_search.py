"""``prunesearch search SPEC.yaml``: a whole search in this process, no server."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import optuna
import typer
from rich.console import Console
from rich.text import Text

from pruning import PruningError
from search import (
    BudgetError,
    SearchCancelled,
    SearchError,
    SearchResult,
    SearchSpec,
    SpecError,
    default_study_name,
    json_safe,
    run_search,
)
from service.cli._console import EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, fail, make_console
from service.cli._outputs import (
    OutputPaths,
    claim_reference,
    open_storage,
    output_paths,
    save_bundle,
    shown_url,
)
from service.cli._progress import SearchProgress
from service.cli._tables import print_report

SpecArg = Annotated[
    Path, typer.Argument(help="The job spec (YAML): model, data, budget, search, finetune.")
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        metavar="URL",
        help="Optuna storage URL, e.g. sqlite:///s.db or postgresql://... "
        "(default: a SQLite file study.db in the out folder)",
        show_default=False,
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        help="Folder for the best bundle (default: ./prunesearch-out/<study name>)",
        show_default=False,
    ),
]
StudyOpt = Annotated[
    str | None,
    typer.Option(
        "--study",
        metavar="NAME",
        help="Study name; the same storage and name resume (default: from the spec's name "
        "and fingerprint)",
        show_default=False,
    ),
]
ReferenceOpt = Annotated[
    Path | None,
    typer.Option(
        "--reference",
        metavar="PATH",
        help="Safetensors file keeping the trained unpruned model, reused when present "
        "(default: reference.safetensors in the out folder)",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout instead of tables.")
]


def register(app: typer.Typer) -> None:
    app.command("search")(search)


def search(
    spec: SpecArg,
    storage: StorageOpt = None,
    out: OutOpt = None,
    study: StudyOpt = None,
    reference: ReferenceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search pruning policies for SPEC.yaml locally, print the leaderboard, write the best.

    Runs the uniform and global baselines, then the searched trials with a cheap proxy
    score, then the final fine-tune of the baselines and finalists. Interrupted or not,
    finished trials stay in the storage: running the same command again resumes.
    """
    results, messages = make_console(), make_console(stderr=True)
    parsed = load_spec(messages, spec)
    name = study or default_study_name(parsed)
    paths = output_paths(parsed, name, out=out, storage=storage, reference=reference)
    _prepare_outputs(messages, parsed, paths)
    _quiet_optuna()
    if parsed.search.parallelism > 1:
        # Parallel trials are the service's workers' business; say so rather than ignore it.
        messages.print(
            "note: search.parallelism applies to the service's workers; "
            "this local run evaluates one trial at a time.",
            style="dim",
        )
    with _search_errors(messages, paths.storage):
        result = _run(messages, parsed, spec, paths)
        bundle = save_bundle(messages, result, paths.out)
    _print_result(results, result, paths, bundle, as_json=as_json)
    if bundle is None:
        fail(messages, "the search found no feasible candidate; no model was written", EXIT_FAILED)


def _print_result(
    console: Console, result: SearchResult, paths: OutputPaths, bundle: str | None, *, as_json: bool
) -> None:
    if as_json:
        # Plain JSON on stdout (progress went to stderr): ``| jq`` works on it.
        document = {**result.to_dict(), "bundle": bundle, "storage": shown_url(paths.storage)}
        typer.echo(json.dumps(json_safe(document), indent=2))
        return
    print_report(console, result)
    # Text, not markup: names and paths are the user's and may hold "[...]".
    console.print(Text(f"Study {result.study_name!r} in {shown_url(paths.storage)}"))
    if bundle is not None:
        console.print(Text(f"Best model written to {bundle}", style="bold"))


def load_spec(console: Console, path: Path) -> SearchSpec:
    """The spec at ``path``, or an exit 2 naming the field (or the unreadable file)."""
    try:
        return SearchSpec.from_yaml(path)
    except SpecError as exc:
        # Read errors already name the file; validation errors name only the field.
        message = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
        fail(console, message, EXIT_INPUT)
    except UnicodeDecodeError as exc:
        # from_yaml reads text; a binary file fails decoding rather than with an OSError.
        fail(console, f"{path}: cannot read spec: not UTF-8 text ({exc.reason})", EXIT_INPUT)


def _prepare_outputs(console: Console, spec: SearchSpec, paths: OutputPaths) -> None:
    # Checked before the reference model trains, which may take minutes.
    try:
        paths.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(console, f"--out: cannot create {paths.out}: {exc}", EXIT_INPUT)
    if paths.reference_owned:
        claim_reference(console, spec, paths.reference)
    paths.done_before = open_storage(console, paths.storage, paths.study)


def _run(console: Console, spec: SearchSpec, spec_path: Path, paths: OutputPaths) -> SearchResult:
    with SearchProgress(console, spec, done_before=paths.done_before) as progress:
        return run_search(
            spec,
            storage=paths.storage,
            callbacks=[progress],
            study_name=paths.study,
            resolve=_resolver(spec_path.parent),
            reference_weights=paths.reference,
        )


@contextmanager
def _search_errors(console: Console, storage: str) -> Iterator[None]:
    """Expected failures of a search as messages and exit codes, never a traceback."""
    try:
        yield
    except BudgetError as exc:
        hint = (
            f"the smallest achievable is {exc.smallest:.6g}: raise the limit to at least "
            "that, or lower search.min_keep"
        )
        fail(console, str(exc), EXIT_INPUT, hint=hint)
    except SpecError as exc:
        fail(console, str(exc), EXIT_INPUT)
    except (KeyboardInterrupt, SearchCancelled):
        message = f"interrupted; finished trials are kept in {shown_url(storage)}"
        fail(console, message, EXIT_INTERRUPTED, hint="run the same command again to resume")
    except (PruningError, SearchError) as exc:
        fail(console, str(exc), EXIT_FAILED)


def _resolver(base: Path) -> Callable[[str], Path]:
    """Paths in a spec (weights, tensors) are relative to the spec's folder, not the cwd."""

    def resolve(value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path

    return resolve


def _quiet_optuna() -> None:
    # The progress display replaces Optuna's per-trial log lines, and the experimental
    # heartbeat/retry features the runner uses would warn on every run.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
