"""Search callbacks and the events they receive."""

from search.callbacks._callbacks import EpochEvent, SearchCallback, TrialEvent

__all__ = ["EpochEvent", "SearchCallback", "TrialEvent"]
