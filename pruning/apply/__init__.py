"""Applying a policy: structured through Torch-Pruning, unstructured through torch's prune."""

from pruning.apply._apply import apply_policy
from pruning.apply._ranking import group_importance
from pruning.apply._record import PruneRecord, record_of

__all__ = ["PruneRecord", "apply_policy", "group_importance", "record_of"]
