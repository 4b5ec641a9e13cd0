"""The sensitivity curves a study stores (stage 1, :mod:`search.stages._sensitivity`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from search import _records as rec


def stored_sensitivity(study: optuna.Study) -> Mapping[str, Any] | None:
    """``{"reference_accuracy": a, "ratios": [prune ratio, ...], "groups": {root: [drop,
    ...]}}`` as measured once per study; None before it is measured, or for granularities
    other than channel (which measure none)."""
    value = study.user_attrs.get(rec.SENSITIVITY)
    return value if isinstance(value, Mapping) else None
