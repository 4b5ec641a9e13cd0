"""The search space over per-group keep ratios."""

from search.space._space import as_params, layer_ratios, param_name, sample

__all__ = ["as_params", "layer_ratios", "param_name", "sample"]
