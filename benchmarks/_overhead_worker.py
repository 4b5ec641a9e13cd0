"""A Celery worker with the overhead probe installed: ``python _overhead_worker.py OUT.jsonl
[celery worker options]`` (benchmarks/service_overhead.py starts it)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _overhead_probe

_overhead_probe.install(Path(sys.argv[1]))

from service.worker import celery_app  # noqa: E402

celery_app.worker_main(["worker", *sys.argv[2:]])
