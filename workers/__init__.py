"""Execution of search jobs: thin Celery tasks (or an embedded thread pool) over ``search``.

Tasks take job ids, call the search library, and persist through a :class:`JobStore` that
the service provides.
"""

from workers.store import JobStore, JobTicket

__all__ = ["JobStore", "JobTicket"]
