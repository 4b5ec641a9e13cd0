"""configure_logging: text or JSON lines on the root logger, carrying the job id and the
trial number wherever they are known (a real tiny slice on digits included)."""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from search import SearchSpec, log_context, prepare
from service._logging import configure_logging
from service.settings import Settings
from tests.specs import TINY, tiny
from tests.workers.conftest import OPTIONS, RecordingDispatcher
from tests.workers.memory_store import MemoryStore
from workers import PREPARE, RUN_SLICE, runner


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put the root and Optuna's back."""
    root, optuna_logger = logging.getLogger(), logging.getLogger("optuna")
    handlers, level = list(root.handlers), root.level
    optuna_handlers, propagate = list(optuna_logger.handlers), optuna_logger.propagate
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    optuna_logger.handlers[:] = optuna_handlers
    optuna_logger.propagate = propagate
    runner.sessions.clear()


def _settings(**changes: Any) -> Settings:
    return Settings(**changes)


def _json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_context_where_known() -> None:
    stream = io.StringIO()
    configure_logging(_settings(log_format="json", log_level="INFO"), stream=stream)
    log = logging.getLogger("tests.logging")

    log.info("outside")
    with log_context(job_id="job-1"):
        log.info("in the job")
        with log_context(trial_number=7):
            log.warning("in trial %d", 7, extra={"phase": "proxy"})
        log.debug("below the level")

    lines = _json_lines(stream)
    assert [line["message"] for line in lines] == ["outside", "in the job", "in trial 7"]
    outside, job, trial = lines
    assert "job_id" not in outside and "trial_number" not in outside
    assert job["job_id"] == "job-1" and "trial_number" not in job
    assert trial["job_id"] == "job-1" and trial["trial_number"] == 7
    assert trial["level"] == "WARNING" and trial["logger"] == "tests.logging"
    assert trial["phase"] == "proxy"
    assert trial["timestamp"].endswith("+00:00")


def test_text_lines_show_the_context_in_brackets() -> None:
    stream = io.StringIO()
    configure_logging(_settings(log_level="INFO"), stream=stream)
    log = logging.getLogger("tests.logging")

    log.info("outside")
    with log_context(job_id="job-1", trial_number=3):
        log.info("inside")

    outside, inside = stream.getvalue().splitlines()
    assert outside.endswith(" INFO tests.logging: outside")
    assert inside.endswith(" INFO tests.logging [job=job-1 trial=3]: inside")


def test_configuring_twice_replaces_the_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(_settings(log_format="json"), stream=first)
    configure_logging(_settings(log_format="json", log_level="WARNING"), stream=second)

    logging.getLogger("tests.logging").warning("once")

    assert first.getvalue() == ""
    assert [line["message"] for line in _json_lines(second)] == ["once"]


def test_json_mode_sends_optunas_lines_through_the_root_handler() -> None:
    stream = io.StringIO()
    configure_logging(_settings(log_format="json", log_level="INFO"), stream=stream)

    logging.getLogger("optuna.study").warning("from optuna")

    assert [line["logger"] for line in _json_lines(stream)] == ["optuna.study"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reference") / "small_cnn.safetensors"
    prepare(SearchSpec.parse(TINY), reference_weights=path)
    return path


def test_a_real_slice_logs_each_trial_with_the_job_id_and_its_number(
    tmp_path: Path, reference: Path
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = MemoryStore(tmp_path, f"sqlite:///{tmp_path / 'optuna.db'}")
    job_id = store.submit(tiny(search={"n_trials": 3}))
    target = store.reference_path(job_id)
    target.parent.mkdir(parents=True)
    shutil.copyfile(reference, target)
    stream = io.StringIO()
    configure_logging(_settings(log_format="json", log_level="INFO"), stream=stream)
    dispatcher = RecordingDispatcher()

    runner.run_task(PREPARE, store, dispatcher, job_id, OPTIONS)
    runner.run_task(RUN_SLICE, store, dispatcher, job_id, OPTIONS)

    lines = _json_lines(stream)
    trials = [line for line in lines if line["logger"] == "search.trials"]
    started = {line["trial_number"] for line in trials if "started" in line["message"]}
    finished = [line for line in trials if "finished" in line["message"]]
    assert started == {0, 1}  # two of the three baselines, queued first (a slice runs two)
    assert {line["trial_number"] for line in finished} == {0, 1}
    for line in trials:
        assert line["job_id"] == job_id
        assert line["message"].startswith(f"trial {line['trial_number']} ")
    assert all(" in " in line["message"] and " s " in line["message"] for line in finished)
    (done,) = [line for line in lines if line["message"].startswith("slice of job")]
    assert done["job_id"] == job_id and "trial_number" not in done
    assert "2 trials" in done["message"]
    # The same slice, recorded for /metrics.
    (recorded,) = store.slices
    assert recorded["job_id"] == job_id and recorded["trials"] == 2 and recorded["seconds"] > 0


def test_the_default_stream_is_stderr_as_it_is_when_each_line_is_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A CLI runner swaps stderr while `serve` configures logging and closes its stream
    # afterwards; later lines must go to the stderr of their time, not to a closed file.
    swapped = io.StringIO()
    monkeypatch.setattr("sys.stderr", swapped)
    configure_logging(_settings(log_format="json", log_level="INFO"))
    swapped.close()
    current = io.StringIO()
    monkeypatch.setattr("sys.stderr", current)

    logging.getLogger("tests.logging").info("after the swap")

    assert [line["message"] for line in _json_lines(current)] == ["after the swap"]
