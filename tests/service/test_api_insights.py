"""GET /v1/jobs/{id}/points, /candidates/{number}, /history and /importance: what the job's
web page plots.

The reference comes from the search library's own ``prepare`` (no training) and is stored
through the workers' store, as a worker records it; kept channels are checked against
``pruning.policy.kept_channels``; 10,000 candidates check the SQL shape of /points (one
narrow SELECT) and of a leaderboard page, counted with SQLAlchemy's cursor events.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import optuna_dashboard._importance as dashboard_importance
import pytest
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState
from optuna_dashboard._inmemory_cache import InMemoryCache
from sqlalchemy import Engine, event, update

import service.jobs._studies as studies
from pruning import LayerInfo, kept_channels
from search import SearchSpec, param_importances, prepare
from service.jobs import NO_STUDY, SqlJobStore, StudyStorages, candidate_layers
from service.models import Job, JobStatus
from tests.service.factories import (
    SPEC,
    ApiEnv,
    add_candidates,
    api_env,
    candidate_row,
    make_job,
    postgres_database,
    spec,
)

N = 10_000
ROUND_TO = 8
BUDGET = {"max_macs": 0.5, "max_params": 3000, "max_latency_ms": 1.5}


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """The reference of SPEC's model as a worker records it (``Reference.to_dict()``)."""
    return prepare(SearchSpec.parse(SPEC), train=False).reference.to_dict()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("insights-api")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store") as e:
        yield e


@pytest.fixture(scope="module")
def alice(env: ApiEnv) -> dict[str, str]:
    return env.key("alice")


def _job(env: ApiEnv, reference: dict[str, Any] | None, **sections: dict[str, Any]) -> str:
    with env.session() as session:
        job = make_job(session, "alice", status=JobStatus.RUNNING, spec_data=spec(**sections))
    if reference is not None:
        SqlJobStore(env.database, env.artifacts()).record_reference(job.id, reference)
    return job.id


@pytest.fixture(scope="module")
def job_id(env: ApiEnv, reference: dict[str, Any]) -> str:
    """A job with the real reference, a budget of all three kinds, and round_to 8."""
    job = _job(env, reference, budget=BUDGET, search={"round_to": ROUND_TO})
    first = reference["layers"][0]["name"]
    with env.session() as session:
        add_candidates(
            session,
            [
                candidate_row(job, 0, kind="uniform", ratios={first: 0.3}, accuracy=0.9),
                candidate_row(job, 1, ratios={first: 0.55}, proxy_score=0.4),
                candidate_row(job, 2, state="fail", params=None, macs=None, proxy_score=None),
            ],
        )
    return job


def _get(env: ApiEnv, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = env.client.get(path, headers=headers)
    assert response.status_code == status, response.text
    return response.json()


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _app_engine(env: ApiEnv) -> Engine:
    engine: Engine = env.client.app.state.database.engine  # type: ignore[attr-defined]
    return engine


# -- points --


def test_points_carry_reference_budget_and_every_candidate(
    env: ApiEnv, alice: dict[str, str], job_id: str, reference: dict[str, Any]
) -> None:
    body = _get(env, f"/v1/jobs/{job_id}/points", alice)

    assert body["job_id"] == job_id
    assert (body["objective"], body["objectives"]) == ("accuracy", ["accuracy"])
    assert body["reference"] == {
        key: reference[key]
        for key in ("params", "macs", "latency_ms", "val_accuracy", "test_accuracy")
    }
    assert body["budget"] == {
        "max_params": 3000,  # > 1: absolute already
        "max_macs": math.floor(0.5 * reference["macs"]),  # a fraction of the reference
        "max_latency_ms": 1.5,
    }
    points = body["points"]
    assert [p["number"] for p in points] == [0, 1, 2]
    assert set(points[0]) == {
        "number", "kind", "state", "feasible", "pareto", "params", "macs",
        "latency_ms", "score", "accuracy", "proxy_score", "rung_score", "fidelity",
    }  # fmt: skip
    assert (points[0]["kind"], points[0]["score"], points[0]["accuracy"]) == ("uniform", 0.9, 0.9)
    assert (points[1]["score"], points[1]["accuracy"]) == (0.4, None)
    assert (points[2]["state"], points[2]["score"], points[2]["macs"]) == ("fail", None, None)


def test_points_score_matches_the_leaderboard(
    env: ApiEnv, alice: dict[str, str], job_id: str
) -> None:
    points = _get(env, f"/v1/jobs/{job_id}/points", alice)["points"]
    board = _get(env, f"/v1/jobs/{job_id}/leaderboard?limit=10", alice)["items"]
    by_number = {item["number"]: item["score"] for item in board}
    assert {p["number"]: p["score"] for p in points} == by_number


def test_a_job_not_prepared_has_no_reference_and_only_absolute_limits(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    job = _job(env, None, budget=BUDGET)

    body = _get(env, f"/v1/jobs/{job}/points", alice)

    assert body["reference"] is None
    assert body["budget"] == {"max_params": 3000, "max_macs": None, "max_latency_ms": 1.5}
    assert body["points"] == []


def test_a_two_objective_job_names_the_cost(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, None, search={"objectives": ["accuracy", "latency"], "sampler": "nsga2"})
    body = _get(env, f"/v1/jobs/{job}/points", alice)
    assert (body["objective"], body["objectives"]) == ("latency", ["accuracy", "latency"])


# -- one candidate --


def test_candidate_has_the_leaderboard_fields_and_every_layer(
    env: ApiEnv, alice: dict[str, str], job_id: str, reference: dict[str, Any]
) -> None:
    body = _get(env, f"/v1/jobs/{job_id}/candidates/1", alice)
    row = next(
        item
        for item in _get(env, f"/v1/jobs/{job_id}/leaderboard", alice)["items"]
        if item["number"] == 1
    )

    assert {key: body[key] for key in row} == row
    assert body["granularity"] == "channel"
    layers = reference["layers"]
    assert [layer["name"] for layer in body["layers"]] == [layer["name"] for layer in layers]
    first, *rest = body["layers"]
    original = layers[0]["out_channels"]
    assert first == {
        "name": layers[0]["name"],
        "kind": layers[0]["kind"],
        "group": layers[0]["group"],
        "original": original,
        "kept": kept_channels(original, 0.55, ROUND_TO),
        "ratio": 0.55,
    }
    assert first["kept"] % ROUND_TO == 0 and first["kept"] < original
    for layer, known in zip(rest, layers[1:], strict=True):
        assert (layer["original"], layer["kept"], layer["ratio"]) == (
            known["out_channels"],
            known["out_channels"],
            0.0,
        )


def test_unstructured_keeps_channels_and_reports_the_weight_fraction(
    env: ApiEnv, alice: dict[str, str], reference: dict[str, Any]
) -> None:
    job = _job(env, reference, search={"granularity": "unstructured", "criterion": "l1"})
    first = reference["layers"][0]
    with env.session() as session:
        add_candidates(session, [candidate_row(job, 0, ratios={first["name"]: 0.7})])

    layers = _get(env, f"/v1/jobs/{job}/candidates/0", alice)["layers"]

    assert layers[0]["ratio"] == 0.7
    assert layers[0]["kept"] == layers[0]["original"] == first["out_channels"]


def test_an_old_reference_without_layers_lists_the_policy_layers(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    job = _job(env, {"params": 4000, "macs": 8000})
    with env.session() as session:
        add_candidates(session, [candidate_row(job, 0, ratios={"a": 0.25, "b": 0.5})])

    body = _get(env, f"/v1/jobs/{job}/candidates/0", alice)

    assert body["layers"] == [
        {"name": "a", "kind": None, "group": None, "original": None, "kept": None, "ratio": 0.25},
        {"name": "b", "kind": None, "group": None, "original": None, "kept": None, "ratio": 0.5},
    ]


def test_coupled_layers_share_their_group_ratio() -> None:
    layers = [
        LayerInfo("conv1", "conv2d", 16, 0),
        LayerInfo("block.conv", "conv2d", 32, 1),
        LayerInfo("shortcut", "conv2d", 32, 1),
        LayerInfo("fc", "linear", 10, 2),
    ]

    views = candidate_layers(layers, {"block.conv": 0.5}, granularity="channel", round_to=1)

    assert [(v.name, v.kept, v.ratio) for v in views] == [
        ("conv1", 16, 0.0),
        ("block.conv", 16, 0.5),
        ("shortcut", 16, 0.5),
        ("fc", 10, 0.0),
    ]


# -- owners and unknown ids --


@pytest.mark.parametrize("suffix", ["points", "candidates/0", "history", "importance"])
def test_another_owners_job_is_a_404(
    env: ApiEnv, alice: dict[str, str], job_id: str, suffix: str
) -> None:
    bob = env.key("bob")
    theirs = _get(env, f"/v1/jobs/{job_id}/{suffix}", bob, status=404)
    missing = _get(env, f"/v1/jobs/nope/{suffix}", alice, status=404)
    assert theirs == {"detail": f"no job {job_id!r}", "field": None}
    assert missing == {"detail": "no job 'nope'", "field": None}


def test_an_unknown_candidate_is_a_404_naming_it(
    env: ApiEnv, alice: dict[str, str], job_id: str
) -> None:
    body = _get(env, f"/v1/jobs/{job_id}/candidates/99", alice, status=404)
    assert body == {"detail": f"job {job_id} has no candidate number 99", "field": None}
    bad = _get(env, f"/v1/jobs/{job_id}/candidates/first", alice, status=422)
    assert bad["field"] == "number"


# -- 10,000 candidates --


@pytest.fixture(scope="module")
def big_job(env: ApiEnv) -> str:
    job = _job(env, {"params": 6000, "macs": 11000}, budget={"max_macs": 0.5})
    rows = [candidate_row(job, number) for number in range(N)]
    with env.session() as session:
        add_candidates(session, rows)
    return job


def test_points_of_10000_candidates_come_from_one_narrow_query(
    env: ApiEnv, alice: dict[str, str], big_job: str
) -> None:
    with _statements(_app_engine(env)) as seen:
        body = _get(env, f"/v1/jobs/{big_job}/points", alice)

    assert [p["number"] for p in body["points"]] == list(range(N))
    assert body["budget"]["max_macs"] == 5500
    on_candidates = [sql for sql in seen if "ps_candidates" in sql]
    assert len(on_candidates) == 1
    assert "ratios" not in on_candidates[0] and "timings" not in on_candidates[0]


def test_the_leaderboard_pages_10000_candidates_in_three_queries(
    env: ApiEnv, alice: dict[str, str], big_job: str
) -> None:
    with _statements(_app_engine(env)) as seen:
        body = _get(env, f"/v1/jobs/{big_job}/leaderboard?limit=100&offset={N - 40}", alice)

    assert (body["total"], len(body["items"])) == (N, 40)
    # the COUNT, the sorted ids of the page, then the page's rows: never one per row
    assert len([sql for sql in seen if "ps_candidates" in sql]) == 3


# -- the study: history and importance --

SPACE: dict[str, BaseDistribution] = {
    "keep:a": FloatDistribution(0.05, 1.0),
    "keep:b": FloatDistribution(0.05, 1.0),
}


def _make_study(env: ApiEnv, job_id: str, trials: int) -> optuna.Study:
    """The job's study in the app's database, as search writes it: ``trials`` trials, the
    enqueued baseline first (kind user attrs), trial 2 failed; the score follows keep:a."""
    with env.session() as session:
        name = session.get(Job, job_id).study_name  # type: ignore[union-attr]
    study = optuna.create_study(
        storage=env.settings.database_url,
        study_name=name,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.enqueue_trial({"keep:a": 0.5, "keep:b": 0.5}, user_attrs={"kind": "uniform"})
    for number in range(trials):
        trial = study.ask(SPACE)
        if "kind" not in trial.user_attrs:
            trial.set_user_attr("kind", "search")
        if number == 2:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, 0.1 + 0.8 * trial.params["keep:a"] + 0.01 * trial.params["keep:b"])
    return study


def _set_trials_done(env: ApiEnv, job_id: str, done: int) -> None:
    with env.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(trials_done=done))
        session.commit()


def test_history_of_a_job_with_a_study(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, None)
    study = _make_study(env, job, 8)

    body = _get(env, f"/v1/jobs/{job}/history", alice)

    assert body["direction"] == "maximize"
    points = body["points"]
    assert [p["number"] for p in points] == list(range(8))
    assert [p["kind"] for p in points[:2]] == ["uniform", "search"]
    assert set(points[0]) == {"number", "kind", "state", "value", "best_so_far"}
    assert (points[2]["state"], points[2]["value"]) == ("fail", None)
    values = [p["value"] for p in points if p["value"] is not None]
    assert points[-1]["best_so_far"] == max(values) == study.best_value


def test_importance_of_a_job_with_a_study_is_cached_per_trials_done(
    env: ApiEnv, alice: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _job(env, None)
    study = _make_study(env, job, 12)
    calls: list[int] = []

    def counting(study: optuna.Study, *, seed: int = 0) -> dict[str, float]:
        calls.append(seed)
        return param_importances(study, seed=seed)

    monkeypatch.setattr(studies, "param_importances", counting)
    path = f"/v1/jobs/{job}/importance"

    first = _get(env, path, alice)
    again = _get(env, path, alice)
    _set_trials_done(env, job, 11)
    moved = _get(env, path, alice)

    assert first == again == moved
    assert len(calls) == 2  # once per trials done
    assert first["message"] is None
    assert first["trials_used"] == 11  # 12 trials, one failed
    assert (first["evaluator"], first["warning"]) == ("PED-ANOVA", None)  # 11: enough to rank
    names = [p["name"] for p in first["params"]]
    assert names == list(param_importances(study, seed=0)) and names[0] == "keep:a"
    assert sum(p["importance"] for p in first["params"]) == pytest.approx(1.0)


def test_importance_agrees_with_the_embedded_dashboards_and_warns_of_too_few_trials(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    job = _job(env, None)
    study = _make_study(env, job, 7)  # 6 complete: the case, too few to rank

    body = _get(env, f"/v1/jobs/{job}/importance", alice)
    # optuna-dashboard's own computation for its importance chart, on the same study
    dashboard_importance.param_importance_cache.clear()
    dashboard = dashboard_importance.get_param_importance_from_trials_cache(
        InMemoryCache(), study._storage, study._study_id, 0, study.get_trials()
    )

    ours = {p["name"]: p["importance"] for p in body["params"]}
    theirs = {p["name"]: p["importance"] for p in dashboard}
    assert list(ours) == list(theirs)  # the same order
    assert ours == pytest.approx(theirs)
    assert body["trials_used"] == 6 and body["evaluator"] == "PED-ANOVA"
    assert "only 6 complete trials" in body["warning"]
    assert "too few to rank" in body["warning"]


def test_importance_with_too_few_trials_says_why(env: ApiEnv, alice: dict[str, str]) -> None:
    job = _job(env, None)
    _make_study(env, job, 1)  # the baseline alone

    body = _get(env, f"/v1/jobs/{job}/importance", alice)

    assert body["params"] == [] and body["trials_used"] == 1
    assert "at least 2 complete trials" in body["message"]


def test_a_job_without_a_study_yet_has_empty_history_and_importance(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    with env.session() as session:
        job = make_job(session, "alice").id  # queued: no study

    history = _get(env, f"/v1/jobs/{job}/history", alice)
    importance = _get(env, f"/v1/jobs/{job}/importance", alice)

    assert history == {"direction": "maximize", "points": []}
    assert importance == {
        "params": [],
        "trials_used": 0,
        "message": NO_STUDY,
        "warning": None,
        "evaluator": "PED-ANOVA",
    }


def test_one_storage_per_url_is_shared_and_closed_with_the_app(tmp_path: Path) -> None:
    with api_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "store") as e:
        alice = e.key("alice")
        with e.session() as session:
            job = make_job(session, "alice").id
        for _ in range(3):
            _get(e, f"/v1/jobs/{job}/history", alice)
        storages: StudyStorages = e.client.app.state.study_storages  # type: ignore[attr-defined]
        opened = storages.storage()
        assert storages.storage() is opened
        assert len(storages) == 1
    assert len(storages) == 0  # closed by the app's shutdown


def test_on_postgresql(tmp_path: Path, reference: dict[str, Any]) -> None:
    """Points, a candidate, history and importance on a real PostgreSQL database (the
    study through Optuna's RDB storage on the service's own URL)."""
    with postgres_database() as url, api_env(url, tmp_path / "store") as e:
        alice = e.key("alice")
        job = _job(e, reference, budget={"max_params": 0.5})
        first = reference["layers"][0]
        with e.session() as session:
            add_candidates(
                session, [candidate_row(job, n, ratios={first["name"]: 0.5}) for n in range(5)]
            )
        _make_study(e, job, 6)

        points = _get(e, f"/v1/jobs/{job}/points", alice)
        layers = _get(e, f"/v1/jobs/{job}/candidates/4", alice)["layers"]
        history = _get(e, f"/v1/jobs/{job}/history", alice)
        importance = _get(e, f"/v1/jobs/{job}/importance", alice)

        assert [p["number"] for p in points["points"]] == list(range(5))
        assert points["budget"]["max_params"] == math.floor(0.5 * reference["params"])
        assert layers[0]["kept"] == kept_channels(first["out_channels"], 0.5, 1)
        assert len(history["points"]) == 6
        assert importance["trials_used"] == 5 and importance["message"] is None


def test_the_importance_cache_keeps_the_most_recently_used() -> None:
    cache = studies.ImportanceCache(size=2)
    values = {key: studies.Importances(params={}, trials_used=n) for n, key in enumerate("abc")}
    cache.put(("a", 1), values["a"])
    cache.put(("b", 1), values["b"])
    assert cache.get(("a", 1)) is values["a"]  # a hit: "b" is now the oldest
    cache.put(("c", 1), values["c"])
    assert cache.get(("b", 1)) is None
    assert cache.get(("a", 1)) is values["a"] and cache.get(("c", 1)) is values["c"]
    assert cache.get(("a", 2)) is None  # more trials done: computed afresh
