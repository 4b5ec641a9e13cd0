"""Callbacks: progress per trial and per epoch, and cooperative cancellation."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from pruning import EpochMetrics
from search.candidates import Candidate


@dataclass(frozen=True)
class TrialEvent:
    """A trial finished (complete, pruned or failed)."""

    candidate: Candidate
    trials_done: int
    trials_failed: int
    trials_planned: int
    best_score: float | None
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class EpochEvent:
    """An epoch of a fine-tune ended. ``phase`` is ``proxy`` or ``final``."""

    number: int
    phase: str
    metrics: EpochMetrics


class SearchCallback(abc.ABC):  # noqa: B024 - every hook is optional
    """Hooks a caller gives :func:`search.run_search`; each default does nothing.

    Hooks run in the searching thread; they should return quickly. ``should_stop`` is asked
    before each trial and after every epoch: returning True raises
    :class:`search.SearchCancelled` there, and the trial in progress is recorded as failed
    while every finished candidate is kept.
    """

    def on_trial_end(self, event: TrialEvent) -> None:  # noqa: B027
        """Called after each trial, with progress so far."""

    def on_epoch_end(self, event: EpochEvent) -> None:  # noqa: B027
        """Called after each fine-tune epoch (proxy and final)."""

    def should_stop(self) -> bool:
        """Return True to cancel the search."""
        return False
