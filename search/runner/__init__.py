"""Running a search: whole (``run_search``) or in slices (``SearchSession``)."""

from search.runner._result import SearchResult
from search.runner._run import run_search
from search.runner._session import Progress, SearchSession
from search.runner._study import default_study_name, fail_dead_trials, make_storage, open_study

__all__ = [
    "Progress",
    "SearchResult",
    "SearchSession",
    "default_study_name",
    "fail_dead_trials",
    "make_storage",
    "open_study",
    "run_search",
]
