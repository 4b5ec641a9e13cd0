"""The tiny digits job the search and worker tests share: seconds of training on two cores.

Kept as a plain dict, the form in which the service stores a spec; ``tiny`` overrides it
section by section.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TINY", "tiny"]

TINY: dict[str, Any] = {
    "name": "tiny",
    "model": {"zoo": "small_cnn", "kwargs": {"width": 8}, "pretrain_epochs": 6},
    "data": {"source": "digits"},
    "budget": {"max_macs": 0.4},
    "search": {"n_trials": 6, "seed": 0, "search_split": 300, "calibration_batches": 2},
    "finetune": {
        "rung_candidates": 2,
        "rungs": 1,
        "rung_steps": 4,
        "final_epochs": 1,
        "finalists": 1,
        "distill": True,
    },
}


def tiny(**sections: dict[str, Any]) -> dict[str, Any]:
    """TINY with sections overridden key by key: ``tiny(search={"n_trials": 2})``."""
    spec = {k: dict(v) if isinstance(v, dict) else v for k, v in TINY.items()}
    for name, values in sections.items():
        spec[name] = {**spec.get(name, {}), **values}
    return spec
