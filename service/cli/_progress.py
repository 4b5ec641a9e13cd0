"""Live progress of a search: a bar of trials, best so far, elapsed, ETA, and an epoch line."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from search import Candidate, EpochEvent, SearchCallback, SearchSpec, TrialEvent
from service.cli._format import NONE as _NONE
from service.cli._format import duration, percent


class _BarWithStatus(Progress):
    """A Progress whose display ends with one free-text status line (the current epoch)."""

    status: Text = Text()

    def get_renderables(self) -> Iterable[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        yield self.status


class SearchProgress(SearchCallback):
    """Shows a running search on ``console``; use it as a context manager around the run.

    ``done_before`` is how many trials the study already held (a resumed run): the bar
    starts there. The ETA is the search's own (:meth:`search.SearchSession.progress`).
    """

    def __init__(self, console: Console, spec: SearchSpec, *, done_before: int = 0) -> None:
        self._console = console
        self._final_epochs = spec.finetune.final_epochs
        self._bar = _BarWithStatus(
            SpinnerColumn(),
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best screened {task.fields[best]}"),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
        )
        self._task = self._bar.add_task(
            "trials", total=spec.search.n_trials, completed=done_before, best=_NONE, eta=_NONE
        )
        self._set_status("preparing: data, then the unpruned reference model (trained or loaded)")

    def __enter__(self) -> SearchProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self._set_status("done")
        self._bar.stop()

    def on_trial_end(self, event: TrialEvent) -> None:
        best = _NONE if event.best_score is None else percent(event.best_score)
        self._bar.update(
            self._task,
            completed=event.trials_done,
            total=event.trials_planned,
            best=best,
            eta=duration(event.eta_s),
        )
        # One line per trial, rung and final stays above the bar: a log of the run, also
        # where no live display is possible (a pipe, a CI log).
        self._bar.console.print(_trial_line(event.candidate, event))
        # Epoch events refine this line.
        if event.stage == "final":
            self._set_status("finals: full fine-tunes of the baselines and the finalists")
        elif event.stage.startswith("rung-"):
            self._set_status(f"successive halving, {event.stage}: short fine-tunes, same seed")
        else:
            self._set_status("next trial: sample, project onto the budget, prune, screen")

    def on_epoch_end(self, event: EpochEvent) -> None:
        metrics = event.metrics
        parts = [
            f"{event.phase} fine-tune of #{event.number}",
            f"epoch {metrics.epoch}/{self._final_epochs if event.phase == 'final' else '?'}",
        ]
        if metrics.val_accuracy is not None:
            parts.append(f"val accuracy {percent(metrics.val_accuracy)}")
        else:
            parts.append(f"train accuracy {percent(metrics.train_accuracy)}")
        parts.append(f"loss {metrics.train_loss:.4f}")
        self._set_status(" · ".join(parts))

    def _set_status(self, message: str) -> None:
        self._bar.status = Text(message, style="dim")
        self._bar.refresh()


def _trial_line(candidate: Candidate, event: TrialEvent) -> Text:
    feasible = "feasible" if candidate.feasible else "infeasible"
    if candidate.fidelity != "screen":
        line = Text(f"{candidate.fidelity} #{candidate.number} ", style="bold")
        score = _NONE if candidate.score is None else percent(candidate.score)
        where = "validation" if candidate.fidelity == "final" else "search split"
        line.append(f"{candidate.kind}: {where} {score}")
        return line
    proxy = _NONE if candidate.proxy_score is None else percent(candidate.proxy_score)
    line = Text(f"trial #{candidate.number} ", style="bold")
    line.append(f"{candidate.kind} {candidate.state}, {feasible}, screened {proxy}")
    # A trial stopped early (pruned, failed) records no timings: no "0.0 s" for it.
    if candidate.timings:
        line.append(f", {sum(candidate.timings.values()):.1f} s")
    line.append(f" ({event.trials_done}/{event.trials_planned} done)")
    return line
