"""Per-layer sensitivity: the first step of automated pruning pipelines."""

from pruning.sensitivity._sensitivity import SensitivityResult, sensitivity

__all__ = ["SensitivityResult", "sensitivity"]
