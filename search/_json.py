"""NaN and infinities as None: the one rule for every figure written out as JSON.

JSON (and PostgreSQL's JSONB) has no spelling for them, and a stored NaN would poison
every maximum and comparison read back later."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["finite", "json_safe"]


def finite(value: float | None) -> float | None:
    """``value`` as a float, or None if it is None, NaN or infinite."""
    return None if value is None or not math.isfinite(value) else float(value)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN and infinity (in nested mappings and sequences too) as
    None, and mapping keys as strings; anything else unchanged."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value
