"""The ``prunesearch`` command line (console script ``prunesearch = service.cli:app``).

Each command group lives in its own module with a ``register(app)`` function, called here;
a new group (``serve``, ``submit``, ...) adds its module and one line below. The modules
registered here must not import FastAPI or Celery: ``prunesearch search`` runs with neither.
"""

from service.cli import _demo, _ops, _remote, _search
from service.cli._app import app
from service.cli._demo import demo_spec
from service.cli._local_server import serve_in_thread

_search.register(app)
_ops.register(app)
_remote.register(app)
_demo.register(app)

# demo_spec and serve_in_thread: for the benchmarks and the README screenshot.
__all__ = ["app", "demo_spec", "serve_in_thread"]
