"""Database access: engines, sessions, transient-error retries and migrations.

>>> from service.db import Database, migrate
>>> migrate("sqlite:///./prunesearch.db")
>>> db = Database("sqlite:///./prunesearch.db")
>>> with db.session() as session:
...     ...
"""

from service.db._database import Database
from service.db._engine import make_engine, make_session_factory, session_scope
from service.db._migrate import VERSION_TABLE, alembic_config, migrate, schema_is_current
from service.db._retry import with_retry
from service.db._upsert import upsert

__all__ = [
    "VERSION_TABLE",
    "Database",
    "alembic_config",
    "make_engine",
    "make_session_factory",
    "migrate",
    "schema_is_current",
    "session_scope",
    "upsert",
    "with_retry",
]
