"""/v1/jobs: submit (validated, idempotent, queued), list, read, cancel, best, download."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.jobs import SqlJobStore
from service.models import ArtifactKind, Job, JobStatus, find_idempotent_job
from tests.service.factories import (
    SPEC,
    ApiEnv,
    add_candidates,
    api_env,
    candidate_row,
    make_artifact,
    make_job,
    npz_bytes,
    safetensors_bytes,
    spec,
)
from workers import PREPARE


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("jobs-api")
    with api_env(
        f"sqlite:///{root / 'db.sqlite'}", root / "store", allowed_factories=["tests.service"]
    ) as e:
        yield e


@pytest.fixture(scope="module")
def alice(env: ApiEnv) -> dict[str, str]:
    return env.key("alice")


@pytest.fixture(scope="module")
def weights(env: ApiEnv, alice: dict[str, str]) -> str:
    files = {"file": ("w.safetensors", safetensors_bytes())}
    response = env.client.post(
        "/v1/artifacts", headers=alice, files=files, data={"kind": "weights"}
    )
    return str(response.json()["id"])


def test_submit_stores_a_queued_job_and_queues_prepare(
    env: ApiEnv, alice: dict[str, str], weights: str
) -> None:
    response = env.client.post("/v1/jobs", headers=alice, json=spec(model={"weights": weights}))

    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued"
    assert job["spec"]["model"]["weights"] == weights
    assert job["spec"]["finetune"]["final_epochs"] == 5  # defaults filled in
    assert job["study_name"].startswith("prunesearch-digits-mlp-")
    assert job["study_name"].endswith(job["id"])
    assert job["progress"]["trials_planned"] == SPEC["search"]["n_trials"]
    assert [e["to_status"] for e in job["events"]] == ["queued"]
    assert env.dispatcher.calls[-1] == (PREPARE, job["id"], "cpu")
    assert env.client.get(f"/v1/jobs/{job['id']}", headers=alice).json()["id"] == job["id"]


def test_a_cuda_budget_goes_to_the_cuda_queue(env: ApiEnv, alice: dict[str, str]) -> None:
    response = env.client.post(
        "/v1/jobs", headers=alice, json=spec(budget={"latency": {"device": "cuda"}})
    )

    assert response.status_code == 202, response.text
    assert env.dispatcher.calls[-1] == (PREPARE, response.json()["id"], "cuda")


def test_two_jobs_of_one_spec_never_share_a_study(env: ApiEnv, alice: dict[str, str]) -> None:
    first = env.client.post("/v1/jobs", headers=alice, json=SPEC).json()
    second = env.client.post("/v1/jobs", headers=alice, json=SPEC).json()

    assert first["id"] != second["id"]
    assert first["study_name"] != second["study_name"]


def test_idempotency_key_returns_the_first_job(env: ApiEnv, alice: dict[str, str]) -> None:
    headers = {**alice, "Idempotency-Key": "submit-once"}
    first = env.client.post("/v1/jobs", headers=headers, json=SPEC)
    calls, counts = len(env.dispatcher.calls), env.counts()

    again = env.client.post("/v1/jobs", headers=headers, json=SPEC)

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["spec"] == first.json()["spec"]
    assert (len(env.dispatcher.calls), env.counts()) == (calls, counts)
    other = env.client.post("/v1/jobs", headers={**headers, **env.key("bob")}, json=SPEC)
    assert other.status_code == 202  # keys are per owner
    assert other.json()["id"] != first.json()["id"]


def test_idempotency_key_reused_for_another_spec_is_refused(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    headers = {**alice, "Idempotency-Key": "reused"}
    env.client.post("/v1/jobs", headers=headers, json=SPEC)
    before = env.counts()

    response = env.client.post("/v1/jobs", headers=headers, json=spec(search={"n_trials": 9}))

    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert env.counts() == before


def test_a_racing_duplicate_gets_the_first_job(
    env: ApiEnv, alice: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests with one key, both past the look-up: the unique constraint decides."""
    headers = {**alice, "Idempotency-Key": "raced"}
    first = env.client.post("/v1/jobs", headers=headers, json=SPEC).json()
    real = find_idempotent_job
    calls: list[object] = []

    def blind_first(*args: Any) -> Job | None:
        calls.append(args)
        return None if len(calls) == 1 else real(*args)  # the first look-up misses

    monkeypatch.setattr("service.jobs._submit.find_idempotent_job", blind_first)
    before = env.counts()

    second = env.client.post("/v1/jobs", headers=headers, json=SPEC)

    assert (second.status_code, second.json()["id"]) == (200, first["id"])
    assert env.counts() == before
    assert len(calls) == 2  # missed, then found after the constraint refused the insert


def test_a_body_that_is_not_json(env: ApiEnv, alice: dict[str, str]) -> None:
    response = env.client.post(
        "/v1/jobs", headers={**alice, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]


BAD_SPECS: list[tuple[str, Any, str, str]] = [
    ("unknown-field", {**SPEC, "colour": "red"}, "colour", "unknown field"),
    ("wrong-type", spec(budget={"max_macs": "lots"}), "budget.max_macs", "number"),
    ("unknown-zoo", spec(model={"zoo": "vgg99"}), "model.zoo", "vgg99"),
    (
        "factory-not-allowed",
        spec(model={"zoo": None, "factory": "os.path:join"}),
        "model.factory",
        "allowed",
    ),
    ("budget-unreachable", spec(budget={"max_macs": 0.001}), "budget.max_macs", "smallest"),
    ("unknown-weights", spec(model={"weights": "f" * 32}), "model.weights", "no artifact"),
    ("not-a-json-object", [1, 2], "", "dict"),
]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [case[1:] for case in BAD_SPECS],
    ids=[case[0] for case in BAD_SPECS],
)
def test_bad_spec_is_422_naming_the_field_and_stores_nothing(
    env: ApiEnv, alice: dict[str, str], body: Any, field: str, words: str
) -> None:
    before, calls = env.counts(), len(env.dispatcher.calls)

    response = env.client.post("/v1/jobs", headers=alice, json=body)

    assert response.status_code == 422, response.text
    assert (response.json()["field"] or "") == field
    assert words in response.json()["detail"]
    assert (env.counts(), len(env.dispatcher.calls)) == (before, calls)


def test_unreachable_budget_gives_the_smallest_figure(env: ApiEnv, alice: dict[str, str]) -> None:
    response = env.client.post("/v1/jobs", headers=alice, json=spec(budget={"max_macs": 0.001}))

    assert response.json()["smallest"] > 0
    assert str(int(response.json()["smallest"])) in response.json()["detail"]


def test_artifacts_of_others_or_of_the_wrong_kind_are_refused(
    env: ApiEnv, alice: dict[str, str], weights: str
) -> None:
    with env.session() as session:
        data = make_artifact(
            session, env.artifacts(), "alice", npz_bytes(), kind=ArtifactKind.DATA
        ).id
    before = env.counts()

    foreign = env.client.post(
        "/v1/jobs", headers=env.key("bob"), json=spec(model={"weights": weights})
    )
    wrong_kind = env.client.post("/v1/jobs", headers=alice, json=spec(model={"weights": data}))

    assert (foreign.status_code, foreign.json()["field"]) == (422, "model.weights")
    assert (wrong_kind.status_code, wrong_kind.json()["field"]) == (422, "model.weights")
    assert "data, not weights" in wrong_kind.json()["detail"]
    assert env.counts() == before


def test_a_broker_outage_at_submission_leaves_the_job_queued_for_the_sweeper(
    env: ApiEnv, alice: dict[str, str]
) -> None:
    env.dispatcher.fail_with = ConnectionError("broker down")
    try:
        response = env.client.post("/v1/jobs", headers=alice, json=SPEC)
    finally:
        env.dispatcher.fail_with = None

    # Accepted and stored: the sweeper queues a quiet queued job once the broker is back
    # (tests/workers: test_sweep_queues_the_right_task_for_every_quiet_job...).
    assert response.status_code == 202, response.text
    job = env.client.get(f"/v1/jobs/{response.json()['id']}", headers=alice).json()
    assert job["status"] == "queued" and job["error"] is None


def test_list_is_paginated_and_filtered_by_status(env: ApiEnv) -> None:
    headers = env.key("lister")
    with env.session() as session:
        for status in [JobStatus.QUEUED] * 3 + [JobStatus.RUNNING, JobStatus.SUCCEEDED]:
            make_job(session, "lister", status=status)

    first = env.client.get("/v1/jobs", headers=headers, params={"limit": 2}).json()
    rest = env.client.get("/v1/jobs", headers=headers, params={"limit": 2, "offset": 2}).json()
    queued = env.client.get("/v1/jobs", headers=headers, params={"status": "queued"}).json()

    assert (first["total"], len(first["items"]), len(rest["items"])) == (5, 2, 2)
    assert not {j["id"] for j in first["items"]} & {j["id"] for j in rest["items"]}
    assert queued["total"] == 3
    assert {job["status"] for job in queued["items"]} == {"queued"}
    bad = env.client.get("/v1/jobs", headers=headers, params={"status": "sleeping"})
    assert (bad.status_code, bad.json()["field"]) == (422, "status")


def test_job_shows_progress_and_timings(env: ApiEnv) -> None:
    headers = env.key("watcher")
    with env.session() as session:
        job = make_job(session, "watcher", status=JobStatus.RUNNING, trials_planned=10)
    store = SqlJobStore(env.database, env.artifacts())
    # The runner's estimate is what the API shows (it makes none of its own).
    store.record_progress(job.id, trials_done=4, trials_failed=1, best_score=0.9, eta_s=30.0)

    body = env.client.get(f"/v1/jobs/{job.id}", headers=headers).json()

    progress = body["progress"]
    assert (progress["trials_done"], progress["trials_planned"]) == (4, 10)
    assert progress["fraction"] == pytest.approx(0.4)
    assert progress["best_score"] == pytest.approx(0.9)
    assert progress["eta_s"] is not None and progress["eta_s"] >= 0
    assert body["timings"]["started_at"] is not None
    assert [e["to_status"] for e in body["events"]] == ["queued", "running"]
    assert progress["stage"] is None  # not reported yet


def test_progress_names_the_stage(env: ApiEnv) -> None:
    headers = env.key("stager")
    with env.session() as session:
        running = make_job(session, "stager", status=JobStatus.RUNNING, trials_planned=10)
        finalizing = make_job(session, "stager", status=JobStatus.FINALIZING)
    store = SqlJobStore(env.database, env.artifacts())
    store.record_progress(
        running.id, trials_done=10, trials_failed=0, best_score=0.9, eta_s=None, stage="rung-1"
    )
    # A report without a stage (an older worker) keeps the last one.
    store.record_progress(running.id, trials_done=10, trials_failed=0, best_score=0.9, eta_s=None)

    def stage(job_id: str) -> str | None:
        body = env.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        value: str | None = body["progress"]["stage"]
        return value

    assert stage(running.id) == "rung-1"
    assert stage(finalizing.id) == "final"
    store.fail(running.id, "stopped")
    assert stage(running.id) is None


def test_cancel(env: ApiEnv) -> None:
    headers = env.key("canceller")
    with env.session() as session:
        queued = make_job(session, "canceller")
        running = make_job(session, "canceller", status=JobStatus.RUNNING)
        done = make_job(session, "canceller", status=JobStatus.SUCCEEDED)

    cancelled = env.client.delete(f"/v1/jobs/{queued.id}", headers=headers)
    flagged = env.client.delete(f"/v1/jobs/{running.id}", headers=headers)
    too_late = env.client.delete(f"/v1/jobs/{done.id}", headers=headers)

    assert (cancelled.status_code, cancelled.json()["status"]) == (202, "cancelled")
    assert cancelled.json()["timings"]["finished_at"] is not None
    assert flagged.status_code == 202
    assert (flagged.json()["status"], flagged.json()["cancel_requested"]) == ("running", True)
    assert too_late.status_code == 409
    assert "succeeded" in too_late.json()["detail"]


def _succeed_with_bundle(env: ApiEnv, owner: str, folder: Path) -> Job:
    """A succeeded job with candidates, baselines and a stored bundle (no ONNX in it)."""
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(safetensors_bytes())
    (folder / "policy.json").write_text(json.dumps({"ratios": {"layers.0": 0.5}}))
    (folder / "report.json").write_text("{}")
    with env.session() as session:
        job = make_job(session, owner, status=JobStatus.FINALIZING, name="my job/1")
        add_candidates(
            session,
            [
                candidate_row(job.id, 0, kind="uniform", accuracy=0.80, feasible=True),
                candidate_row(job.id, 1, kind="global", accuracy=0.82, feasible=True),
                candidate_row(job.id, 2, accuracy=0.90, test_accuracy=0.89, feasible=True),
            ],
        )
    store = SqlJobStore(env.database, env.artifacts())
    store.record_reference(job.id, {"params": 4000, "macs": 8000})
    best = candidate_row(job.id, 2, accuracy=0.90, test_accuracy=0.89, feasible=True)
    best.pop("job_id")
    result = {"best": best, "gain_over_uniform": 0.10, "gain_over_global": 0.08}
    store.succeed(
        job.id, {**result, "onnx_error": "no onnx here"}, store.store_bundle(job.id, folder)
    )
    return job


def test_best_and_its_downloads(env: ApiEnv, tmp_path: Path) -> None:
    headers = env.key("winner")
    job = _succeed_with_bundle(env, "winner", tmp_path / "bundle")

    best = env.client.get(f"/v1/jobs/{job.id}/best", headers=headers).json()
    bundle = env.client.get(f"/v1/jobs/{job.id}/best/model", headers=headers)
    weights = env.client.get(
        f"/v1/jobs/{job.id}/best/model", headers=headers, params={"format": "safetensors"}
    )
    onnx = env.client.get(
        f"/v1/jobs/{job.id}/best/model", headers=headers, params={"format": "onnx"}
    )

    assert best["final"] is True
    assert (best["candidate"]["number"], best["candidate"]["score"]) == (2, 0.90)
    assert best["gain_over_uniform"] == pytest.approx(0.10)
    assert best["baselines"]["uniform"]["accuracy"] == pytest.approx(0.80)
    assert best["params_ratio"] == pytest.approx(best["candidate"]["params"] / 4000)
    assert best["formats"] == ["bundle", "safetensors"]
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert sorted(names) == ["model.safetensors", "policy.json", "report.json"]
    assert weights.content == (tmp_path / "bundle" / "model.safetensors").read_bytes()
    assert "attachment" in weights.headers["content-disposition"]
    assert onnx.status_code == 404
    assert "model.onnx" in onnx.json()["detail"] and "no onnx here" in onnx.json()["detail"]


def test_a_candidates_download_is_the_best_bundle_or_a_409_saying_why(
    env: ApiEnv, tmp_path: Path
) -> None:
    headers = env.key("picker")
    job = _succeed_with_bundle(env, "picker", tmp_path / "bundle")
    with env.session() as session:
        running = make_job(session, "picker", status=JobStatus.RUNNING)
        add_candidates(session, [candidate_row(running.id, 0, feasible=True)])
    base = f"/v1/jobs/{job.id}"

    best = env.client.get(f"{base}/candidates/2/model", headers=headers)
    weights = env.client.get(
        f"{base}/candidates/2/model", headers=headers, params={"format": "safetensors"}
    )
    other = env.client.get(f"{base}/candidates/1/model", headers=headers)
    unknown = env.client.get(f"{base}/candidates/99/model", headers=headers)
    early = env.client.get(f"/v1/jobs/{running.id}/candidates/0/model", headers=headers)
    details = {n: env.client.get(f"{base}/candidates/{n}", headers=headers) for n in (1, 2)}

    assert best.status_code == 200
    assert best.content == env.client.get(f"{base}/best/model", headers=headers).content
    assert weights.content == (tmp_path / "bundle" / "model.safetensors").read_bytes()
    assert other.status_code == 409
    reason = other.json()["detail"]
    assert "only the chosen model's weights are kept" in reason
    assert "candidate #1" in reason and "#2" in reason and f"{base}/best/model" in reason
    assert unknown.status_code == 404
    assert early.status_code == 409 and "once the job succeeds" in early.json()["detail"]
    # the candidate's read says the same, so a page can show it without asking for a 409
    assert details[1].status_code == 200, details[1].text
    assert (details[1].json()["model_url"], details[1].json()["no_model_reason"]) == (None, reason)
    assert details[2].json()["model_url"] == f"{base}/candidates/2/model"
    assert details[2].json()["no_model_reason"] is None


def _succeed_with_result(env: ApiEnv, owner: str, best_number: int) -> Job:
    """A succeeded job whose result holds every gain (validation and test) and whose
    finalists carry paired margins; the best is candidate ``best_number``."""
    rows = [
        candidate_row("", 0, kind="uniform", accuracy=0.80, test_accuracy=0.81, feasible=True),
        candidate_row("", 1, kind="global", accuracy=0.82, test_accuracy=0.80, feasible=True),
        candidate_row(
            "",
            2,
            kind="sensitivity",
            accuracy=0.85,
            test_accuracy=0.84,
            feasible=True,
            margin=0.0,
            margin_se=0.0,
        ),
        candidate_row(
            "", 3, accuracy=0.90, test_accuracy=0.89, feasible=True, margin=0.05, margin_se=0.01
        ),
    ]
    with env.session() as session:
        job = make_job(session, owner, status=JobStatus.FINALIZING)
        add_candidates(session, [{**row, "job_id": job.id} for row in rows])
    best = {k: v for k, v in rows[best_number].items() if k != "job_id"}
    gains = {"uniform": 0, "global": 1, "sensitivity": 2}
    result: dict[str, Any] = {"best": best}
    for kind, number in gains.items():
        for split, field in (("", "accuracy"), ("test_", "test_accuracy")):
            result[f"{split}gain_over_{kind}"] = best[field] - rows[number][field]
    SqlJobStore(env.database, env.artifacts()).succeed(job.id, result, None)
    return job


def test_best_reports_every_gain_on_both_splits_and_the_paired_margin(env: ApiEnv) -> None:
    headers = env.key("honest")
    job = _succeed_with_result(env, "honest", best_number=3)

    best = env.client.get(f"/v1/jobs/{job.id}/best", headers=headers).json()

    assert best["candidate"]["number"] == 3
    assert best["gain_over_global"] == pytest.approx(0.08)
    assert best["test_gain_over_uniform"] == pytest.approx(0.08)
    assert best["test_gain_over_global"] == pytest.approx(0.09)
    assert best["test_gain_over_sensitivity"] == pytest.approx(0.05)
    assert (best["margin"], best["margin_se"]) == (pytest.approx(0.05), pytest.approx(0.01))
    assert best["margin_ci95"] == [pytest.approx(0.05 - 0.0196), pytest.approx(0.05 + 0.0196)]


def test_a_baseline_as_best_has_no_margin(env: ApiEnv) -> None:
    headers = env.key("humble")
    job = _succeed_with_result(env, "humble", best_number=2)

    best = env.client.get(f"/v1/jobs/{job.id}/best", headers=headers).json()

    assert best["candidate"]["kind"] == "sensitivity"
    assert best["test_gain_over_sensitivity"] == 0.0
    assert (best["margin"], best["margin_se"], best["margin_ci95"]) == (None, None, None)


def test_best_before_there_is_one(env: ApiEnv) -> None:
    headers = env.key("early")
    with env.session() as session:
        empty = make_job(session, "early", status=JobStatus.RUNNING)
        going = make_job(session, "early", status=JobStatus.RUNNING)
        add_candidates(session, [candidate_row(going.id, n, feasible=True) for n in range(5)])

    none_yet = env.client.get(f"/v1/jobs/{empty.id}/best", headers=headers)
    so_far = env.client.get(f"/v1/jobs/{going.id}/best", headers=headers).json()
    model = env.client.get(f"/v1/jobs/{going.id}/best/model", headers=headers)

    assert none_yet.status_code == 404
    assert "no feasible candidate yet" in none_yet.json()["detail"]
    assert (so_far["final"], so_far["formats"]) == (False, [])
    assert model.status_code == 404
    assert "no best model yet" in model.json()["detail"]
    bad = env.client.get(
        f"/v1/jobs/{going.id}/best/model", headers=headers, params={"format": "pickle"}
    )
    assert (bad.status_code, bad.json()["field"]) == (422, "format")


def test_another_owner_gets_404_everywhere(env: ApiEnv, tmp_path: Path) -> None:
    owner = env.key("owner")
    job = _succeed_with_bundle(env, "owner", tmp_path / "bundle")
    mallory = env.key("mallory")

    paths = ["", "/leaderboard", "/best", "/best/model", "/best/model?format=safetensors"]
    for path in paths:
        assert env.client.get(f"/v1/jobs/{job.id}{path}", headers=owner).status_code == 200
        response = env.client.get(f"/v1/jobs/{job.id}{path}", headers=mallory)
        assert response.status_code == 404, path
        assert response.json()["detail"] == f"no job {job.id!r}"
    assert env.client.delete(f"/v1/jobs/{job.id}", headers=mallory).status_code == 404
    mine = env.client.get("/v1/jobs", headers=mallory).json()
    assert mine["total"] == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [(b"{nope", "application/json"), (b"x" * (1 << 20), "application/json"), (b"{}", "text/plain")],
    ids=["not-json", "too-large", "not-declared-json"],
)
def test_a_body_refused_while_read_answers_401_to_a_caller_without_a_key(
    env: ApiEnv, content: bytes, content_type: str
) -> None:
    response = env.client.post("/v1/jobs", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 401, response.text


def test_a_spec_without_a_content_type_is_read_as_json(env: ApiEnv, alice: dict[str, str]) -> None:
    response = env.client.post(
        "/v1/jobs", headers=alice, content=json.dumps({**SPEC, "name": "bare"})
    )
    assert "content-type" not in response.request.headers
    assert response.status_code == 202, response.text
