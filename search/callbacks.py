"""Callbacks: progress per trial and per epoch, and cooperative cancellation."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from pruning import EpochMetrics
from search.candidates import Candidate

__all__ = ["EpochEvent", "SearchCallback", "TrialEvent"]


@dataclass(frozen=True)
class TrialEvent:
    """A candidate moved on: its screening trial finished (complete, pruned or failed), or
    one of its rungs or finals ended. ``stage`` is the study's stage after it (``screen``,
    ``rung-k``, ``final``); the trial counts are screening trials."""

    candidate: Candidate
    trials_done: int
    trials_failed: int
    trials_planned: int
    best_score: float | None
    elapsed_s: float
    eta_s: float | None
    stage: str = "screen"


@dataclass(frozen=True)
class EpochEvent:
    """An epoch of a fine-tune ended. ``phase`` is ``rung-k`` or ``final``."""

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
        """Called after each screening trial, rung item and final, with progress so far."""

    def on_epoch_end(self, event: EpochEvent) -> None:  # noqa: B027
        """Called after each fine-tune epoch (rungs and finals)."""

    def should_stop(self) -> bool:
        """Return True to cancel the search."""
        return False
