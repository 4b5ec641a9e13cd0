"""``SearchSession``: one study driven from one process, in bounded slices if need be.

The library's :func:`run_search` uses a session start to finish; the workers use one per
task: enqueue the baselines once, then run slices of a few trials each on any number of
processes (they share the study through its storage), then finalize.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from pruning.exceptions import PruningError
from search._log_context import log_context
from search.baselines import GLOBAL, UNIFORM, global_ratios, uniform_ratios
from search.budget import BudgetMeter, Limits, check_reachable
from search.callbacks import SearchCallback, TrialEvent
from search.candidates import from_trial, leaderboard
from search.candidates._candidate import FEASIBLE, KIND, PROXY
from search.preparation import Prepared
from search.runner._finalize import BEST, Finalizer, rank_correlation
from search.runner._objective import Objective
from search.runner._result import SearchResult
from search.runner._study import fail_dead_trials, make_storage, open_study
from search.space import as_params

# A trial that raises one of these fails alone; the study goes on (Optuna records it).
TRIAL_ERRORS: tuple[type[Exception], ...] = (PruningError, RuntimeError, ArithmeticError)
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)

log = logging.getLogger("search.trials")


class SearchSession:
    """A prepared search bound to its study."""

    def __init__(
        self,
        prepared: Prepared,
        *,
        storage: str | BaseStorage | None = None,
        study_name: str | None = None,
        callbacks: Sequence[SearchCallback] = (),
        sampler_seed: int | None = None,
    ) -> None:
        spec = prepared.spec
        self.prepared = prepared
        self.callbacks = tuple(callbacks)
        reference = prepared.reference
        self.limits = Limits.from_spec(spec.budget, params=reference.params, macs=reference.macs)
        self.meter = BudgetMeter(
            prepared,
            round_to=spec.search.round_to,
            unstructured=spec.search.granularity == "unstructured",
        )
        self.max_ratio = 1.0 - spec.search.min_keep
        self.smallest = check_reachable(self.meter, self.limits, max_ratio=self.max_ratio)
        self.study = open_study(spec, make_storage(storage), study_name, sampler_seed=sampler_seed)
        self.objective = Objective(prepared, self.meter, self.limits, self.callbacks)
        self.finalizer = Finalizer(self.objective, self.callbacks)
        self._start = time.perf_counter()

    @property
    def planned(self) -> int:
        return self.prepared.spec.search.n_trials

    def counts(self) -> tuple[int, int]:
        """(trials done, trials failed) so far, across every process of the study."""
        trials = self.study.get_trials(deepcopy=False)
        done = sum(t.state in DONE_STATES for t in trials)
        return done, sum(t.state == TrialState.FAIL for t in trials)

    def finished(self) -> bool:
        """Whether the trial plan is met: enough trials done and none waiting (a failed
        trial's retry waits until someone runs it), or as many failures as planned trials
        (a study whose trials keep failing stops rather than retrying forever)."""
        states = [t.state for t in self.study.get_trials(deepcopy=False)]
        if sum(state == TrialState.FAIL for state in states) >= self.planned:
            return True
        done = sum(state in DONE_STATES for state in states)
        return done >= self.planned and TrialState.WAITING not in states

    def in_flight(self) -> int:
        """Trials still running anywhere, after failing those whose process stopped
        heartbeating (Optuna's grace; their retries then wait, see :meth:`finished`).

        The finals wait for this to reach 0, so that a trial running on another worker,
        or the retry of a killed one, is on the leaderboard the finalists come from."""
        fail_dead_trials(self.study)
        states = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return len(states)

    def enqueue_baselines(self) -> None:
        """Queue the uniform and global baselines once per study (they run first)."""
        kinds = {t.user_attrs.get(KIND) for t in self.study.get_trials(deepcopy=False)}
        report, options = self.prepared.report, self.prepared.spec.search
        if UNIFORM not in kinds:
            params = as_params(uniform_ratios(self.prepared), report, options)
            self.study.enqueue_trial(params, user_attrs={KIND: UNIFORM}, skip_if_exists=False)
        if GLOBAL not in kinds and options.granularity == "channel":
            ratios = global_ratios(
                self.prepared,
                self.meter,
                self.limits,
                criterion=options.criteria[0],
                max_ratio=self.max_ratio,
            )
            self.study.enqueue_trial(as_params(ratios, report, options), user_attrs={KIND: GLOBAL})

    def run_slice(self, *, max_trials: int | None = None, timeout: float | None = None) -> int:
        """Run trials until the study's plan is met, ``max_trials`` ran here, or ``timeout``
        seconds passed (the trial in flight finishes). Returns how many ran here."""
        ran = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished():
            if max_trials is not None and ran >= max_trials:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            self.study.optimize(
                self.objective, n_trials=1, catch=TRIAL_ERRORS, callbacks=[self._on_trial]
            )
            ran += 1
        return ran

    def finalize(self) -> SearchResult:
        """Final fine-tunes (skipping those already recorded) and the result."""
        # A trial whose process died after the plan was met is failed, not left running.
        fail_dead_trials(self.study)
        best_number = self.finalizer.run(self.study)
        board = leaderboard(self.study, cost=self._cost_key())
        best = next((c for c in board if c.number == best_number), None)
        model = policy = None
        if best is not None:
            trial = self.study.trials[best.number]
            model = self.finalizer.model(trial)
            policy = self.objective.policy(best.ratios, best.criterion or "l2")
        return SearchResult(
            study_name=self.study.study_name,
            leaderboard=board,
            best=best,
            reference=self.prepared.reference,
            limits=self.limits,
            rank_correlation=rank_correlation(self.study),
            best_policy=policy,
            best_model=model,
            source=self.prepared.source,
        )

    def finals_pending(self) -> int:
        """Final fine-tunes still to run (after the trials are done)."""
        return self.finalizer.pending(self.study)

    def run_finals(self, *, max_finals: int | None = None) -> int:
        """Run up to ``max_finals`` pending final fine-tunes (bounded work for a worker
        task); returns how many remain. :meth:`finalize` runs whatever remains."""
        self.finalizer.run_pending(self.study, max_finals=max_finals)
        return self.finals_pending()

    def best_number(self) -> int | None:
        value = self.study.user_attrs.get(BEST)
        return None if value is None else int(value)

    def _cost_key(self) -> str:
        objectives = self.prepared.spec.search.objectives
        second = objectives[1] if len(objectives) > 1 else "macs"
        return {"latency": "latency_ms"}.get(second, second)

    def _on_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with log_context(trial_number=trial.number):
            _log_trial_end(trial)
            self._report_trial(study, trial)

    def _report_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        trials = study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state in DONE_STATES]
        scores = [
            float(t.user_attrs[PROXY])
            for t in done
            if t.state == TrialState.COMPLETE
            and t.user_attrs.get(FEASIBLE)
            and PROXY in t.user_attrs
        ]
        event = TrialEvent(
            candidate=from_trial(trial, study.user_attrs),
            trials_done=len(done),
            trials_failed=sum(t.state == TrialState.FAIL for t in trials),
            trials_planned=self.planned,
            best_score=max(scores, default=None),
            elapsed_s=time.perf_counter() - self._start,
            eta_s=_eta(done, self.planned, self.prepared.spec.search.parallelism),
        )
        for callback in self.callbacks:
            callback.on_trial_end(event)


def _log_trial_end(trial: FrozenTrial) -> None:
    seconds = trial.duration.total_seconds() if trial.duration is not None else float("nan")
    score = trial.user_attrs.get(PROXY)
    log.info(
        "trial %d finished: %s in %.2f s (proxy score %s, feasible %s)",
        trial.number,
        trial.state.name.lower(),
        seconds,
        "-" if score is None else f"{float(score):.4f}",
        bool(trial.user_attrs.get(FEASIBLE, False)),
    )


def _eta(done: Sequence[FrozenTrial], planned: int, parallelism: int) -> float | None:
    """Remaining trials times the mean duration of finished ones, over the parallel slices.

    Durations come from the study, so a fresh process (a resumed run, another worker)
    estimates from every trial, not just its own."""
    durations = [t.duration.total_seconds() for t in done if t.duration is not None]
    if not durations:
        return None
    remaining = max(0, planned - len(done))
    return remaining * (sum(durations) / len(durations)) / max(1, parallelism)
