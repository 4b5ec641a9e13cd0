"""``run_search``: a whole search in this process, no server needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from optuna.storages import BaseStorage

from search.callbacks import SearchCallback
from search.preparation import Resolver, prepare
from search.runner._result import SearchResult
from search.runner._session import SearchSession
from search.spec import SearchSpec


def run_search(
    spec: SearchSpec,
    storage: str | BaseStorage | None = None,
    callbacks: Sequence[SearchCallback] = (),
    *,
    study_name: str | None = None,
    resolve: Resolver = Path,
    allowed_factories: Sequence[str] | None = None,
    reference_weights: Path | None = None,
) -> SearchResult:
    """Run ``spec`` to the end: prepare, baselines, trials, final fine-tunes.

    ``storage`` is any Optuna storage or URL (``None``: in memory). Running again with the
    same storage and study name resumes: finished trials and final fine-tunes are not
    redone. Pass ``reference_weights`` (a file path) to keep the unpruned model trained for
    a spec without weights, so a resumed run compares against the very same model.

    Raises:
        SpecError: the spec cannot be prepared (named field), or
        BudgetError: no policy within the bounds meets the budget, before any trial.
        SearchCancelled: a callback stopped the search; finished trials are kept.
    """
    prepared = prepare(
        spec,
        resolve=resolve,
        allowed_factories=allowed_factories,
        reference_weights=reference_weights,
    )
    session = SearchSession(prepared, storage=storage, study_name=study_name, callbacks=callbacks)
    session.enqueue_baselines()
    session.run_slice()
    return session.finalize()
