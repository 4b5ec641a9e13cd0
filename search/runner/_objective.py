"""The objective: sample, project onto the budget, prune, measure, score by the proxy."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import optuna
import torch
from torch import nn
from torch.utils.data import Subset

from pruning import EpochMetrics, Policy, apply_policy, evaluate, finetune, recalibrate_bn
from search._log_context import log_context
from search.baselines import SEARCH
from search.budget import BudgetMeter, Figures, Limits, project
from search.callbacks import EpochEvent, SearchCallback
from search.candidates._candidate import (
    CONSTRAINTS,
    CRITERION,
    FEASIBLE,
    KIND,
    LATENCY,
    MACS,
    PARAMS,
    PROXY,
    RATIOS,
    TIMINGS,
)
from search.exceptions import SearchCancelled
from search.preparation import Prepared
from search.space import layer_ratios, sample

_BN_BATCHES = 20

log = logging.getLogger("search.trials")


class Objective:
    """Callable Optuna objective for one prepared search (one per process)."""

    def __init__(
        self,
        prepared: Prepared,
        meter: BudgetMeter,
        limits: Limits,
        callbacks: Sequence[SearchCallback],
    ) -> None:
        self.prepared = prepared
        self.meter = meter
        self.limits = limits
        self.callbacks = tuple(callbacks)
        options = prepared.spec.search
        self.max_ratio = 1.0 - options.min_keep
        self.proxy_data = _subset(prepared, prepared.spec.finetune.proxy_samples)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        # Every line logged during the trial (ours, pruning's, Optuna's) carries its number.
        with log_context(trial_number=trial.number):
            check_stop(self.callbacks)
            if KIND not in trial.user_attrs:
                trial.set_user_attr(KIND, SEARCH)
            log.info("trial %d started (%s)", trial.number, trial.user_attrs[KIND])
            return self._evaluate(trial)

    def _evaluate(self, trial: optuna.Trial) -> float | tuple[float, float]:
        spec = self.prepared.spec
        start = time.perf_counter()
        sampled, criterion = sample(trial, self.prepared.report, spec.search)
        ratios, _ = project(self.meter, self.limits, sampled, max_ratio=self.max_ratio)
        policy = self.policy(layer_ratios(ratios, self.prepared.report), criterion)
        pruned = self.prune(policy)
        figures = self.meter.measured(pruned, ratios)
        self._record(trial, policy, figures)
        pruned_s = time.perf_counter() - start
        trial.set_user_attr(TIMINGS, {"prune_s": pruned_s})
        try:
            score = self._proxy(trial, pruned)
        finally:
            proxy_s = time.perf_counter() - start - pruned_s
            trial.set_user_attr(TIMINGS, {"prune_s": pruned_s, "proxy_s": proxy_s})
        trial.set_user_attr(PROXY, score)
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
        trial.set_user_attr(RATIOS, dict(policy.ratios))
        trial.set_user_attr(CRITERION, policy.criterion)
        trial.set_user_attr(PARAMS, figures.params)
        trial.set_user_attr(MACS, figures.macs)
        trial.set_user_attr(LATENCY, figures.latency_ms)
        trial.set_user_attr(FEASIBLE, all(v <= 0.0 for v in violations.values()))
        trial.set_user_attr(CONSTRAINTS, violations)
        for name, excess in violations.items():
            trial.set_constraint(name, excess)

    def _proxy(self, trial: optuna.Trial, pruned: nn.Module) -> float:
        """Adaptive BN, then ``proxy_epochs`` on a subset; val accuracy reported each epoch."""
        prepared = self.prepared
        options = prepared.spec.finetune
        single = len(prepared.spec.search.objectives) == 1
        recalibrate_bn(pruned, self.proxy_data, batches=_BN_BATCHES, batch_size=options.batch_size)
        score = evaluate(pruned, prepared.data.val, batch_size=256).accuracy
        _report(trial, score, 0, single)

        def on_epoch(metrics: EpochMetrics) -> None:
            self._emit(EpochEvent(number=trial.number, phase="proxy", metrics=metrics))
            if metrics.val_accuracy is not None:
                _report(trial, metrics.val_accuracy, metrics.epoch, single)

        if options.proxy_epochs == 0:
            return score
        result = finetune(
            pruned,
            self.proxy_data,
            epochs=options.proxy_epochs,
            lr=options.lr,
            optimizer=options.optimizer,
            batch_size=options.batch_size,
            val_data=prepared.data.val,
            callback=on_epoch,
            seed=prepared.spec.search.seed + trial.number,
        )
        last = result.epochs[-1].val_accuracy if result.epochs else None
        return score if last is None else last

    def _emit(self, event: EpochEvent) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(event)
        check_stop(self.callbacks)


def check_stop(callbacks: Sequence[SearchCallback]) -> None:
    if any(callback.should_stop() for callback in callbacks):
        raise SearchCancelled("the search was cancelled")


def _report(trial: optuna.Trial, value: float, step: int, single_objective: bool) -> None:
    # Optuna prunes single-objective studies only; multi-objective trials run to the end.
    if not single_objective:
        return
    trial.report(value, step)
    if trial.should_prune():
        raise optuna.TrialPruned(f"pruned at epoch {step} with validation accuracy {value:.4f}")


def _cost(figures: Figures, objective: str) -> float:
    value = {"macs": figures.macs, "params": figures.params, "latency": figures.latency_ms}[
        objective
    ]
    return float("inf") if value is None else float(value)


def _subset(prepared: Prepared, samples: int | None) -> Any:
    train = prepared.data.train
    if samples is None or samples >= len(train):
        return train
    generator = torch.Generator().manual_seed(prepared.spec.search.seed)
    return Subset(train, torch.randperm(len(train), generator=generator)[:samples].tolist())
