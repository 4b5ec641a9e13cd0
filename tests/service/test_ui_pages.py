"""The web page's server side: pages and static files, the sign-in cookie, auth off.

What the scripts do in a browser is tests/service/test_ui_browser.py's business; here the
routes are checked over HTTP (TestClient), on SQLite (nothing here depends on the database
kind beyond the key lookup, which tests/service/test_auth_keys.py runs on both).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.auth import SESSION_COOKIE
from service.models import Job, JobStatus
from service.ui._pages import STATIC_DIR
from tests.service.factories import ApiEnv, api_env, make_job

PAGES = {"/ui": "/ui/static/js/jobs.js", "/ui/jobs/0123abcd": "/ui/static/js/job.js"}
# Ways a page, script or style could make the browser fetch something from elsewhere.
_LOADS_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:\b(?:import|fetch|Worker|importScripts)\s*\(\s*["'`]\s*(?:https?:)?//)"""
    r"""|(?:\bfrom\s+["'`](?:https?:)?//)""",
    re.IGNORECASE,
)
_SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("ui-pages")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store") as env:
        yield env


def _fresh(env: ApiEnv, *, base_url: str = "http://testserver") -> TestClient:
    """A client with an empty cookie jar on the module's (already started) app."""
    return TestClient(env.client.app, base_url=base_url)


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _set_cookie(response_headers: list[str]) -> SimpleCookie:
    cookie: SimpleCookie = SimpleCookie()
    for header in response_headers:
        cookie.load(header)
    return cookie


def _static_files() -> list[Path]:
    return sorted(path for path in STATIC_DIR.rglob("*") if path.is_file())


# -- pages and static files --


@pytest.mark.parametrize(("path", "script"), PAGES.items())
def test_pages_are_html_shells_served_without_a_key(env: ApiEnv, path: str, script: str) -> None:
    # The page itself holds no data: it loads with auth on and no key, then asks the API.
    response = _fresh(env).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert f'src="{script}"' in response.text
    assert 'id="signin-form"' in response.text
    assert 'href="/ui/static/css/app.css"' in response.text


def test_every_file_a_page_references_is_served_with_its_type(env: ApiEnv) -> None:
    client = _fresh(env)
    expected = {".js": "javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    seen = set()
    for path in PAGES:
        for url in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', client.get(path).text):
            seen.add(url)
            response = client.get(url)
            assert response.status_code == 200, url
            assert expected[Path(url).suffix] in response.headers["content-type"], url
            assert client.head(url).status_code == 200
    assert "/ui/static/vendor/chart.umd.min.js" in seen
    assert {"/ui/static/js/jobs.js", "/ui/static/js/job.js"} <= seen


def test_scripts_import_only_files_that_exist() -> None:
    for script in (STATIC_DIR / "js").glob("*.js"):
        for target in re.findall(r'from\s+"(\./[^"]+)"', script.read_text()):
            assert (script.parent / target).is_file(), f"{script.name} imports {target}"


def test_static_files_outside_the_folder_or_missing_are_404(env: ApiEnv) -> None:
    client = _fresh(env)
    assert client.get("/ui/static/nope.js").status_code == 404
    assert client.get("/ui/static/%2e%2e/_pages.py").status_code == 404
    assert client.get("/ui/static/..%2f_pages.py").status_code == 404


def test_nothing_shipped_loads_from_another_site() -> None:
    files = [path for path in _static_files() if path.suffix in {".html", ".js", ".css", ".svg"}]
    assert len(files) >= 6
    for path in files:
        text = path.read_text(encoding="utf-8")
        match = _LOADS_EXTERNAL.search(text)
        assert match is None, f"{path.relative_to(STATIC_DIR)} loads {match.group(0)!r}"
        if "vendor" not in path.parts:
            # Our own files name no address at all (the SVG namespace is a name, not a load).
            urls = set(re.findall(r"https?://[^\s\"'<>)]+", text)) - {_SVG_NAMESPACE}
            assert not urls, f"{path.relative_to(STATIC_DIR)} names {sorted(urls)}"


def test_the_vendored_chart_library_has_its_licence_and_version() -> None:
    vendor = STATIC_DIR / "vendor"
    assert (vendor / "chart.js-LICENSE.md").read_text().startswith("The MIT License")
    banner = (vendor / "chart.umd.min.js").read_text()[:200]
    version = re.search(r"Chart\.js v(\d+\.\d+\.\d+)", banner)
    assert version is not None and version.group(1).startswith("4.")
    assert f"Chart.js {version.group(1)}" in (vendor / "README.md").read_text()


# -- the session cookie --


def test_sign_in_sets_an_http_only_strict_cookie(env: ApiEnv) -> None:
    token = _token(env.key("alice"))
    response = _fresh(env).post("/ui/session", json={"api_key": f"  {token} "})
    assert response.status_code == 200
    assert response.json() == {"owner": "alice", "auth": True}
    morsel = _set_cookie(response.headers.get_list("set-cookie"))[SESSION_COOKIE]
    assert morsel.value == token
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/"
    assert not morsel["secure"]  # plain http: a Secure cookie would never come back


def test_sign_in_over_https_marks_the_cookie_secure(env: ApiEnv) -> None:
    token = _token(env.key("alice"))
    client = _fresh(env, base_url="https://testserver")
    response = client.post("/ui/session", json={"api_key": token})
    assert response.status_code == 200
    assert _set_cookie(response.headers.get_list("set-cookie"))[SESSION_COOKIE]["secure"] is True


@pytest.mark.parametrize("key", ["ps_not-a-real-key", "nonsense"])
def test_a_bad_key_is_401_with_a_message_and_no_cookie(env: ApiEnv, key: str) -> None:
    response = _fresh(env).post("/ui/session", json={"api_key": key})
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid or revoked API key"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    ("body", "field"), [({}, "api_key"), ({"api_key": ""}, "api_key"), ({"key": "x"}, "key")]
)
def test_a_malformed_sign_in_is_422_naming_the_field(
    env: ApiEnv, body: dict[str, str], field: str
) -> None:
    response = _fresh(env).post("/ui/session", json=body)
    assert response.status_code == 422
    assert response.json()["field"].endswith(field)


def test_the_cookie_authenticates_reads_but_not_changes(env: ApiEnv) -> None:
    headers = env.key("carol")
    with env.session() as session:
        job = make_job(session, "carol", status=JobStatus.RUNNING)
    client = _fresh(env)
    assert client.post("/ui/session", json={"api_key": _token(headers)}).status_code == 200
    assert client.get("/ui/session").json() == {"owner": "carol", "auth": True}
    listed = client.get("/v1/jobs")
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [job.id]
    assert client.get(f"/v1/jobs/{job.id}/leaderboard").status_code == 200

    cancel = client.delete(f"/v1/jobs/{job.id}")
    assert cancel.status_code == 401
    assert "only authenticates reads" in cancel.json()["detail"]
    assert client.post("/v1/jobs", json={}).status_code == 401
    with env.session() as session:
        stored = session.get(Job, job.id)
        assert stored is not None and stored.cancel_requested is False  # nothing changed
    # The same request with the bearer header goes through.
    assert client.delete(f"/v1/jobs/{job.id}", headers=headers).status_code == 202


def test_sign_out_clears_the_cookie(env: ApiEnv) -> None:
    client = _fresh(env)
    client.post("/ui/session", json={"api_key": _token(env.key("dave"))})
    assert client.get("/v1/jobs").status_code == 200
    response = client.delete("/ui/session")
    assert response.status_code == 204
    morsel = _set_cookie(response.headers.get_list("set-cookie"))[SESSION_COOKIE]
    assert morsel.value == ""
    assert morsel["max-age"] == "0"
    assert morsel["path"] == "/"
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/v1/jobs").status_code == 401
    assert client.get("/ui/session").status_code == 401


def test_without_a_cookie_the_session_is_401(env: ApiEnv) -> None:
    response = _fresh(env).get("/ui/session")
    assert response.status_code == 401
    assert "missing API key" in response.json()["detail"]


# -- auth off (an embedded run on loopback) --


def test_pages_and_api_work_with_auth_off(tmp_path: Path) -> None:
    with api_env(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "store", auth=False) as env:
        with env.session() as session:
            job = make_job(session, "local")
        client = env.client
        assert client.get("/ui").status_code == 200
        assert client.get(f"/ui/jobs/{job.id}").status_code == 200
        assert client.get("/ui/static/js/job.js").status_code == 200
        assert client.get("/ui/session").json() == {"owner": "local", "auth": False}
        response = client.post("/ui/session", json={"api_key": "anything"})
        assert response.json() == {"owner": "local", "auth": False}
        assert "set-cookie" not in response.headers
        assert [item["id"] for item in client.get("/v1/jobs").json()["items"]] == [job.id]
