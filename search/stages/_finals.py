"""Stage 4, the finals: the full fine-tune, and a paired choice of the best on validation.

The baselines and the best searched candidates of the last rung get ``final_epochs`` epochs
on all the training data, every one from the same seed. Each finalist is then compared with
the best baseline *on the same validation images*: the per-image difference of their
correctness has a mean (the margin) and a standard error, and a searched candidate replaces
the baseline only when its margin stands above the noise (``margin > Z * se``). A close call
(a positive margin under that bar) trains both again with a second seed, and the comparison
uses the two seeds' mean correctness. The best is reported on test data that chose nothing.
Idempotent: every result lives in the study.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial
from scipy.stats import spearmanr
from torch import nn

from pruning import evaluate
from search import _records as rec
from search._log_context import log_context
from search.baselines import SEARCH
from search.callbacks import SearchCallback
from search.stages._data import StageData
from search.stages._halving import Halving, baselines_of, complete_candidates
from search.stages._screening import Objective, check_stop
from search.stages._training import train

BEST = rec.BEST
# One-sided 95%: a searched candidate must beat the best baseline by this many standard
# errors of the paired difference to replace it.
Z = 1.645

log = logging.getLogger("search.trials")


class Finalizer:
    """Runs the finals of one study; safe to run again after an interruption."""

    def __init__(
        self,
        screening: Objective,
        halving: Halving,
        data: StageData,
        callbacks: Sequence[SearchCallback],
    ) -> None:
        self.screening = screening
        self.halving = halving
        self.prepared = screening.prepared
        self.data = data
        self.callbacks = tuple(callbacks)
        self.models: dict[int, nn.Module] = {}

    def finalists(self, study: optuna.Study) -> list[FrozenTrial]:
        """The baselines plus the best ``finalists`` searched candidates of the last rung."""
        trials = complete_candidates(study)
        searched = self.halving.finalists(study, self.prepared.spec.finetune.finalists) or []
        return baselines_of(trials) + searched

    def items(self, study: optuna.Study) -> list[tuple[FrozenTrial, bool]]:
        """Every final this study needs: ``(trial, second seed?)``. The second seeds are
        known once every first one is done."""
        finalists = self.finalists(study)
        results = study.user_attrs
        items = [(t, False) for t in finalists]
        if finalists and all(rec.has_final(results, t.number) for t in finalists):
            close = close_call(finalists, results)
            items += [(t, True) for t in finalists if t.number in close]
        return items

    def pending(self, study: optuna.Study) -> int:
        results = study.user_attrs
        return sum(not rec.has_final(results, t.number, second=s) for t, s in self.items(study))

    def run_pending(self, study: optuna.Study, *, max_finals: int | None = None) -> None:
        """Run up to ``max_finals`` finals not yet done, recording each at once."""
        ran = 0
        while max_finals is None or ran < max_finals:
            results = study.user_attrs
            todo = [
                (t, s)
                for t, s in self.items(study)
                if not rec.has_final(results, t.number, second=s)
            ]
            if not todo:
                return
            trial, second = todo[0]
            check_stop(self.callbacks)
            rec.write_final(study, trial.number, self._final(trial, second), second=second)
            ran += 1

    def run(self, study: optuna.Study) -> int | None:
        """Run every final left; choose, record and return the best (None: no feasible
        finalist), with the margins of every finalist and test accuracy of the best and
        the baselines."""
        self.run_pending(study)
        finalists = self.finalists(study)
        if not finalists:
            return None
        results = study.user_attrs
        best, margins = choose(finalists, results)
        for trial in finalists:
            final = rec.final_result(results, trial.number) or {}
            final[rec.MARGIN], final[rec.MARGIN_SE] = margins.get(trial.number, (None, None))
            if trial.number == best.number or rec.kind(trial) != SEARCH:
                self._test(trial, final)
            rec.write_final(study, trial.number, final)
        rec.write_best(study, best.number)
        return best.number

    def model(self, trial: FrozenTrial) -> nn.Module:
        """The finalist's fine-tuned model (first seed; trained again, deterministically,
        if this process did not train it)."""
        if trial.number not in self.models:
            self._final(trial, second=False)
        return self.models[trial.number]

    def _final(self, trial: FrozenTrial, second: bool) -> dict[str, Any]:
        with log_context(trial_number=trial.number):
            seed = self.prepared.spec.search.seed + (1 if second else 0)
            log.info("final fine-tune of trial %d started (seed %d)", trial.number, seed)
            start = time.perf_counter()
            policy = self.screening.policy(rec.ratios(trial), rec.criterion(trial) or "l2")
            model = self.screening.prune(policy)
            train(
                self.prepared,
                model,
                self.data.full,
                seed=seed,
                phase="final",
                number=trial.number,
                callbacks=self.callbacks,
                epochs=self.prepared.spec.finetune.final_epochs,
            )
            if not second:
                self.models[trial.number] = model
            correct = _correct(model, self.prepared.data.val)
            seconds = time.perf_counter() - start
            accuracy = float(correct.mean()) if len(correct) else 0.0
            log.info(
                "final fine-tune of trial %d finished: accuracy %.4f in %.2f s",
                trial.number,
                accuracy,
                seconds,
            )
            return {
                rec.ACCURACY: accuracy,
                rec.CORRECT: _pack(correct),
                rec.TIMINGS: {"final_s": seconds},
            }

    def _test(self, trial: FrozenTrial, final: dict[str, Any]) -> None:
        test = self.prepared.data.test
        if rec.TEST_ACCURACY in final or test is None:
            return
        final[rec.TEST_ACCURACY] = evaluate(self.model(trial), test).accuracy


def choose(
    finalists: Sequence[FrozenTrial], results: Mapping[str, Any]
) -> tuple[FrozenTrial, dict[int, tuple[float, float | None]]]:
    """The best finalist and every finalist's (margin, standard error) over the best
    baseline, paired on the validation images (both seeds' mean where there are two)."""
    baseline = best_baseline(finalists, results)
    reference = _correctness(baseline.number, results)
    margins: dict[int, tuple[float, float | None]] = {}
    for trial in finalists:
        diff = _correctness(trial.number, results) - reference
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else None
        margins[trial.number] = (float(diff.mean()) if len(diff) else 0.0, se)
    winners = [t for t in finalists if rec.kind(t) == SEARCH and _stands(*margins[t.number])]
    if not winners:
        return baseline, margins
    return max(winners, key=lambda t: (margins[t.number][0], -t.number)), margins


def best_baseline(finalists: Sequence[FrozenTrial], results: Mapping[str, Any]) -> FrozenTrial:
    """The baseline with the best first-seed validation accuracy (a searched finalist when
    no baseline is feasible)."""
    baselines = [t for t in finalists if rec.kind(t) != SEARCH] or list(finalists)
    return max(baselines, key=lambda t: (rec.final_accuracy(results, t.number), -t.number))


def close_call(finalists: Sequence[FrozenTrial], results: Mapping[str, Any]) -> set[int]:
    """The numbers that get a second seed: the searched finalist with the largest positive
    margin that does not yet stand above the noise, and the best baseline."""
    baseline = best_baseline(finalists, results)
    _, margins = choose(finalists, results)
    close = [
        t
        for t in finalists
        if rec.kind(t) == SEARCH and margins[t.number][0] > 0.0 and not _stands(*margins[t.number])
    ]
    if not close:
        return set()
    top = max(close, key=lambda t: (margins[t.number][0], -t.number))
    return {top.number, baseline.number}


def _stands(margin: float, se: float | None) -> bool:
    return se is not None and margin > 0.0 and margin > Z * se


def _correctness(number: int, results: Mapping[str, Any]) -> np.ndarray:
    """Per validation image, the share of this candidate's seeds that got it right."""
    runs = [
        _unpack(result[rec.CORRECT])
        for second in (False, True)
        if (result := rec.final_result(results, number, second=second)) is not None
        and rec.CORRECT in result
    ]
    if not runs:
        return np.zeros(0)
    return np.asarray(np.mean(runs, axis=0), dtype=float)


def _correct(model: nn.Module, data: Any) -> np.ndarray:
    """Per-image correctness (bool) of ``model`` on ``data``, in the data's order."""
    x, y = data.tensors
    model.eval()
    hits = []
    with torch.no_grad():
        for start in range(0, len(x), 256):
            hits.append(
                (model(x[start : start + 256]).argmax(dim=1) == y[start : start + 256]).numpy()
            )
    return np.concatenate(hits) if hits else np.zeros(0, dtype=bool)


def _pack(correct: np.ndarray) -> str:
    """Correctness bits, packed and base64-encoded (a few KiB per 10,000 images)."""
    return (
        f"{len(correct)}:" + base64.b64encode(np.packbits(correct.astype(bool)).tobytes()).decode()
    )


def _unpack(packed: str) -> np.ndarray:
    size, bits = packed.split(":", 1)
    return np.unpackbits(np.frombuffer(base64.b64decode(bits), dtype=np.uint8))[: int(size)].astype(
        float
    )


def rank_correlation(study: optuna.Study) -> float | None:
    """Spearman correlation between screening scores and final accuracies (every
    candidate with both)."""
    results = study.user_attrs
    pairs = [
        (screened, rec.final_accuracy(results, t.number))
        for t in complete_candidates(study)
        if rec.has_final(results, t.number) and (screened := rec.proxy_score(t)) is not None
    ]
    if len(pairs) < 3 or len({p for p, _ in pairs}) < 2 or len({f for _, f in pairs}) < 2:
        return None
    proxies, finals = zip(*pairs, strict=True)
    return float(spearmanr(proxies, finals).statistic)
