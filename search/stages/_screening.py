"""Stage 2, screening: sample, project onto the budget, prune, measure, score cheaply.

The screening score is accuracy on the search split after adaptive BatchNorm on the fixed
calibration batches, with no fine-tuning: a fine-tune of a few hundred steps rewards the
policies that recover fast rather than those that end best, and costs a hundred times more.
Every candidate sees the same calibration batches and the same images, so their scores
differ only by their policies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import optuna
from optuna.trial import TrialState
from torch import nn

from pruning import Policy, apply_policy, evaluate, recalibrate_bn
from search import _records as rec
from search._log_context import log_context
from search.baselines import SEARCH
from search.budget import BudgetMeter, Figures, Limits, project
from search.callbacks import SearchCallback
from search.exceptions import SearchCancelled
from search.preparation import Prepared
from search.space import Anchors, layer_ratios, max_ratios, sample
from search.stages._data import StageData

_EVAL_BATCH = 256

log = logging.getLogger("search.trials")


class Surplus(Exception):  # noqa: N818 - a signal, not an error
    """The trial would exceed the plan (another process took the last slot first)."""


class Objective:
    """Callable Optuna objective of the screening stage for one prepared search (one per
    process). ``anchors`` are the baselines' allocations the space perturbs."""

    def __init__(
        self,
        prepared: Prepared,
        meter: BudgetMeter,
        limits: Limits,
        callbacks: Sequence[SearchCallback],
        *,
        data: StageData,
        anchors: Anchors,
    ) -> None:
        self.prepared = prepared
        self.meter = meter
        self.limits = limits
        self.callbacks = tuple(callbacks)
        self.data = data
        self.anchors = anchors
        self.max_ratio = max_ratios(prepared.report, prepared.spec.search)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        # Every line logged during the trial (ours, pruning's, Optuna's) carries its number.
        with log_context(trial_number=trial.number):
            check_stop(self.callbacks)
            if _surplus(trial, self.prepared.spec.search.n_trials):
                rec.mark_surplus(trial)
                raise Surplus(f"trial {trial.number} is past the plan; not run")
            if rec.kind(trial) is None:
                rec.write_kind(trial, SEARCH)
            log.info("trial %d started (%s)", trial.number, rec.kind(trial))
            return self._evaluate(trial)

    def _evaluate(self, trial: optuna.Trial) -> float | tuple[float, float]:
        spec = self.prepared.spec
        start = time.perf_counter()
        sampled, criterion = sample(trial, self.prepared.report, spec.search, self.anchors)
        ratios, _ = project(self.meter, self.limits, sampled, max_ratio=self.max_ratio)
        policy = self.policy(layer_ratios(ratios, self.prepared.report), criterion)
        pruned = self.prune(policy)
        figures = self.meter.measured(pruned, ratios)
        self._record(trial, policy, figures)
        pruned_s = time.perf_counter() - start
        rec.write_timings(trial, {"prune_s": pruned_s})
        score = self.screen(pruned)
        proxy_s = time.perf_counter() - start - pruned_s
        rec.write_timings(trial, {"prune_s": pruned_s, "proxy_s": proxy_s})
        rec.write_proxy(trial, score)
        if len(spec.search.objectives) == 1:
            return score
        return score, float(_cost(figures, spec.search.objectives[1]))

    def policy(self, ratios: dict[str, float], criterion: str) -> Policy:
        options = self.prepared.spec.search
        return Policy(
            ratios=ratios,
            criterion=criterion,
            granularity=options.granularity,
            round_to=options.round_to,
        )

    def prune(self, policy: Policy) -> nn.Module:
        prepared = self.prepared
        x, y = prepared.data.train.tensors
        return apply_policy(
            prepared.model,
            policy,
            prepared.example_inputs,
            report=prepared.report,
            data=(x[:256], y[:256]),
            seed=prepared.spec.search.seed,
        )

    def _record(self, trial: optuna.Trial, policy: Policy, figures: Figures) -> None:
        violations = self.limits.violations(figures)
        rec.write_measured(
            trial,
            ratios=policy.ratios,
            criterion=policy.criterion,
            params=figures.params,
            macs=figures.macs,
            latency_ms=figures.latency_ms,
            violations=violations,
        )
        for name, excess in violations.items():
            trial.set_constraint(name, excess)

    def screen(self, pruned: nn.Module) -> float:
        """Adaptive BN on the fixed calibration batches, then accuracy on the search split."""
        options = self.prepared.spec
        recalibrate_bn(
            pruned,
            self.data.fit,
            batches=options.search.calibration_batches,
            batch_size=options.finetune.batch_size,
        )
        return evaluate(pruned, self.data.search, batch_size=_EVAL_BATCH).accuracy


def check_stop(callbacks: Sequence[SearchCallback]) -> None:
    if any(callback.should_stop() for callback in callbacks):
        raise SearchCancelled("the search was cancelled")


def _surplus(trial: optuna.Trial, planned: int) -> bool:
    """Whether ``planned`` trials that are not failed were created before this one: trial
    numbers are given out atomically by the storage, so processes racing for the last slot
    agree on who got it. Enqueued trials (baselines, warm starts) and retries come with
    their kind already set, and always run."""
    if rec.kind(trial) is not None:
        return False
    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    earlier = trial.study.get_trials(deepcopy=False, states=states)
    return sum(t.number < trial.number for t in earlier) >= planned


def _cost(figures: Figures, objective: str) -> float:
    value = {"macs": figures.macs, "params": figures.params, "latency": figures.latency_ms}[
        objective
    ]
    return float("inf") if value is None else float(value)
