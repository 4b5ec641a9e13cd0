"""``WorkerOptions``: how the workers slice, time-limit and recover jobs.

The one set of defaults and the one check of these knobs: ``service.settings`` takes its
fields' defaults from here and validates by building a :class:`WorkerOptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.exceptions import InvalidOptions

__all__ = ["WorkerOptions"]

# The soft limit raises in the task (a trial in flight fails, the job gets a message); the
# hard limit kills the child a little later if the soft one was swallowed.
_SOFT_FRACTION = 0.9
# At most this long between two beats of a job's heartbeat by a task that runs it.
_MAX_BEAT_S = 60.0
# Said by each refusal of a time limit, whichever one broke the chain.
_CHAIN = (
    "(the rule: slice_seconds < task_time_limit_s < visibility_timeout_s, with "
    f"slice_seconds under the soft limit, {_SOFT_FRACTION:.0%} of task_time_limit_s)"
)


@dataclass(frozen=True, kw_only=True)
class WorkerOptions:
    """Settings of the workers, checked on construction.

    A slice runs at most ``slice_trials`` trials or ``slice_seconds`` seconds (the trial in
    flight finishes), then re-enqueues its continuation. Every task must end before the
    broker's visibility timeout, or Redis hands its message to a second worker while the
    first is still on it; hence ``slice_seconds`` < soft limit < ``task_time_limit_s`` <
    ``visibility_timeout_s``.
    """

    slice_trials: int = 4
    slice_seconds: float = 300.0
    allowed_factories: tuple[str, ...] | None = ()  # module prefixes; None allows any
    stale_after_s: float = 300.0
    broker_url: str | None = None  # None: embedded execution in the API process
    visibility_timeout_s: int = 3600
    task_time_limit_s: int = 1800
    max_tasks_per_child: int = 20
    # Optuna's trial heartbeat: a trial silent for trial_grace_s is failed and retried.
    trial_heartbeat_s: int = 30
    trial_grace_s: int = 120  # grace_for(trial_heartbeat_s)
    # How often each worker process records its own heartbeat (for /metrics).
    worker_heartbeat_s: float = 15.0
    # How often the sweeper (celery beat, or the embedded pool's thread) looks for stale jobs.
    sweep_every_s: float = 60.0
    # At most this many slices of one job run at once, whatever its spec asks: a spec's
    # parallelism is a message count, and one job must not flood the broker.
    max_parallelism: int = 8
    # At most this many jobs of one owner are running or finalizing at once; the owner's
    # other jobs stay queued (their prepare waits) until one of those ends.
    max_running_per_owner: int = 4
    # A database or broker outage shorter than this never fails a job: its task retries
    # with backoff until the outage has lasted this long.
    outage_tolerance_s: float = 300.0

    def __post_init__(self) -> None:
        if self.slice_trials < 1:
            raise InvalidOptions(f"slice_trials must be at least 1, not {self.slice_trials}")
        if self.slice_seconds <= 0:
            raise InvalidOptions(f"slice_seconds must be positive, not {self.slice_seconds}")
        if self.stale_after_s <= 0:
            raise InvalidOptions(f"stale_after_s must be positive, not {self.stale_after_s}")
        if self.sweep_every_s <= 0:
            raise InvalidOptions(f"sweep_every_s must be positive, not {self.sweep_every_s}")
        if self.worker_heartbeat_s <= 0:
            raise InvalidOptions(
                f"worker_heartbeat_s must be positive, not {self.worker_heartbeat_s}"
            )
        if self.max_parallelism < 1:
            raise InvalidOptions(f"max_parallelism must be at least 1, not {self.max_parallelism}")
        if self.max_running_per_owner < 1:
            raise InvalidOptions(
                f"max_running_per_owner must be at least 1, not {self.max_running_per_owner}"
            )
        if self.outage_tolerance_s < 0:
            raise InvalidOptions(
                f"outage_tolerance_s must not be negative, not {self.outage_tolerance_s}"
            )
        if self.max_tasks_per_child < 1:
            raise InvalidOptions(
                f"max_tasks_per_child must be at least 1, not {self.max_tasks_per_child}"
            )
        if not 0 < self.trial_heartbeat_s < self.trial_grace_s:
            raise InvalidOptions(
                f"trial_grace_s ({self.trial_grace_s}) must exceed trial_heartbeat_s "
                f"({self.trial_heartbeat_s}), which must be positive"
            )
        if not 0 < self.task_time_limit_s < self.visibility_timeout_s:
            raise InvalidOptions(
                f"task_time_limit_s ({self.task_time_limit_s}) must be positive and below "
                f"visibility_timeout_s ({self.visibility_timeout_s}), or Redis redelivers a "
                f"task that is still running and its work runs twice {_CHAIN}"
            )
        if self.slice_seconds >= self.soft_time_limit_s:
            raise InvalidOptions(
                f"slice_seconds ({self.slice_seconds}) must leave room for the trial in flight "
                f"below the soft time limit ({self.soft_time_limit_s:g} s, "
                f"{_SOFT_FRACTION:.0%} of task_time_limit_s) {_CHAIN}"
            )
        if isinstance(self.allowed_factories, str):
            # A bare string would be read as a tuple of one-letter prefixes.
            raise TypeError("allowed_factories must be a tuple of module prefixes, not a str")

    @staticmethod
    def grace_for(trial_heartbeat_s: int) -> int:
        """Optuna's grace for a silent trial when none is set: four of its heartbeats,
        at least 60 s (a trial silent that long is dead, and failed and retried)."""
        return max(60, 4 * trial_heartbeat_s)

    @property
    def beat_every_s(self) -> float:
        """How often a running task beats its job's heartbeat: several times per
        ``stale_after_s``, so one late beat never makes a live job look stale."""
        return min(_MAX_BEAT_S, self.stale_after_s / 5)

    def slices_for(self, parallelism: int) -> int:
        """How many slices of a job whose spec asks for ``parallelism`` run at once."""
        return max(1, min(parallelism, self.max_parallelism))

    @property
    def soft_time_limit_s(self) -> float:
        """When a task is told to stop (``SoftTimeLimitExceeded``)."""
        return self.task_time_limit_s * _SOFT_FRACTION
