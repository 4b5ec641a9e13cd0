"""``CandidateProjector``: the one path from the search's candidates to the store's rows.

The study is the record; the ``ps_candidates`` rows are its projection for the leaderboard.
Every event that changes a candidate — a screening trial ending, a rung item, a final
fine-tune, the finals' choice (margins, test accuracy, the Pareto front) — goes through
:meth:`CandidateProjector.project` with the candidates it may have changed, and only those
that differ from what this projector last wrote are upserted.
"""

from __future__ import annotations

from collections.abc import Iterable

from search import Candidate
from workers.store import JobStore

__all__ = ["CandidateProjector"]


class CandidateProjector:
    """Upserts a job's changed candidates. What it wrote is remembered for one task only
    (:meth:`forget`): other processes write the same rows between tasks."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self._written: dict[int, Candidate] = {}

    def project(self, candidates: Iterable[Candidate]) -> int:
        """Upsert those of ``candidates`` that changed since this task wrote them; returns
        how many rows were written."""
        changed = {c.number: c for c in candidates if self._written.get(c.number) != c}
        if changed:
            self.store.record_candidates(self.job_id, list(changed.values()))
            self._written.update(changed)
        return len(changed)

    def forget(self, store: JobStore | None = None) -> None:
        """A new task: write everything again (through ``store`` if one is given)."""
        if store is not None:
            self.store = store
        self._written.clear()
