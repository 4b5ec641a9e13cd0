"""Job submission: validate a spec completely, store the job, then queue its first task.

Nothing is stored unless every check passes: the spec's schema, the caller's artifacts,
and :func:`search.validate` (the model builds, weights and data load, and the budget is
reachable), so a job that is accepted does not fail later on its input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from search import SearchSpec, SpecError, default_study_name, validate
from service.artifacts import ArtifactStore
from service.exceptions import QueueUnavailable, TooManyJobs
from service.jobs._gate import owner_serial
from service.jobs._limits import check_cost
from service.jobs._store import queued_count, running_count
from service.models import (
    Artifact,
    ArtifactKind,
    DeviceKind,
    Job,
    add_job,
    find_idempotent_job,
)
from service.settings import Settings
from workers import PREPARE, Dispatcher

__all__ = ["QueueUnavailable", "Submission", "enqueue_job", "study_name", "submit_job"]

log = logging.getLogger(__name__)

IDEMPOTENCY_FIELD = "Idempotency-Key"
_STUDY_NAME_LENGTH = 255  # the column's
# Retry-After of a submission over the queued limit: a queued job starts when one of the
# owner's running jobs ends, which no one can foretell; a slice or two.
QUEUE_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class Submission:
    """The job a submission stands for; ``created`` is False for an idempotent replay."""

    job: Job
    created: bool


def submit_job(
    session: Session,
    owner: str,
    spec_data: SearchSpec | Any,
    idempotency_key: str | None = None,
    *,
    settings: Settings,
    artifacts: ArtifactStore,
) -> Submission:
    """Validate ``spec_data`` (a :class:`SearchSpec`, or the data of one) and commit a new
    queued job (with its first event), or find the job ``owner`` submitted earlier with
    the same ``idempotency_key``.

    Raises:
        SpecError: naming the field at fault (BudgetError with the smallest figure); also
            for a reused idempotency key whose spec differs from the first one's.
        TooManyJobs: ``owner`` has ``max_queued_jobs_per_owner`` jobs queued already (a
            replay of an earlier key is still answered).
    """
    if idempotency_key is not None:
        first = find_idempotent_job(session, owner, idempotency_key)
        if first is not None:
            return _replay(first, spec_data)
    spec = _parse(spec_data)
    check_cost(spec, settings)
    _check_queue(session, owner, settings)  # cheap, before validation builds the model
    resolve = _resolver(session, owner, artifacts, spec)
    _validate(spec, resolve, settings.allowed_factories, settings.max_model_params)
    job = Job(
        owner=owner,
        name=spec.name,
        spec=spec.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        device_kind=DeviceKind(spec.budget.latency.device),
        trials_planned=spec.search.n_trials,
    )
    job.study_name = study_name(spec, job.id)
    try:
        # Counted again under the owner's lock: two submissions at once cannot both take
        # the last place in the queue.
        with owner_serial(session.get_bind().engine, owner) as enter:
            enter(session)
            _check_queue(session, owner, settings)
            add_job(session, job)
            session.commit()
    except TooManyJobs:
        session.rollback()  # releases the lock; nothing was added
        raise
    except IntegrityError:
        # A concurrent request with the same key committed first: answer with its job.
        session.rollback()
        first = find_idempotent_job(session, owner, idempotency_key or "")
        if first is None:
            raise
        return _replay(first, spec_data)
    return Submission(job, created=True)


def enqueue_job(session: Session, dispatcher: Dispatcher, job: Job) -> None:
    """Queue ``job``'s ``prepare`` task on its device's queue.

    A broker that cannot take the message leaves the job queued, not failed: the sweeper
    queues every queued job whose message went missing once it has been quiet for
    ``stale_after_s`` (the same recovery as an API killed between storing and queueing),
    so a broker outage delays the job instead of failing it."""
    del session  # the job is committed already; nothing to change on failure
    try:
        dispatcher.enqueue(PREPARE, job.id, queue=job.device_kind.value)
    except Exception:
        log.exception("could not queue job %s; the sweeper will queue it", job.id)


def _check_queue(session: Session, owner: str, settings: Settings) -> None:
    limit = settings.max_queued_jobs_per_owner
    queued = queued_count(session, owner)
    if queued >= limit:
        running = running_count(session, owner)
        raise TooManyJobs(
            f"you have {queued} jobs queued, the most one owner may have waiting "
            f"(PRUNESEARCH_MAX_QUEUED_JOBS_PER_OWNER={limit}), and {running} running "
            f"(at most {settings.max_running_jobs_per_owner} at once); submit again once "
            "one of them has started, or cancel one",
            retry_after_s=QUEUE_RETRY_AFTER_S,
        )


def study_name(spec: SearchSpec, job_id: str) -> str:
    """The job's Optuna study: the library's default name plus the job id, so two jobs
    with the same spec never share (and resume) one study."""
    suffix = f"-{job_id}"
    return default_study_name(spec)[: _STUDY_NAME_LENGTH - len(suffix)] + suffix


def _parse(spec_data: SearchSpec | Any) -> SearchSpec:
    return spec_data if isinstance(spec_data, SearchSpec) else SearchSpec.parse(spec_data)


def _replay(first: Job, spec_data: SearchSpec | Any) -> Submission:
    spec = _parse(spec_data)
    if spec.model_dump(mode="json") != first.spec:
        raise SpecError(
            f"this key was used for job {first.id} with a different spec; use a new key "
            "for a new job",
            field=IDEMPOTENCY_FIELD,
        )
    return Submission(first, created=False)


def _resolver(
    session: Session, owner: str, artifacts: ArtifactStore, spec: SearchSpec
) -> Callable[[str], Path]:
    """Check that the artifacts the spec names are the caller's, of the right kind; return
    the resolver :func:`search.validate` reads them through."""
    wanted = {"model.weights": (spec.model.weights, ArtifactKind.WEIGHTS)}
    wanted["data.tensors"] = (spec.data.tensors, ArtifactKind.DATA)
    for field, (artifact_id, kind) in wanted.items():
        if artifact_id is None:
            continue
        artifact = session.get(Artifact, artifact_id)
        if artifact is None or artifact.owner != owner:
            raise SpecError(
                f"no artifact {artifact_id!r} of yours: upload it with POST /v1/artifacts",
                field=field,
            )
        if artifact.kind is not kind:
            raise SpecError(
                f"artifact {artifact_id!r} holds {artifact.kind.value}, not {kind.value}",
                field=field,
            )
    return artifacts.path


def _validate(
    spec: SearchSpec,
    resolve: Callable[[str], Path],
    allowed_factories: list[str],
    max_model_params: int,
) -> None:
    try:
        validate(
            spec,
            resolve=resolve,
            allowed_factories=allowed_factories,
            max_model_params=max_model_params,
        )
    except SpecError:
        raise
    except (RuntimeError, TypeError, ValueError) as exc:
        # A factory or a model that breaks on the spec's kwargs or data: the spec's fault.
        raise SpecError(f"the model cannot be built or run: {exc}", field="model") from exc
