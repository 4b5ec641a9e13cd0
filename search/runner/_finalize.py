"""The second fidelity: full fine-tune of the finalists and baselines, best on validation,
reported on test data that chose nothing. Idempotent: results live in the study."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from scipy.stats import spearmanr
from torch import nn

from pruning import EpochMetrics, evaluate, finetune, recalibrate_bn
from search._log_context import log_context
from search.baselines import GLOBAL, SEARCH, UNIFORM
from search.callbacks import EpochEvent, SearchCallback
from search.candidates._candidate import CRITERION, FEASIBLE, FINAL_PREFIX, KIND, PROXY, RATIOS
from search.runner._objective import Objective, check_stop

BEST = "best"

log = logging.getLogger("search.trials")


class Finalizer:
    """Runs the final fine-tunes for one study; safe to run again after an interruption."""

    def __init__(self, objective: Objective, callbacks: Sequence[SearchCallback]) -> None:
        self.objective = objective
        self.prepared = objective.prepared
        self.callbacks = tuple(callbacks)
        self.models: dict[int, nn.Module] = {}

    def finalists(self, study: optuna.Study) -> list[FrozenTrial]:
        """The baselines plus the top ``finalists`` feasible searched trials by proxy score."""
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        baselines = [t for t in complete if t.user_attrs.get(KIND) in (UNIFORM, GLOBAL)]
        searched = [
            t for t in complete if t.user_attrs.get(KIND) == SEARCH and t.user_attrs.get(FEASIBLE)
        ]
        searched.sort(key=lambda t: (-float(t.user_attrs.get(PROXY, 0.0)), t.number))
        return baselines + searched[: self.prepared.spec.finetune.finalists]

    def pending(self, study: optuna.Study) -> int:
        done = study.user_attrs
        return sum(f"{FINAL_PREFIX}{t.number}" not in done for t in self.finalists(study))

    def run_pending(self, study: optuna.Study, *, max_finals: int | None = None) -> None:
        """Fine-tune up to ``max_finals`` finalists not yet done, recording each at once."""
        ran = 0
        for trial in self.finalists(study):
            if max_finals is not None and ran >= max_finals:
                return
            if f"{FINAL_PREFIX}{trial.number}" not in study.user_attrs:
                check_stop(self.callbacks)
                study.set_user_attr(f"{FINAL_PREFIX}{trial.number}", self._final(trial))
                ran += 1

    def run(self, study: optuna.Study) -> int | None:
        """Fine-tune every finalist not yet done; record the best; return its number."""
        self.run_pending(study)
        chosen = self.finalists(study)
        feasible = [t for t in chosen if t.user_attrs.get(FEASIBLE)]
        if not feasible:
            return None
        finals = study.user_attrs
        best = max(
            feasible, key=lambda t: (finals[f"{FINAL_PREFIX}{t.number}"]["accuracy"], -t.number)
        )
        baselines = {t.number: t for t in chosen if t.user_attrs.get(KIND) != SEARCH}
        for trial in ({best.number: best} | baselines).values():
            self._test(study, trial)
        study.set_user_attr(BEST, best.number)
        return best.number

    def model(self, trial: FrozenTrial) -> nn.Module:
        """The finalist's fine-tuned model (trained again, deterministically, if this
        process did not train it)."""
        if trial.number not in self.models:
            self._final(trial)
        return self.models[trial.number]

    def _final(self, trial: FrozenTrial) -> dict[str, Any]:
        with log_context(trial_number=trial.number):
            log.info("final fine-tune of trial %d started", trial.number)
            final = self._train_final(trial)
            log.info(
                "final fine-tune of trial %d finished: accuracy %.4f in %.2f s",
                trial.number,
                final["accuracy"],
                final["timings"]["final_s"],
            )
            return final

    def _train_final(self, trial: FrozenTrial) -> dict[str, Any]:
        prepared = self.prepared
        options = prepared.spec.finetune
        start = time.perf_counter()
        policy = self.objective.policy(trial.user_attrs[RATIOS], trial.user_attrs[CRITERION])
        model = self.objective.prune(policy)
        recalibrate_bn(model, prepared.data.train, batches=20, batch_size=options.batch_size)

        def on_epoch(metrics: EpochMetrics) -> None:
            for callback in self.callbacks:
                callback.on_epoch_end(
                    EpochEvent(number=trial.number, phase="final", metrics=metrics)
                )
            check_stop(self.callbacks)

        finetune(
            model,
            prepared.data.train,
            epochs=options.final_epochs,
            lr=options.lr,
            optimizer=options.optimizer,
            batch_size=options.batch_size,
            teacher=prepared.model if options.distill else None,
            callback=on_epoch,
            seed=prepared.spec.search.seed + trial.number,
        )
        self.models[trial.number] = model
        accuracy = evaluate(model, prepared.data.val).accuracy
        return {"accuracy": accuracy, "timings": {"final_s": time.perf_counter() - start}}

    def _test(self, study: optuna.Study, trial: FrozenTrial) -> None:
        key = f"{FINAL_PREFIX}{trial.number}"
        final = dict(study.user_attrs[key])
        test = self.prepared.data.test
        if "test_accuracy" in final or test is None:
            return
        final["test_accuracy"] = evaluate(self.model(trial), test).accuracy
        study.set_user_attr(key, final)


def rank_correlation(study: optuna.Study) -> float | None:
    """Spearman correlation between proxy scores and final accuracies of the finalists."""
    pairs = [
        (t.user_attrs[PROXY], study.user_attrs[f"{FINAL_PREFIX}{t.number}"]["accuracy"])
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if f"{FINAL_PREFIX}{t.number}" in study.user_attrs and PROXY in t.user_attrs
    ]
    if len(pairs) < 3 or len({p for p, _ in pairs}) < 2 or len({f for _, f in pairs}) < 2:
        return None
    proxy, final = zip(*pairs, strict=True)
    return float(spearmanr(proxy, final).statistic)
