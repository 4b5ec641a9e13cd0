"""The exceptions of :mod:`service`: one tree, rooted at :class:`ServiceError`.

Each class carries the HTTP status its error maps to, so the one error handler of the API
translates them without a table of its own; nothing below the service raises these. Two
errors of starting the service (:class:`InsecureSettings`, :class:`ServerError`) answer no
request: they are runtime errors the command line reports. The Python client has a tree
of its own (:mod:`service.client`): it runs where the service's code need not be.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ArtifactError",
    "AuthError",
    "BadRequest",
    "BodyTooLarge",
    "Conflict",
    "Exposed",
    "InvalidTransition",
    "NotFound",
    "ReadOnlyError",
    "ServiceError",
    "FieldError",
    "InsecureSettings",
    "InvalidJsonError",
    "QueueUnavailable",
    "ServerError",
    "ServiceUnavailable",
    "StudyNotCreated",
    "TooManyJobs",
    "UnsupportedMediaType",
    "UploadTooLarge",
]


class ServiceError(Exception):
    """Base class of every error raised by :mod:`service`; ``field`` is the request field at
    fault (a dotted path), when there is one."""

    status_code: ClassVar[int] = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class BadRequest(ServiceError):  # noqa: N818 (reads as the HTTP status)
    """A request the API cannot even read: a malformed body, a JSON value out of range."""

    status_code: ClassVar[int] = 400


class BodyTooLarge(BadRequest):
    """A request body over its size limit; nothing of it was kept."""

    status_code: ClassVar[int] = 413


class UnsupportedMediaType(BadRequest):
    """A JSON body sent as another media type."""

    status_code: ClassVar[int] = 415


class InvalidJsonError(ServiceError):
    """A body that is not JSON, or JSON with a value no field can take."""

    status_code: ClassVar[int] = 422


class ServiceUnavailable(ServiceError):  # noqa: N818 (reads as the HTTP status)
    """A dependency (the database, the broker) does not answer: try again later."""

    status_code: ClassVar[int] = 503
    retry_after_s: ClassVar[int] = 5


class QueueUnavailable(ServiceUnavailable):
    """The broker cannot be reached."""


class TooManyJobs(ServiceError):  # noqa: N818 (reads as the refusal it is)
    """The caller has as many jobs queued as one owner may: 429, with ``Retry-After``
    (seconds) saying when to try again. Nothing of the refused submission is stored."""

    status_code: ClassVar[int] = 429

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Exposed(ServiceError):  # noqa: N818 (reads as the refusal it is)
    """Auth is off but the server listens on an address other machines can reach."""

    status_code: ClassVar[int] = 403


class NotFound(ServiceError, LookupError):  # noqa: N818 (reads as the HTTP status)
    """No such object, or it belongs to another owner (both answer 404, by design)."""

    status_code: ClassVar[int] = 404


class StudyNotCreated(NotFound):
    """The job's study is not in its storage yet: the search creates it when it starts."""


class ReadOnlyError(ServiceError):
    """A request or storage call that would change something through the dashboard."""

    status_code: ClassVar[int] = 405


class Conflict(ServiceError):  # noqa: N818 (reads as the HTTP status)
    """The request clashes with the stored state (a concurrent change, a duplicate)."""

    status_code: ClassVar[int] = 409


class InvalidTransition(Conflict):
    """A job status change the lifecycle does not allow (e.g. succeeded -> running)."""


class ArtifactError(ServiceError, ValueError):
    """An uploaded file is unusable: bad name, wrong format, corrupt, or pickled code."""

    status_code: ClassVar[int] = 422


class FieldError(ArtifactError):
    """A bad request field outside a job spec (an upload's form fields): 422 naming it."""

    status_code: ClassVar[int] = 422

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message, field=field)


class UploadTooLarge(ArtifactError):  # noqa: N818 (reads as the HTTP status)
    """An upload exceeded the size limit; nothing of it was kept."""

    status_code: ClassVar[int] = 413


class AuthError(ServiceError):
    """A missing, unknown or revoked API key."""

    status_code: ClassVar[int] = 401


class InsecureSettings(RuntimeError):  # noqa: N818 (reads as the refusal it is)
    """Settings that would expose an unauthenticated service; the app refuses to start."""


class ServerError(RuntimeError):
    """An in-process API server did not start (its lifespan failed), or did not stop in time."""
