"""The exceptions of :mod:`pruning`: one tree, rooted at :class:`PruningError`.

Callers (the search engine, the workers, the REST service) catch :class:`PruningError`
and translate it at their edge; the subclasses tell them why.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "BundleError",
    "DataError",
    "ExportError",
    "PolicyError",
    "PruningError",
    "ShapeError",
    "ZooError",
]


class PruningError(Exception):
    """Base class of every error raised by :mod:`pruning`."""


class AnalysisError(PruningError):
    """The model cannot be traced or analysed (bad example inputs, untraceable forward)."""


class PolicyError(PruningError, ValueError):
    """A policy is invalid for the model: unknown layer, ratio out of range, bad option."""


class ShapeError(PruningError):
    """A pruned model failed its forward check or changed its output shape."""


class BundleError(PruningError):
    """A bundle is missing, corrupt, or does not match the architecture it is loaded into."""


class DataError(PruningError, ValueError):
    """Data cannot be loaded: missing files, wrong keys or shapes, unknown source."""


class ExportError(PruningError):
    """A model could not be exported, or the export does not reproduce its outputs."""


class ZooError(PruningError, ValueError):
    """Unknown built-in architecture or bad arguments for one."""
