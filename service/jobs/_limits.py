"""Upper bounds on what one job may cost: one table, settings field -> spec field.

The spec itself only says what is well-formed (a positive trial count); how much one
submission may ask of the workers is the operator's choice, so the bounds are settings
(``PRUNESEARCH_MAX_TRIALS`` ...) checked here, at submission, before anything is stored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from search import SearchSpec, SpecError
from service.settings import Settings

__all__ = ["COST_BOUNDS", "Bound", "check_cost"]


def _elements(shape: Sequence[int]) -> int:
    return math.prod(shape)


@dataclass(frozen=True)
class Bound:
    """``path`` (dotted attributes of :class:`SearchSpec`) may be at most the setting
    ``setting``; ``measure`` (default: the value itself) turns the field's value into the
    figure compared."""

    setting: str
    path: str
    measure: Callable[[Any], float] | None = None
    unit: str = ""


COST_BOUNDS: tuple[Bound, ...] = (
    Bound("max_trials", "search.n_trials"),
    Bound("max_parallelism", "search.parallelism"),
    Bound("max_epochs", "model.pretrain_epochs"),
    Bound("max_epochs", "finetune.final_epochs"),
    Bound("max_finalists", "finetune.finalists"),
    Bound("max_trials", "finetune.rung_candidates"),
    Bound("max_rung_steps", "finetune.rung_steps"),
    Bound("max_batch_size", "finetune.batch_size"),
    Bound("max_batch_size", "budget.latency.batch_size"),
    Bound("max_threads", "budget.latency.threads"),
    Bound("max_lr", "finetune.lr"),
    Bound("max_lr", "model.pretrain_lr"),
    Bound("max_train_samples", "data.train_subset"),
    Bound("max_input_elements", "model.input_shape", _elements, " elements"),
)


def check_cost(spec: SearchSpec, settings: Settings) -> None:
    """Refuse ``spec`` if any field of :data:`COST_BOUNDS` is over its bound.

    Raises:
        SpecError: naming the field, the bound and the setting that sets it.
    """
    for bound in COST_BOUNDS:
        value = _lookup(spec, bound.path)
        if value is None:
            continue  # an optional field left out: nothing to bound
        limit = getattr(settings, bound.setting)
        # Compared as given: an int of any size is exact (float() of 10**400 overflows).
        figure = value if bound.measure is None else bound.measure(value)
        if figure > limit:
            raise SpecError(
                f"{figure}{bound.unit} is over this server's limit of {limit}{bound.unit} "
                f"(PRUNESEARCH_{bound.setting.upper()})",
                field=bound.path,
            )


def _lookup(spec: SearchSpec, path: str) -> Any:
    value: Any = spec
    for part in path.split("."):
        value = getattr(value, part)
    return value
