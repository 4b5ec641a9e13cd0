"""Stage 3, successive halving over fine-tune budget, with common random numbers.

Rung 1 fine-tunes the ``rung_candidates`` best screened candidates and every baseline for
``rung_steps`` batches, from the same seed and data order, and scores them on the search
split; rung ``k + 1`` keeps the better half of rung ``k``'s searched candidates and trains
them (again from their pruned weights) for twice as many batches. The baselines ride along
at every rung and are never eliminated.

Work items are ``(rung, trial)`` pairs, recorded in the study's user attributes as they end,
so any number of processes share a rung: each claims an item before it trains it, skips
items another process claimed recently, and a rung's membership is only decided once the
rung before it is complete (the same in every process).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from pruning import AnalysisReport, evaluate, kept_channels
from search import _records as rec
from search._log_context import log_context
from search.baselines import BASELINES, SEARCH
from search.callbacks import EpochEvent, SearchCallback
from search.candidates import rung_name
from search.stages._data import StageData
from search.stages._screening import Objective
from search.stages._training import train

ETA = 2  # each rung keeps 1/ETA of the searched candidates and trains them ETA times longer
# A claim not refreshed for this long (or a few times the slowest item so far) is a dead
# worker's; the worker training an item refreshes its claim at every epoch end.
CLAIM_TTL_S = 60.0
_REFRESH_S = 5.0

log = logging.getLogger("search.trials")


def complete_candidates(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that ran to the end (no surplus), in number order."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t for t in trials if not rec.is_surplus(t)]


def baselines_of(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if rec.kind(t) in BASELINES and rec.is_feasible(t)]


def best_screened(
    trials: Sequence[FrozenTrial], count: int, report: AnalysisReport, round_to: int
) -> list[FrozenTrial]:
    """The ``count`` feasible searched trials with the best screening scores, one per
    pruned architecture: two policies that keep the same channels of every group (with
    the same criterion) are the same model, and neither a twin of a baseline nor a second
    copy of a candidate is worth a rung slot (``round_to`` 0: unstructured, compared by
    ratio)."""
    searched = [t for t in trials if rec.kind(t) == SEARCH and rec.is_feasible(t)]
    searched.sort(key=lambda t: (-(rec.proxy_score(t) or 0.0), t.number))
    seen = {_architecture(t, report, round_to) for t in baselines_of(trials)}
    chosen: list[FrozenTrial] = []
    for trial in searched:
        key = _architecture(trial, report, round_to)
        if key not in seen and len(chosen) < count:
            seen.add(key)
            chosen.append(trial)
    return chosen


def _architecture(trial: FrozenTrial, report: AnalysisReport, round_to: int) -> tuple[object, ...]:
    ratios = rec.ratios(trial)
    if round_to == 0:  # unstructured: no channel goes, the ratios are the model
        kept = tuple(round(float(ratios.get(g.root, 0.0)), 4) for g in report.groups)
    else:
        kept = tuple(
            float(kept_channels(g.channels, ratios.get(g.root, 0.0), round_to))
            for g in report.groups
        )
    return (*kept, rec.criterion(trial))


class Halving:
    """The rungs of one prepared search (one per process)."""

    def __init__(
        self,
        screening: Objective,
        data: StageData,
        callbacks: Sequence[SearchCallback],
        *,
        claim_ttl_s: float = CLAIM_TTL_S,
    ) -> None:
        self.claim_ttl_s = claim_ttl_s
        self.screening = screening
        self.prepared = screening.prepared
        self.data = data
        self.callbacks = tuple(callbacks)
        options = self.prepared.spec.finetune
        self.rungs = options.rungs if options.rung_candidates > 0 else 0

    def searched(self, study: optuna.Study, k: int) -> list[FrozenTrial] | None:
        """Rung ``k``'s searched members (rung 0: the screened ones that enter rung 1), or
        None while rung ``k - 1`` is not complete."""
        trials = complete_candidates(study)
        entrants = self._best_screened(trials, self.prepared.spec.finetune.rung_candidates)
        results = study.user_attrs
        for rung in range(1, k + 1):
            members = baselines_of(trials) + entrants
            if rung == k:
                return entrants
            if any(rec.rung_key(rung, t.number) not in results for t in members):
                return None
            entrants.sort(key=lambda t: (-rec.rung_score(results, rung, t.number), t.number))
            entrants = entrants[: math.ceil(len(entrants) / ETA)]
        return entrants

    def _best_screened(self, trials: Sequence[FrozenTrial], count: int) -> list[FrozenTrial]:
        spec = self.prepared.spec
        if spec.search.granularity != "channel":
            return best_screened(trials, count, self.prepared.report, round_to=0)
        return best_screened(trials, count, self.prepared.report, spec.search.round_to)

    def finalists(self, study: optuna.Study, count: int) -> list[FrozenTrial] | None:
        """The ``count`` best searched candidates of the last rung by its score (of
        screening without rungs), or None while a rung is still running."""
        if self.rungs == 0:
            return self._best_screened(complete_candidates(study), count)
        last = self.searched(study, self.rungs)
        if last is None or not self.done(study):
            return None
        results = study.user_attrs
        last.sort(key=lambda t: (-rec.rung_score(results, self.rungs, t.number), t.number))
        return last[:count]

    def missing(self, study: optuna.Study) -> tuple[int, list[FrozenTrial]]:
        """The first rung with items left and those items ((0, []) when all are done)."""
        trials = complete_candidates(study)
        results = study.user_attrs
        for k in range(1, self.rungs + 1):
            searched = self.searched(study, k)
            assert searched is not None  # rung k - 1 is complete, or we returned before
            items = [
                t
                for t in baselines_of(trials) + searched
                if rec.rung_result(results, k, t.number) is None
            ]
            if items:
                return k, items
        return 0, []

    def done(self, study: optuna.Study) -> bool:
        return not self.missing(study)[1]

    def claimed(self, study: optuna.Study) -> int:
        """Items of the current rung another process is on (claimed, not stale)."""
        k, items = self.missing(study)
        return sum(self._claimed(study, k, t.number) for t in items)

    def run_next(self, study: optuna.Study) -> int | None:
        """Train one unclaimed item of the current rung; its trial number, or None when
        every item left is claimed by another process (or none is left)."""
        k, items = self.missing(study)
        for trial in items:
            if not self._claimed(study, k, trial.number):
                rec.write_claim(study, k, trial.number, time.time())
                try:
                    with log_context(trial_number=trial.number):
                        refresher = _ClaimRefresher(study, k, trial.number)
                        score, seconds = self._train(trial, k, refresher)
                except BaseException:
                    rec.write_claim(study, k, trial.number, 0.0)  # released: cancelled/failed
                    raise
                rec.write_rung(study, k, trial.number, score, seconds)
                return trial.number
        return None

    def _claimed(self, study: optuna.Study, k: int, number: int) -> bool:
        at = rec.claimed_at(study.user_attrs, k, number)
        return at is not None and time.time() - float(at) < self._claim_ttl(study)

    def _claim_ttl(self, study: optuna.Study) -> float:
        seconds = rec.rung_seconds(study.user_attrs)
        return max(self.claim_ttl_s, 3.0 * max(seconds, default=0.0))

    def _train(self, trial: FrozenTrial, k: int, refresher: SearchCallback) -> tuple[float, float]:
        """Rung ``k``'s fine-tune of ``trial``: (score, seconds)."""
        start = time.perf_counter()
        steps = self.prepared.spec.finetune.rung_steps * ETA ** (k - 1)
        log.info("%s of trial %d started: %d steps", rung_name(k), trial.number, steps)
        policy = self.screening.policy(rec.ratios(trial), rec.criterion(trial) or "l2")
        model = self.screening.prune(policy)
        train(
            self.prepared,
            model,
            self.data.fit,
            seed=self.prepared.spec.search.seed,
            phase=rung_name(k),
            number=trial.number,
            callbacks=(*self.callbacks, refresher),
            steps=steps,
        )
        score = evaluate(model, self.data.search, batch_size=256).accuracy
        seconds = time.perf_counter() - start
        log.info(
            "%s of trial %d finished: score %.4f in %.2f s",
            rung_name(k),
            trial.number,
            score,
            seconds,
        )
        return score, seconds


class _ClaimRefresher(SearchCallback):
    """Keeps a claim fresh while its item trains: a live worker's item is never taken
    over, a dead one's is once its claim is older than the TTL."""

    def __init__(self, study: optuna.Study, k: int, number: int) -> None:
        self.study = study
        self.k, self.number = k, number
        self.at = time.monotonic()

    def on_epoch_end(self, event: EpochEvent) -> None:
        if time.monotonic() - self.at >= _REFRESH_S:
            self.at = time.monotonic()
            rec.write_claim(self.study, self.k, self.number, time.time())
