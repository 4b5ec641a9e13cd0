"""Applying a policy: structured through Torch-Pruning, unstructured through torch's prune.

``attach``, ``width``, ``shrink`` and ``DataSample`` are here for the rest of ``pruning``
(bundles rebuild a pruned architecture, sensitivity takes the same data); ``shrink`` is also
public in :mod:`pruning`, for the search's cost counting.
"""

from pruning.apply._apply import apply_policy
from pruning.apply._gradients import DataSample
from pruning.apply._ranking import group_importance
from pruning.apply._record import PruneRecord, attach, record_of, width
from pruning.apply._structured import shrink

__all__ = [
    "DataSample",
    "PruneRecord",
    "apply_policy",
    "attach",
    "group_importance",
    "record_of",
    "shrink",
    "width",
]
