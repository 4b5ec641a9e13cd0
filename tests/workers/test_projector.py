"""The candidate projector: every event's candidates through one path, changed ones only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from search import Candidate
from tests.workers.memory_store import MemoryStore
from workers._projector import CandidateProjector


class CountingStore(MemoryStore):
    writes: list[list[int]]

    def record_candidates(self, job_id: str, candidates: Sequence[Candidate]) -> None:
        self.writes.append([c.number for c in candidates])
        super().record_candidates(job_id, candidates)


def test_only_changed_candidates_are_upserted_until_the_next_task(tmp_path: Path) -> None:
    store = CountingStore(tmp_path, f"sqlite:///{tmp_path / 'studies.db'}")
    store.writes = []
    job_id = store.submit({"search": {"n_trials": 3}})
    board = [Candidate(n, "search", "complete", proxy_score=0.5 + n / 10) for n in range(3)]
    projector = CandidateProjector(store, job_id)

    assert projector.project([board[0]]) == 1  # a trial ended
    assert projector.project(board) == 2  # a final: the whole board, the first unchanged
    chosen = replace(board[1], accuracy=0.9, fidelity="final", pareto=True)
    assert projector.project([board[0], chosen, board[2]]) == 1  # the choice
    assert projector.project([]) == 0

    assert store.writes == [[0], [1, 2], [1]]
    assert store.job(job_id).candidates[1] == chosen.to_dict()
    projector.forget()  # another task: other processes may have written meanwhile
    assert projector.project(board[:1]) == 1
