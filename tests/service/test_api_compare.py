"""GET /v1/compare?jobs=a,b: several of the caller's jobs side by side, and its refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from service.models import JobStatus
from tests.service.factories import (
    ApiEnv,
    add_candidates,
    api_env,
    candidate_row,
    make_job,
    postgres_database,
)

REFERENCE = {
    "params": 10_000,
    "macs": 20_000,
    "latency_ms": 0.5,
    "val_accuracy": 0.95,
    "test_accuracy": 0.94,
    "layers": [
        {"name": "layers.0", "kind": "Linear", "out_channels": 32, "group": 0},
        {"name": "layers.2", "kind": "Linear", "out_channels": 16, "group": 1},
    ],
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ApiEnv, list[str]]]:
    # Both backends: PostgreSQL streams through a server-side cursor, SQLite does not.
    root = tmp_path_factory.mktemp("compare-api")
    with ExitStack() as stack:
        url = f"sqlite:///{root / 'db.sqlite'}"
        if request.param == "postgresql":
            url = stack.enter_context(postgres_database())
        built = stack.enter_context(api_env(url, root / "store"))
        with built.session() as session:
            finished = make_job(
                session,
                "alice",
                status=JobStatus.SUCCEEDED,
                name="finished",
                reference=REFERENCE,
                result={"best": {"number": 4}},
            )
            rows: list[dict[str, Any]] = [
                candidate_row(finished.id, 0, kind="uniform", fidelity="final", accuracy=0.9),
                candidate_row(finished.id, 1, kind="global", fidelity="final", accuracy=0.8),
                # On the screening front, then beaten: not on the final front.
                candidate_row(finished.id, 2, pareto=True, fidelity="screen"),
                candidate_row(finished.id, 3, pareto=True, fidelity="final", accuracy=0.85),
                candidate_row(
                    finished.id,
                    4,
                    pareto=True,
                    fidelity="final",
                    accuracy=0.93,
                    feasible=True,
                    ratios={"layers.0": 0.25, "layers.2": 0.5},
                ),
            ]
            add_candidates(session, rows)
            running = make_job(session, "alice", status=JobStatus.RUNNING, name="running")
            add_candidates(
                session,
                [
                    candidate_row(running.id, 0, pareto=True, fidelity="screen"),
                    candidate_row(running.id, 1, pareto=True, fidelity="rung-1", rung_score=0.7),
                    candidate_row(running.id, 2, pareto=False, fidelity="rung-1", rung_score=0.6),
                ],
            )
            queued = make_job(session, "alice", name="queued")
            foreign = make_job(session, "bob", name="bob's")
        yield built, [finished.id, running.id, queued.id, foreign.id]


@pytest.fixture(scope="module")
def alice(env: tuple[ApiEnv, list[str]]) -> dict[str, str]:
    return env[0].key("alice")


def _compare(env: ApiEnv, headers: dict[str, str], jobs: str) -> Any:
    return env.client.get("/v1/compare", headers=headers, params={"jobs": jobs})


def test_compare_gives_each_job_in_the_order_asked(
    env: tuple[ApiEnv, list[str]], alice: dict[str, str]
) -> None:
    built, (finished, running, queued, _) = env
    response = _compare(built, alice, f"{running}, {finished},{queued}")
    assert response.status_code == 200, response.text
    jobs = response.json()["jobs"]
    assert [job["id"] for job in jobs] == [running, finished, queued]
    done = jobs[1]
    assert (done["name"], done["model"], done["status"]) == ("finished", "mlp", "succeeded")
    assert done["objectives"] == ["accuracy"]
    assert done["reference"]["macs"] == 20_000 and done["reference"]["test_accuracy"] == 0.94
    assert done["budget"]["max_macs"] == 10_000  # 0.5 of the unpruned model's MACs
    assert done["baselines"]["uniform"]["number"] == 0
    assert done["baselines"]["global"]["number"] == 1
    assert done["baselines"]["sensitivity"] is None
    # The final front only: the screening one's point 2 is not on it.
    assert done["front_fidelity"] == "final"
    assert [point["number"] for point in done["front"]] == [3, 4]
    assert done["front"][1]["score"] == 0.93
    best = done["best"]
    assert best["final"] is True and best["candidate"]["number"] == 4
    assert best["granularity"] == "channel"
    assert [(layer["name"], layer["original"], layer["kept"]) for layer in best["layers"]] == [
        ("layers.0", 32, 24),
        ("layers.2", 16, 8),
    ]
    live = jobs[0]
    assert live["front_fidelity"] == "rung-1"
    assert [point["number"] for point in live["front"]] == [1]
    assert live["reference"] is None
    empty = jobs[2]
    assert (empty["front_fidelity"], empty["front"], empty["best"]) == (None, [], None)


@pytest.mark.parametrize(
    ("jobs", "needle"),
    [
        ("only-one", "at least 2"),
        (",".join(f"j{n}" for n in range(11)), "at most 10"),
        ("{0},{0}", "more than once"),
        ("", "at least 2"),
    ],
)
def test_compare_refuses_a_bad_list(
    env: tuple[ApiEnv, list[str]], alice: dict[str, str], jobs: str, needle: str
) -> None:
    built, ids = env
    response = _compare(built, alice, jobs.format(ids[0]))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "jobs" and needle in response.json()["detail"]


def test_compare_names_a_missing_or_foreign_job(
    env: tuple[ApiEnv, list[str]], alice: dict[str, str]
) -> None:
    built, (finished, _, _, foreign) = env
    for other in (foreign, "no-such-job"):
        response = _compare(built, alice, f"{finished},{other}")
        assert response.status_code == 404 and other in response.json()["detail"]
    assert _compare(built, {}, f"{finished},{foreign}").status_code == 401


def test_compare_is_in_the_openapi_document(env: tuple[ApiEnv, list[str]]) -> None:
    document = env[0].client.get("/openapi.json").json()
    answer = document["paths"]["/v1/compare"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/CompareOut")
    assert "ComparedJobOut" in document["components"]["schemas"]
