"""Candidates and the leaderboard: the one definition of a candidate, its score and rank."""

from search.candidates._candidate import (
    FIDELITIES,
    FINAL,
    FINAL_LEVEL,
    MAX_RUNGS,
    SCORE_FIELDS,
    SCREEN,
    Candidate,
    fidelity_level,
    from_trial,
    leaderboard,
    pareto_front,
    rank_key,
    rung_name,
    score,
)

__all__ = [
    "FIDELITIES",
    "FINAL",
    "FINAL_LEVEL",
    "MAX_RUNGS",
    "SCORE_FIELDS",
    "SCREEN",
    "Candidate",
    "fidelity_level",
    "from_trial",
    "leaderboard",
    "pareto_front",
    "rank_key",
    "rung_name",
    "score",
]
