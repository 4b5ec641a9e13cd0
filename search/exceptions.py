"""The exceptions of :mod:`search`: one tree, rooted at :class:`SearchError`."""

from __future__ import annotations

__all__ = [
    "BudgetError",
    "ImportanceUnavailable",
    "SearchCancelled",
    "SearchError",
    "SpecError",
]


class SearchError(Exception):
    """Base class of every error raised by :mod:`search`."""


class SpecError(SearchError, ValueError):
    """A job spec is invalid. ``field`` names the offending field as a dotted path."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class BudgetError(SpecError):
    """No policy within the bounds meets the budget; ``smallest`` is the best achievable."""

    def __init__(self, message: str, *, field: str, smallest: float) -> None:
        super().__init__(message, field=field)
        self.smallest = smallest


class SearchCancelled(SearchError):  # noqa: N818 - a signal, not a failure
    """A callback asked the search to stop; finished candidates are kept."""


class ImportanceUnavailable(SearchError):  # noqa: N818 - a state of the study, not a fault
    """A study's parameter importance cannot be computed yet: too few complete trials, or
    nothing varied. ``trials_used`` is the number of usable (complete) trials."""

    def __init__(self, message: str, *, trials_used: int) -> None:
        super().__init__(message)
        self.trials_used = trials_used
