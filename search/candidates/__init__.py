"""Candidates and the leaderboard."""

from search.candidates._candidate import Candidate, from_trial, leaderboard, pareto_front

__all__ = ["Candidate", "from_trial", "leaderboard", "pareto_front"]
