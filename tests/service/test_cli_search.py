"""``prunesearch search``: a real tiny digits search end to end, and its error exits.

One search runs per module (fixture ``first_run``); the other end-to-end tests resume it
or reuse its trained reference model, so the file stays within a couple of minutes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from pruning import PruningError
from service.cli import app

TINY: dict[str, Any] = {
    "name": "cli-tiny",
    "model": {"zoo": "small_cnn", "kwargs": {"width": 8}, "pretrain_epochs": 2},
    "data": {"source": "digits"},
    "budget": {"max_macs": 0.5},
    "search": {"n_trials": 3, "seed": 0},
    "finetune": {"proxy_epochs": 1, "proxy_samples": 256, "final_epochs": 1, "finalists": 1},
}


@dataclass(frozen=True)
class Run:
    spec: Path
    out: Path
    result: Result
    report: dict[str, Any]  # the bundle's report.json as the first run wrote it


def write_spec(folder: Path, name: str = "spec.yaml", **sections: Any) -> Path:
    """The tiny spec with whole sections replaced, written as YAML."""
    path = folder / name
    path.write_text(yaml.safe_dump({**TINY, **sections}))
    return path


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["search", *map(str, args)])


def assert_clean_exit(result: Result, code: int) -> None:
    """Exited with ``code`` through typer/click, printing no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit) or code == 0
    assert "Traceback" not in result.output


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("cli-search")
    spec, out = write_spec(folder), folder / "out"
    result = invoke(spec, "--out", out)
    report = out / "report.json"
    return Run(spec, out, result, json.loads(report.read_text()) if report.is_file() else {})


def test_search_prints_leaderboard_with_both_baselines(first_run: Run) -> None:
    assert_clean_exit(first_run.result, 0)
    output = first_run.result.output
    assert "Leaderboard" in output
    assert "◆ uniform" in output
    assert "◆ global" in output
    assert "Gain over uniform" in output
    assert "Rank correlation" in output
    assert "Unpruned reference model" in output


def test_search_writes_the_best_bundle_and_the_reference(first_run: Run) -> None:
    assert_clean_exit(first_run.result, 0)
    assert (first_run.out / "model.safetensors").is_file()
    assert json.loads((first_run.out / "policy.json").read_text())
    assert (first_run.out / "reference.safetensors").is_file()
    assert (first_run.out / "study.db").is_file()
    assert f"Best model written to {first_run.out}" in first_run.result.stdout


def test_json_resumes_the_study_without_new_trials(first_run: Run) -> None:
    assert_clean_exit(first_run.result, 0)
    result = invoke(first_run.spec, "--out", first_run.out, "--json")
    assert_clean_exit(result, 0)
    document = json.loads(result.stdout)
    board = document["leaderboard"]
    assert len(board) == TINY["search"]["n_trials"]
    assert {"uniform", "global"} <= {c["kind"] for c in board}
    assert document["best"]["number"] in {c["number"] for c in board}
    assert document["bundle"] == str(first_run.out)
    # A resumed run loads the cached reference instead of training it again.
    assert document["reference"]["pretrain_seconds"] == 0.0
    first = first_run.report["metrics"]["reference"]
    assert document["reference"]["val_accuracy"] == first["val_accuracy"]


def test_unreachable_budget_exits_2_with_the_smallest_figure(
    first_run: Run, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path, budget={"max_macs": 0.0001})
    # The reference model of the first run fits this spec: no pretraining here.
    reference = first_run.out / "reference.safetensors"
    result = invoke(spec, "--out", tmp_path / "out", "--reference", reference)
    assert_clean_exit(result, 2)
    assert "budget.max_macs" in result.output
    assert "smallest achievable" in result.output


def test_changed_model_is_refused_a_stale_reference(first_run: Run, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, model={**TINY["model"], "kwargs": {"width": 4}})
    result = invoke(spec, "--out", first_run.out)
    assert_clean_exit(result, 2)
    assert "trained for another spec" in result.output


def test_unknown_field_exits_2_naming_it(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, search={**TINY["search"], "n_trails": 5})
    result = invoke(spec, "--out", tmp_path / "out")
    assert_clean_exit(result, 2)
    assert "search.n_trails" in result.output
    assert "unknown field" in result.output
    assert not (tmp_path / "out").exists()


def test_missing_spec_exits_2(tmp_path: Path) -> None:
    result = invoke(tmp_path / "absent.yaml")
    assert_clean_exit(result, 2)
    assert "absent.yaml" in result.output


def test_binary_spec_exits_2(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_bytes(b"\xff\xfe\x00binary")
    result = invoke(spec)
    assert_clean_exit(result, 2)
    assert "cannot read spec" in result.output


def test_bad_storage_exits_2_before_any_work(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    result = invoke(spec, "--out", tmp_path / "out", "--storage", "nosuchdb://x")
    assert_clean_exit(result, 2)
    assert "--storage" in result.output


def test_interrupt_exits_130_keeping_the_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("service.cli._search.run_search", interrupted)
    storage = f"sqlite:///{tmp_path / 'kept.db'}"
    result = invoke(write_spec(tmp_path), "--out", tmp_path / "out", "--storage", storage)
    assert_clean_exit(result, 130)
    assert f"interrupted; finished trials are kept in {storage}" in result.output


def test_pruning_error_exits_1_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise PruningError("the pruned model lost its head")

    monkeypatch.setattr("service.cli._search.run_search", broken)
    result = invoke(write_spec(tmp_path), "--out", tmp_path / "out")
    assert_clean_exit(result, 1)
    assert "the pruned model lost its head" in result.output


def test_help_lists_the_search_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "search" in result.output


def test_cli_imports_neither_fastapi_nor_celery() -> None:
    code = "import sys, service.cli; print('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not {"fastapi", "celery"} & set(loaded)
