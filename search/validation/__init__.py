"""Validating a spec before it is queued."""

from search.validation._validate import validate

__all__ = ["validate"]
