"""The job's optuna-dashboard at /ui/jobs/{id}/dashboard/: auth, one study, read-only.

The job's study is a real Optuna study in the test database (SQLite and PostgreSQL), next
to the study of another job of the same owner, which must stay out of reach.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import InMemoryStorage, RDBStorage

from service.api.deps import LOCAL_OWNER
from service.auth import SESSION_COOKIE
from service.exceptions import NotFound
from service.models import JobStatus
from service.ui._dashboard import (
    OneStudyView,
    ReadOnlyError,
    _cache,
    route,
)
from tests.service.factories import ApiEnv, api_env, make_job, postgres_database

N_TRIALS = 4
_META_READ = "document.querySelector('meta[name=\"prunesearch-dashboard-base\"]').content"

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("keep", 0.1, 1.0) ** 2


def _add_study(url: str, name: str, n_trials: int) -> tuple[int, list[int]]:
    """A study named ``name`` at ``url`` with ``n_trials`` finished trials: its id and its
    trials' ids."""
    storage = RDBStorage(url)
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
        study.optimize(_objective, n_trials=n_trials)
        return study._study_id, [trial._trial_id for trial in study.trials]
    finally:
        storage.engine.dispose()


@dataclass
class Board:
    env: ApiEnv
    url: str
    job_id: str
    study_name: str
    study_id: int
    trial_ids: list[int]
    other_study_id: int
    other_trial_ids: list[int]
    queued_job_id: str
    token: str  # an API key of alice, the jobs' owner

    def base(self, job_id: str | None = None) -> str:
        return f"/ui/jobs/{job_id or self.job_id}/dashboard"

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.token}"}

    def get(self, path: str, headers: dict[str, str] | None = None, **options: Any) -> Any:
        return self.env.client.get(self.base() + path, headers=headers, **options)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def board(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Board]:
    root = tmp_path_factory.mktemp("dashboard")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{root / 'db.sqlite'}"
        else:
            url = stack.enter_context(postgres_database())
        env = stack.enter_context(api_env(url, root / "store"))
        with env.session() as session:
            job = make_job(session, "alice", status=JobStatus.RUNNING)
            other = make_job(session, "alice", status=JobStatus.RUNNING)
            queued = make_job(session, "alice")
            ids = job.id, job.study_name, other.study_name, queued.id
        study_id, trial_ids = _add_study(url, ids[1], N_TRIALS)
        other_study_id, other_trial_ids = _add_study(url, ids[2], 2)
        token = env.key("alice")["Authorization"].removeprefix("Bearer ")
        yield Board(
            env,
            url,
            ids[0],
            ids[1],
            study_id,
            trial_ids,
            other_study_id,
            other_trial_ids,
            ids[3],
            token,
        )


def _external_urls(page: str) -> list[str]:
    """What the page would load from another origin (scripts, styles, images, frames)."""
    return re.findall(r"""(?:src|href)\s*=\s*["']((?:https?:)?//[^"']*)""", page)


# -- the owner sees the dashboard --


@pytest.mark.parametrize("path", ["/", "", "/studies/{sid}/trials", "/compare-studies"])
def test_owner_with_bearer_gets_the_page_pointed_at_the_mount(board: Board, path: str) -> None:
    response = board.get(path.format(sid=board.study_id), board.bearer)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    base = board.base()
    assert f'<meta name="prunesearch-dashboard-base" content="{base}" />' in page
    assert f'<script defer src="{base}/static/bundle.js"></script>' in page
    assert 'src="/static/' not in page
    assert _external_urls(page) == []
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy


def test_owner_with_the_session_cookie_gets_the_page_and_the_study(board: Board) -> None:
    assert board.get("/", board.cookie).status_code == 200
    studies = board.get("/api/studies", board.cookie).json()["study_summaries"]
    assert [study["study_name"] for study in studies] == [board.study_name]


def test_study_list_shows_the_jobs_study_alone(board: Board) -> None:
    response = board.get("/api/studies", board.bearer)
    assert response.status_code == 200
    studies = response.json()["study_summaries"]
    assert len(studies) == 1
    assert studies[0]["study_id"] == board.study_id
    assert studies[0]["study_name"] == board.study_name


def test_study_detail_csv_and_importances_read_the_jobs_trials(board: Board) -> None:
    detail = board.get(f"/api/studies/{board.study_id}", board.bearer)
    assert detail.status_code == 200
    assert len(detail.json()["trials"]) == N_TRIALS
    assert detail.json()["name"] == board.study_name
    csv = board.get(f"/csv/{board.study_id}", board.bearer)
    assert csv.status_code == 200
    assert len(csv.text.strip().splitlines()) == N_TRIALS + 1  # a header, then the trials
    importances = board.get(f"/api/studies/{board.study_id}/param_importances", board.bearer)
    assert importances.status_code == 200
    assert importances.json()["param_importances"][0][0]["name"] == "keep"


def test_meta_says_no_artifacts_and_no_llm(board: Board) -> None:
    meta = board.get("/api/meta", board.bearer).json()
    assert meta["artifact_is_available"] is False
    assert meta["llm_is_available"] is False


def test_head_answers_like_get(board: Board) -> None:
    response = board.env.client.head(board.base() + "/", headers=board.bearer)
    assert response.status_code == 200


# -- the page's script --


def test_bundle_is_served_with_its_paths_under_the_mount(board: Board) -> None:
    response = board.get("/static/bundle.js", board.bearer)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["content-encoding"] == "gzip"  # httpx asked for it
    script = response.text
    assert len(script) > 1_000_000  # the whole dashboard, from the installed wheel
    assert f"url_prefix:{_META_READ}" in script
    assert f"this.baseURL={_META_READ}+" in script
    assert 'url_prefix:"/dashboard"' not in script
    assert "`/csv/" not in script
    again = board.get(
        "/static/bundle.js", {**board.bearer, "If-None-Match": response.headers["etag"]}
    )
    assert again.status_code == 304


def test_bundle_renders_no_create_rename_or_delete_study_button(board: Board) -> None:
    script = board.get("/static/bundle.js", board.bearer).text
    for label in ("rename study", "delete study"):
        assert f'!1&&(0,r.jsx)(xu,{{"aria-label":"{label}"' in script
    assert '!1&&(0,r.jsx)(PT,{variant:"outlined",startIcon:(0,r.jsx)(N$,{}),' in script


def test_the_page_links_back_to_the_job_page(board: Board) -> None:
    page = board.get("/", board.bearer).text
    assert f'<a href="/ui/jobs/{board.job_id}" data-testid="back-to-job"' in page


def test_a_signed_out_browser_gets_a_page_leading_to_the_sign_in(board: Board) -> None:
    for path in ("/", f"/studies/{board.study_id}"):
        response = board.get(path, {"Accept": "text/html,application/xhtml+xml"})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("text/html")
        assert f'href="/ui/jobs/{board.job_id}"' in response.text
        assert "missing API key" in response.text
    # The dashboard's own data calls keep the API's JSON answer.
    data = board.get("/api/studies", {"Accept": "text/html,application/json"})
    assert data.status_code == 401
    assert "missing API key" in data.json()["detail"]


def test_bundle_uncompressed_when_not_asked(board: Board) -> None:
    response = board.get("/static/bundle.js", {**board.bearer, "Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert f"url_prefix:{_META_READ}" in response.text


def test_bundle_license_file_passes_through(board: Board) -> None:
    response = board.get("/static/bundle.js.LICENSE.txt", board.bearer)
    assert response.status_code == 200
    assert "license" in response.text.lower()


# -- no one else --


@pytest.mark.parametrize("path", ["/", "/api/studies", "/api/studies/{sid}", "/static/bundle.js"])
def test_another_owner_gets_the_apis_404(board: Board, path: str) -> None:
    bob = board.env.key("bob")
    response = board.get(path.format(sid=board.study_id), bob)
    assert response.status_code == 404
    assert response.json() == board.env.client.get(f"/v1/jobs/{board.job_id}", headers=bob).json()


def test_unknown_job_is_404(board: Board) -> None:
    response = board.env.client.get(
        "/ui/jobs/nosuchjob/dashboard/api/studies", headers=board.bearer
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "no job 'nosuchjob'", "field": None}


@pytest.mark.parametrize("path", ["/", "/api/studies", "/api/studies/{sid}", "/static/bundle.js"])
def test_no_key_is_401(board: Board, path: str) -> None:
    response = board.get(path.format(sid=board.study_id))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "missing API key" in response.json()["detail"]


def test_revoked_or_unknown_key_is_401(board: Board) -> None:
    response = board.get("/api/studies", {"Authorization": "Bearer ps_not-a-key"})
    assert response.status_code == 401
    response = board.get("/api/studies", {"Cookie": f"{SESSION_COOKIE}=ps_not-a-key"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/studies/{other}",
        "/api/studies/{other}/param_importances",
        "/api/studies/{other}/plot/slice",
        "/csv/{other}",
        "/studies/{other}",
        "/studies/{other}/trials",
        "/api/studies/999999",
    ],
)
def test_another_study_id_is_404(board: Board, path: str) -> None:
    response = board.get(path.format(other=board.other_study_id), board.bearer)
    assert response.status_code == 404
    assert "is not this job's study" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/artifacts/{sid}/abc",
        "/artifacts/{sid}/abc",
        "/incompatible-rdb-schema",
        "/api/llm/trial_filter_query",
        "/api/trials/{tid}/tell",
        "/dashboard",
        "/static/index.html",
    ],
)
def test_routes_outside_the_read_only_dashboard_are_404(board: Board, path: str) -> None:
    path = path.format(sid=board.study_id, tid=board.trial_ids[0])
    response = board.get(path, board.bearer)
    assert response.status_code == 404
    assert "is not a page or read route" in response.json()["detail"]


# -- read-only --


def _storage_state(url: str) -> dict[str, Any]:
    storage = RDBStorage(url)
    try:
        studies = {study.study_name: study for study in storage.get_all_studies()}
        return {
            name: (
                study.system_attrs,
                study.user_attrs,
                [
                    (trial.state, trial.values, trial.user_attrs)
                    for trial in storage.get_all_trials(study._study_id)
                ],
            )
            for name, study in studies.items()
        }
    finally:
        storage.engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/studies", {"study_name": "new", "directions": ["minimize"]}),
        ("POST", "/api/studies/{sid}/rename", {"study_name": "renamed"}),
        ("DELETE", "/api/studies/{sid}", {}),
        ("DELETE", "/api/studies/{other}", {}),
        ("PUT", "/api/studies/{sid}/note", {"version": 1, "body": "hello"}),
        ("PUT", "/api/studies/{sid}/{tid}/note", {"version": 1, "body": "hello"}),
        ("POST", "/api/trials/{tid}/tell", {"state": "Complete", "values": [1.0]}),
        ("POST", "/api/trials/{tid}/user-attrs", {"user_attrs": {"a": 1}}),
        ("POST", "/incompatible-rdb-schema", {}),
        ("PATCH", "/api/studies/{sid}", {}),
    ],
)
def test_writes_are_refused_and_change_nothing(
    board: Board, method: str, path: str, body: dict[str, Any]
) -> None:
    before = _storage_state(board.url)
    path = path.format(sid=board.study_id, other=board.other_study_id, tid=board.trial_ids[0])
    for headers in (board.bearer, board.cookie):
        response = board.env.client.request(method, board.base() + path, json=body, headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD"
        assert "read-only" in response.json()["detail"]
        assert response.json()["reason"] == response.json()["detail"]  # the dashboard shows it
    assert _storage_state(board.url) == before


# -- a study not created yet --


def test_queued_job_without_its_study_is_404_with_a_message(board: Board) -> None:
    url = board.base(board.queued_job_id) + "/api/studies"
    response = board.env.client.get(url, headers=board.bearer)
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail.startswith("the job's study does not exist yet")
    assert "queued" in detail


def test_database_without_optuna_tables_is_404_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with api_env(url, tmp_path / "store") as env:
        with env.session() as session:
            job_id = make_job(session, "alice").id
        response = env.client.get(f"/ui/jobs/{job_id}/dashboard/", headers=env.key("alice"))
        assert response.status_code == 404
        assert response.json()["detail"].startswith("the job's study does not exist yet")


# -- auth off --


def test_auth_off_serves_the_local_owners_job(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with api_env(url, tmp_path / "store", auth=False) as env:
        with env.session() as session:
            job = make_job(session, LOCAL_OWNER, status=JobStatus.RUNNING)
            job_id, name = job.id, job.study_name
        study_id, _ = _add_study(url, name, 2)
        _add_study(url, "not-a-jobs-study", 1)
        base = f"/ui/jobs/{job_id}/dashboard"
        assert env.client.get(base + "/").status_code == 200
        studies = env.client.get(base + "/api/studies").json()["study_summaries"]
        assert [study["study_id"] for study in studies] == [study_id]
        assert env.client.post(base + "/api/studies", json={}).status_code == 405


# -- the pieces --


@pytest.fixture
def two_studies() -> tuple[InMemoryStorage, optuna.Study, optuna.Study]:
    storage = InMemoryStorage()
    mine = optuna.create_study(storage=storage, study_name="mine", direction="maximize")
    mine.optimize(_objective, n_trials=3)
    theirs = optuna.create_study(storage=storage, study_name="theirs")
    theirs.optimize(_objective, n_trials=2)
    return storage, mine, theirs


def test_view_shows_one_study_and_reads_it(
    two_studies: tuple[InMemoryStorage, optuna.Study, optuna.Study],
) -> None:
    storage, mine, _ = two_studies
    view = OneStudyView(storage, mine._study_id, "mine")
    assert [study.study_name for study in view.get_all_studies()] == ["mine"]
    assert view.get_study_id_from_name("mine") == mine._study_id
    loaded = optuna.load_study(study_name="mine", storage=view)
    assert len(loaded.trials) == 3
    assert loaded.best_trial.number == mine.best_trial.number
    assert view.get_trial(mine.trials[0]._trial_id).number == 0


def test_view_knows_no_other_study_or_its_trials(
    two_studies: tuple[InMemoryStorage, optuna.Study, optuna.Study],
) -> None:
    storage, mine, theirs = two_studies
    view = OneStudyView(storage, mine._study_id, "mine")
    with pytest.raises(KeyError):
        view.get_study_id_from_name("theirs")
    for read in (
        view.get_study_name_from_id,
        view.get_study_directions,
        view.get_study_system_attrs,
        view.get_all_trials,
        view.get_best_trial,
    ):
        with pytest.raises(KeyError):
            read(theirs._study_id)
    with pytest.raises(KeyError):
        view.get_trial(theirs.trials[1]._trial_id)
    with pytest.raises(KeyError):
        view.get_trial_id_from_study_id_trial_number(theirs._study_id, 0)


def test_view_refuses_every_write(
    two_studies: tuple[InMemoryStorage, optuna.Study, optuna.Study],
) -> None:
    storage, mine, _ = two_studies
    view = OneStudyView(storage, mine._study_id, "mine")
    trial_id = mine.trials[0]._trial_id
    writes: list[Callable[[], object]] = [
        lambda: view.create_new_study([optuna.study.StudyDirection.MINIMIZE], "x"),
        lambda: view.delete_study(mine._study_id),
        lambda: view.set_study_user_attr(mine._study_id, "k", 1),
        lambda: view.set_study_system_attr(mine._study_id, "k", 1),
        lambda: view.create_new_trial(mine._study_id),
        lambda: view.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL),
        lambda: view.set_trial_intermediate_value(trial_id, 0, 1.0),
        lambda: view.set_trial_user_attr(trial_id, "k", 1),
        lambda: view.set_trial_system_attr(trial_id, "k", 1),
    ]
    for write in writes:
        with pytest.raises(ReadOnlyError):
            write()
    with pytest.raises(ReadOnlyError):
        optuna.load_study(study_name="mine", storage=view).optimize(_objective, n_trials=1)
    assert len(storage.get_all_studies()) == 2
    assert len(storage.get_all_trials(mine._study_id)) == 3


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("", "page"),
        ("/", "page"),
        ("studies/7", "page"),
        ("studies/7/trialTable", "page"),
        ("studies/7/preference-history/", "page"),
        ("compare-studies", "page"),
        ("static/bundle.js", "script"),
        ("api/meta", "app"),
        ("api/studies", "app"),
        ("api/studies/7", "app"),
        ("api/studies/7/plot/parallel_coordinate", "app"),
        ("csv/7", "app"),
    ],
)
def test_route_table(path: str, target: str) -> None:
    assert route(path, 7) == target


@pytest.mark.parametrize(
    "path",
    ["studies/8", "api/studies/8", "csv/8", "api/studies/7/note", "api/studies/7/../8", "x"],
)
def test_route_table_refuses(path: str) -> None:
    with pytest.raises(NotFound):
        route(path, 7)


def test_dashboards_are_cached_with_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    def app(environ: Any, start_response: Any) -> list[bytes]:
        return []

    def build(storage: Any, study_name: str) -> Any:
        built.append(study_name)
        return _cache.Dashboard(study_id=len(built), app=app)

    monkeypatch.setattr(_cache, "_build", build)
    cache = _cache.Dashboards(size=2)
    storage = InMemoryStorage()
    first = cache.get(storage, ("", "a"))
    assert cache.get(storage, ("", "a")) is first
    cache.get(storage, ("", "b"))
    cache.get(storage, ("", "c"))  # "a" is the oldest: dropped
    assert len(cache) == 2
    assert cache.get(storage, ("", "a")) is not first
    assert built == ["a", "b", "c", "a"]


def test_importances_of_same_numbered_studies_in_two_storages_stay_apart(
    tmp_path: Path,
) -> None:
    # optuna-dashboard caches importances per process by study id alone; each database here
    # has its study at the same id, with its own parameter names.
    def one(name: str, param: str) -> tuple[ExitStack, ApiEnv, str, int]:
        stack = ExitStack()
        url = f"sqlite:///{tmp_path / name}.sqlite"
        env = stack.enter_context(api_env(url, tmp_path / f"{name}-store"))
        with env.session() as session:
            job = make_job(session, "alice", status=JobStatus.RUNNING)
            job_id, study_name = job.id, job.study_name
        storage = RDBStorage(url)
        study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
        study.optimize(
            lambda t: t.suggest_float(param, 0.0, 1.0) + 0.1 * t.suggest_float("x", 0.0, 1.0),
            n_trials=N_TRIALS,
        )
        storage.engine.dispose()
        return stack, env, job_id, study._study_id

    first, second = one("first", "alpha"), one("second", "beta")
    try:
        assert first[3] == second[3]
        for (_, env, job_id, study_id), param in ((first, "alpha"), (second, "beta")):
            response = env.client.get(
                f"/ui/jobs/{job_id}/dashboard/api/studies/{study_id}/param_importances",
                headers=env.key("alice"),
            )
            assert response.status_code == 200, response.text
            names = {p["name"] for p in response.json()["param_importances"][0]}
            assert names == {param, "x"}
    finally:
        first[0].close()
        second[0].close()
