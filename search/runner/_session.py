"""``SearchSession``: one study driven from one process, in bounded slices if need be.

The library's :func:`run_search` uses a session start to finish; the workers use one per
task: measure sensitivity and enqueue the baselines once (:meth:`SearchSession.enqueue_baselines`),
then run slices on any number of processes (they share the study through its storage) —
screening trials first, then the successive-halving rungs — then the finals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from pruning import PruningError
from search import _records as rec
from search._log_context import log_context
from search.baselines import GLOBAL, SEARCH, SENSITIVITY, UNIFORM, global_ratios, uniform_ratios
from search.budget import BudgetMeter, Limits, check_reachable
from search.callbacks import SearchCallback, TrialEvent
from search.candidates import FINAL, SCREEN, Candidate, from_trial, leaderboard, rung_name
from search.preparation import Prepared
from search.runner._result import SearchResult
from search.runner._study import GRACE_S, fail_dead_trials, make_storage, open_study
from search.space import Anchors, anchor_params, max_ratios, warm_starts
from search.stages import (
    Finalizer,
    Halving,
    Objective,
    Surplus,
    curves_by_group,
    measure_curves,
    rank_correlation,
    sensitivity_ratios,
    stage_data,
)

# A trial that raises one of these fails alone; the study goes on (Optuna records it).
TRIAL_ERRORS: tuple[type[Exception], ...] = (
    PruningError,
    RuntimeError,
    ArithmeticError,
    Surplus,
)
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
# Study user attributes written once per study by enqueue_baselines.
SENSITIVITY_ATTR, ANCHORS_ATTR = rec.SENSITIVITY, rec.ANCHORS

log = logging.getLogger("search.trials")


@dataclass(frozen=True)
class Progress:
    """Screening trials done and failed, the best feasible screening score so far, the
    seconds the screening trials left should take (None once none is left, or before any
    finished), and the stage (``screen``, ``rung-k``, ``final``)."""

    trials_done: int
    trials_failed: int
    best_score: float | None
    eta_s: float | None
    stage: str


class SearchSession:
    """A prepared search bound to its study.

    ``claim_ttl_s``: how long a rung item claimed by a process that stopped refreshing its
    claim (it died) waits before another process takes it over (like a trial's heartbeat
    grace)."""

    def __init__(
        self,
        prepared: Prepared,
        *,
        storage: str | BaseStorage | None = None,
        study_name: str | None = None,
        callbacks: Sequence[SearchCallback] = (),
        sampler_seed: int | None = None,
        claim_ttl_s: float = GRACE_S,
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
        self.max_ratio = max_ratios(prepared.report, spec.search)
        self.smallest = check_reachable(self.meter, self.limits, max_ratio=self.max_ratio)
        self.study = open_study(spec, make_storage(storage), study_name, sampler_seed=sampler_seed)
        self.data = stage_data(prepared)
        self.objective = Objective(
            prepared, self.meter, self.limits, self.callbacks, data=self.data, anchors={}
        )
        self.halving = Halving(self.objective, self.data, self.callbacks, claim_ttl_s=claim_ttl_s)
        self.finalizer = Finalizer(self.objective, self.halving, self.data, self.callbacks)
        self._start = time.perf_counter()

    @property
    def planned(self) -> int:
        """Candidates to screen (baselines and warm starts included)."""
        return self.prepared.spec.search.n_trials

    def _trials(self) -> list[FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False) if not rec.is_surplus(t)]

    def counts(self) -> tuple[int, int]:
        """(trials done, trials failed) so far, across every process of the study."""
        trials = self._trials()
        done = sum(t.state in DONE_STATES for t in trials)
        return done, sum(t.state == TrialState.FAIL for t in trials)

    def screened(self) -> bool:
        """Whether the screening plan is met: enough trials done and none waiting (a failed
        trial's retry waits until someone runs it), or as many failures as planned trials
        (a study whose trials keep failing stops rather than retrying forever)."""
        states = [t.state for t in self._trials()]
        if sum(state == TrialState.FAIL for state in states) >= self.planned:
            return True
        done = sum(state in DONE_STATES for state in states)
        return done >= self.planned and TrialState.WAITING not in states

    def finished(self) -> bool:
        """Whether every stage before the finals is done: screening and every rung."""
        return self.screened() and self.halving.done(self.study)

    def stage(self) -> str:
        """The stage the study is in: ``screen``, ``rung-k`` or ``final``."""
        if not self.screened():
            return SCREEN
        rung, items = self.halving.missing(self.study)
        return rung_name(rung) if items else FINAL

    def in_flight(self) -> int:
        """Work still running anywhere — trials, and rung items another process claimed —
        after failing the trials whose process stopped heartbeating (Optuna's grace; their
        retries then wait, see :meth:`screened`).

        The rungs and the finals wait for this to reach 0, so that a trial running on
        another worker, or the retry of a killed one, can still be among the candidates
        they take."""
        fail_dead_trials(self.study)
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        return len(running) + self.halving.claimed(self.study)

    def enqueue_baselines(self) -> None:
        """Once per study: measure sensitivity, store the baselines' allocations (the
        anchors the space perturbs), and queue the baselines and a few warm starts near
        them as the first trials."""
        study, options = self.study, self.prepared.spec.search
        report = self.prepared.report
        channel = options.granularity == "channel"
        if channel and SENSITIVITY_ATTR not in study.user_attrs:
            curves = measure_curves(self.prepared, self.data, criterion=options.criteria[0])
            study.set_user_attr(SENSITIVITY_ATTR, curves)
        if ANCHORS_ATTR not in study.user_attrs:
            study.set_user_attr(ANCHORS_ATTR, self._anchor_roots(self._compute_anchors()))
        anchors = self.anchors()
        kinds = {rec.kind(t) for t in study.get_trials(deepcopy=False)}
        for kind in anchors:
            if kind not in kinds:
                params = anchor_params(kind, report, options)
                attrs = rec.enqueued_attrs(kind)
                study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)
        if SEARCH not in kinds:
            # Warm starts fill the plan's room after the baselines, never more.
            room = max(0, self.planned - len(anchors))
            for params in warm_starts(anchors, report, options)[:room]:
                attrs = rec.enqueued_attrs(SEARCH)
                study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)

    def anchors(self) -> Anchors:
        """The baselines' allocations (prune ratio per group id), as stored on the study;
        the objective's space perturbs them."""
        if not self.objective.anchors:
            stored = self.study.user_attrs.get(ANCHORS_ATTR)
            if stored is None:
                self.enqueue_baselines()  # a process that reached a study before its start
                stored = self.study.user_attrs[ANCHORS_ATTR]
            ids = {g.root: g.id for g in self.prepared.report.groups}
            self.objective.anchors = {
                name: {ids[root]: float(r) for root, r in ratios.items()}
                for name, ratios in stored.items()
            }
        return self.objective.anchors

    def sensitivity(self) -> dict[str, object] | None:
        """The stored sensitivity curves (None for granularities other than channel)."""
        value = self.study.user_attrs.get(SENSITIVITY_ATTR)
        return None if value is None else dict(value)

    def _compute_anchors(self) -> dict[str, dict[int, float]]:
        options = self.prepared.spec.search
        anchors = {UNIFORM: uniform_ratios(self.meter, self.limits, max_ratio=self.max_ratio)}
        if options.granularity == "channel":
            anchors[GLOBAL] = global_ratios(
                self.prepared,
                self.meter,
                self.limits,
                criterion=options.criteria[0],
                max_ratio=self.max_ratio,
            )
            curves = curves_by_group(self.prepared, self.study.user_attrs[SENSITIVITY_ATTR])
            anchors[SENSITIVITY] = sensitivity_ratios(
                curves, self.meter, self.limits, max_ratio=self.max_ratio
            )
        return anchors

    def _anchor_roots(self, anchors: Anchors) -> dict[str, dict[str, float]]:
        roots = {g.id: g.root for g in self.prepared.report.groups}
        return {name: {roots[g]: r for g, r in ratios.items()} for name, ratios in anchors.items()}

    def run_slice(self, *, max_trials: int | None = None, timeout: float | None = None) -> int:
        """Run work items — screening trials, then rung fine-tunes — until every stage
        before the finals is done, ``max_trials`` items ran here, ``timeout`` seconds passed
        (the item in flight finishes), or what is left is running in other processes.
        Returns how many items ran here."""
        ran = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        self.anchors()
        while not self.finished():
            if max_trials is not None and ran >= max_trials:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not self._run_item():
                break
            ran += 1
        return ran

    def _run_item(self) -> bool:
        """One screening trial or one rung item; False when none may start now."""
        if not self.screened():
            if not self._may_start_trial():
                return False
            self.study.optimize(
                self.objective, n_trials=1, catch=TRIAL_ERRORS, callbacks=[self._on_trial]
            )
            return True
        # The rungs take the best screened candidates: wait until no trial runs anywhere.
        if self.in_flight() > self.halving.claimed(self.study):
            return False
        number = self.halving.run_next(self.study)
        if number is None:
            return False
        self._report(number)
        return True

    def _may_start_trial(self) -> bool:
        """A retry or an enqueued trial waits, or the running ones leave a slot of the
        plan open (the objective settles a race for the last slot exactly)."""
        trials = self._trials()
        if any(t.state == TrialState.WAITING for t in trials):
            return True
        busy = sum(t.state in (*DONE_STATES, TrialState.RUNNING) for t in trials)
        return busy < self.planned

    def finalize(self) -> SearchResult:
        """Final fine-tunes (skipping those already recorded) and the result."""
        # A trial whose process died after the plan was met is failed, not left running.
        fail_dead_trials(self.study)
        self.anchors()
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
            sensitivity=self.sensitivity(),
        )

    def finals_pending(self) -> int:
        """Final fine-tunes still to run (after the rungs are done)."""
        return self.finalizer.pending(self.study)

    def run_finals(self, *, max_finals: int | None = None) -> int:
        """Run up to ``max_finals`` pending final fine-tunes (bounded work for a worker
        task), each reported to the callbacks as it ends; returns how many remain.
        :meth:`finalize` runs whatever remains."""
        self.anchors()
        before = rec.finals_done(self.study.user_attrs)
        self.finalizer.run_pending(self.study, max_finals=max_finals)
        for number in sorted(rec.finals_done(self.study.user_attrs) - before):
            self._report(number)
        return self.finals_pending()

    def leaderboard(self) -> list[Candidate]:
        """Every candidate so far, best first, with the Pareto front of the furthest stage."""
        return leaderboard(self.study, cost=self._cost_key())

    def _cost_key(self) -> str:
        objectives = self.prepared.spec.search.objectives
        second = objectives[1] if len(objectives) > 1 else "macs"
        return {"latency": "latency_ms"}.get(second, second)

    def _on_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if rec.is_surplus(trial):
            return
        with log_context(trial_number=trial.number):
            _log_trial_end(trial)
            self._report_trial(study, trial)

    def _report(self, number: int) -> None:
        """Tell the callbacks that ``number`` moved on (a rung or a final ended)."""
        trial = next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)
        self._report_trial(self.study, trial)

    def progress(self) -> Progress:
        """The study's progress, across every process: the one place the best score so far
        and the ETA are computed (the workers store both; the API and the CLI show them)."""
        trials = self._trials()
        done = [t for t in trials if t.state in DONE_STATES]
        scores = [
            score
            for t in done
            if t.state == TrialState.COMPLETE
            and rec.is_feasible(t)
            and (score := rec.proxy_score(t)) is not None
        ]
        return Progress(
            trials_done=len(done),
            trials_failed=sum(t.state == TrialState.FAIL for t in trials),
            best_score=max(scores, default=None),
            eta_s=_eta(done, self.planned, self.prepared.spec.search.parallelism),
            stage=self.stage(),
        )

    def _report_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        progress = self.progress()
        event = TrialEvent(
            candidate=from_trial(trial, study.user_attrs),
            trials_done=progress.trials_done,
            trials_failed=progress.trials_failed,
            trials_planned=self.planned,
            best_score=progress.best_score,
            elapsed_s=time.perf_counter() - self._start,
            eta_s=progress.eta_s,
            stage=progress.stage,
        )
        for callback in self.callbacks:
            callback.on_trial_end(event)


def _log_trial_end(trial: FrozenTrial) -> None:
    seconds = trial.duration.total_seconds() if trial.duration is not None else float("nan")
    score = rec.proxy_score(trial)
    log.info(
        "trial %d finished: %s in %.2f s (proxy score %s, feasible %s)",
        trial.number,
        trial.state.name.lower(),
        seconds,
        "-" if score is None else f"{score:.4f}",
        rec.is_feasible(trial),
    )


def _eta(done: Sequence[FrozenTrial], planned: int, parallelism: int) -> float | None:
    """Remaining trials times the mean duration of finished ones, over the parallel slices.

    Durations come from the study, so a fresh process (a resumed run, another worker)
    estimates from every trial, not just its own."""
    durations = [t.duration.total_seconds() for t in done if t.duration is not None]
    remaining = max(0, planned - len(done))
    if not durations or remaining == 0:
        return None  # screening done: rungs and finals are timed by their own items
    return remaining * (sum(durations) / len(durations)) / max(1, parallelism)
