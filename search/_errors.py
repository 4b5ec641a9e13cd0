"""The one pydantic-error formatter: a ``ValidationError``'s first error, worded for a user.

The job spec (:func:`search.spec.spec_error`), the API's request validation and the
settings the command line reads all report a refusal the same way: the field at fault as
a location, pydantic's message without its ``"Value error, "`` prefix (an unknown field
says so), and how many more errors there were.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldProblem", "first_problem"]


@dataclass(frozen=True)
class FieldProblem:
    """The first of a validation's errors: where (``location``, the path's parts), and what
    (``message``, with ``(and N more errors)`` when there were others)."""

    location: tuple[str, ...]
    message: str

    @property
    def field(self) -> str | None:
        """The location as a dotted path (``budget.max_macs``); None for the whole value."""
        return ".".join(self.location) or None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def first_problem(
    errors: Sequence[Mapping[str, Any]], *, drop_first: Collection[str] = ()
) -> FieldProblem:
    """The first of ``errors`` (``ValidationError.errors()``, or FastAPI's, which are the
    same dicts); a first location part in ``drop_first`` (FastAPI's ``body``, ``query``...)
    is dropped, as the caller names no such field."""
    if not errors:
        return FieldProblem((), "invalid value")
    first = errors[0]
    location = [str(part) for part in first.get("loc", ())]
    if location and location[0] in drop_first:
        location = location[1:]
    if first.get("type") == "extra_forbidden":
        message = "unknown field"
    else:
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = len(errors) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return FieldProblem(tuple(location), message)
