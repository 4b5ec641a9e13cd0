"""The job page's export buttons, spec, events and actions, and the comparison page, in
headless Chromium.

Same set-up as test_ui_browser.py (live server, embedded execution, SQLite, auth on): a job
with 10,000 candidates written straight into the database for the export, and two tiny
real searches for the comparison.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from service.client import Client
from service.db import Database
from service.models import JobStatus
from tests.service.browser import CONTRAST_JS, WAIT_MS, artifacts_dir, require_browser
from tests.service.factories import LiveApi, add_candidates, candidate_row, live_api, make_job
from tests.service.test_ui_browser import TINY_SPEC

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

OWNER = "comparer"
BIG = 10_000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    require_browser()
    with live_api(tmp_path_factory.mktemp("ui-export"), owner=OWNER) as server:
        yield server


@pytest.fixture(scope="module")
def big_job(live: LiveApi) -> str:
    database = Database(live.database_url)
    try:
        with database.sessions() as session:
            job = make_job(session, OWNER, status=JobStatus.SUCCEEDED, name="ten-thousand")
            kinds = {0: "uniform", 1: "global"}
            rows = [candidate_row(job.id, n, kind=kinds.get(n, "search")) for n in range(BIG)]
            add_candidates(session, rows)
            return job.id
    finally:
        database.dispose()


@pytest.fixture
def page(browser: Browser, live: LiveApi) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.request.post(f"{live.url}/ui/session", data={"api_key": live.token})
    assert response.ok
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def _ranked(live: LiveApi, job_id: str, **params: object) -> list[int]:
    numbers: list[int] = []
    while True:
        body = live.get(f"/v1/jobs/{job_id}/leaderboard", limit=1000, offset=len(numbers), **params)
        numbers += [item["number"] for item in body["items"]]
        if len(numbers) >= body["total"]:
            return numbers


def test_export_csv_button_downloads_every_row_with_the_page_filters(
    page: Page, live: LiveApi, big_job: str, tmp_path: Path
) -> None:
    page.goto(f"{live.url}/ui/jobs/{big_job}")
    page.wait_for_selector("[data-testid=leaderboard-row]")
    with page.expect_download() as unfiltered:
        page.click("[data-testid=export-csv]")
    target = tmp_path / "all.csv"
    unfiltered.value.save_as(target)
    assert unfiltered.value.suggested_filename.endswith("-leaderboard.csv")
    table = list(csv.reader(io.StringIO(target.read_text(), newline="")))
    assert table[0][:2] == ["number", "kind"]
    assert [int(line[0]) for line in table[1:]] == _ranked(live, big_job)  # all 10,000, in order

    page.check("#filter-feasible")
    page.wait_for_function(
        "() => document.getElementById('export-csv').href.includes('feasible=true')"
    )
    with page.expect_download() as feasible:
        page.click("[data-testid=export-csv]")
    feasible.value.save_as(tmp_path / "feasible.csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "feasible.csv").read_text(), newline="")))
    assert [int(line[0]) for line in rows[1:]] == _ranked(live, big_job, feasible="true")

    with page.expect_download() as as_json:
        page.click("[data-testid=export-json]")
    as_json.value.save_as(tmp_path / "board.json")
    body = json.loads((tmp_path / "board.json").read_text())
    assert body["limit"] == 1000 and body["items"][0]["feasible"] is True
    assert [item["number"] for item in body["items"]] == _ranked(live, big_job, feasible="true")[
        :1000
    ]

    # The plotted points, every one of them, by trial number (the plot's own read).
    with page.expect_download() as points:
        page.click("[data-testid=export-points-csv]")
    points.value.save_as(tmp_path / "points.csv")
    lines = list(csv.reader(io.StringIO((tmp_path / "points.csv").read_text(), newline="")))
    assert lines[0][0] == "number"
    assert sorted(int(line[0]) for line in lines[1:]) == sorted(_ranked(live, big_job))
    with page.expect_download() as points_json:
        page.click("[data-testid=export-points-json]")
    points_json.value.save_as(tmp_path / "points.json")
    plotted = json.loads((tmp_path / "points.json").read_text())
    assert len(plotted["points"]) == len(lines) - 1


@pytest.fixture(scope="module")
def two_real_jobs(live: LiveApi) -> list[str]:
    # Two tiny real searches (different models), run by the embedded executor.
    second = {
        **TINY_SPEC,
        "name": "ui-tiny-mlp",
        "model": {"zoo": "mlp", "kwargs": {"hidden": [32, 16]}, "pretrain_epochs": 6},
    }
    with Client(live.url, live.token) as client:
        submitted = [client.submit({**TINY_SPEC, "name": "ui-tiny-cnn"}), client.submit(second)]
        done = [client.wait(job.id, poll_s=0.5, timeout=900) for job in submitted]
    assert [job.status for job in done] == ["succeeded", "succeeded"], [j.error for j in done]
    return [job.id for job in done]


def test_compare_two_real_jobs_from_the_jobs_list(
    page: Page, live: LiveApi, two_real_jobs: list[str]
) -> None:
    cnn, mlp = two_real_jobs
    page.goto(f"{live.url}/ui")
    link = page.locator("[data-testid=compare-link]")
    page.locator(f"[data-job-id='{cnn}'] [data-testid=job-pick]").check()
    assert link.get_attribute("aria-disabled") == "true"  # one job is not a comparison
    page.locator(f"[data-job-id='{mlp}'] [data-testid=job-pick]").check()
    assert link.get_attribute("aria-disabled") == "false"
    link.click()
    page.wait_for_url(f"**/ui/compare?jobs={cnn},{mlp}")
    page.wait_for_function(
        "() => Number(document.getElementById('compare-chart').dataset.points || 0) > 0"
    )
    compared = live.get("/v1/compare", jobs=f"{cnn},{mlp}")["jobs"]
    assert [job["model"] for job in compared] == ["small_cnn", "mlp"]
    for job in compared:
        assert job["front_fidelity"] == "final" and job["front"], job["name"]
        assert job["best"]["final"] and job["best"]["layers"]
    # One colour per job on one plot: each job's front, baselines and best.
    sets = page.eval_on_selector(
        "#compare-chart",
        "c => Chart.getChart(c).data.datasets.map(s => [s.label, s.data.length, s.borderColor])",
    )
    fronts = [s for s in sets if s[0].endswith("(final)")]
    assert [s[0] for s in fronts] == ["ui-tiny-cnn (final)", "ui-tiny-mlp (final)"]
    assert fronts[0][2] != fronts[1][2] and all(s[1] > 0 for s in fronts)
    assert [s[1] for s in sets if s[0].endswith(" best")] == [1, 1]
    headers = page.eval_on_selector_all(
        "[data-testid=compare-job]", "ths => ths.map(th => th.dataset.jobId)"
    )
    assert headers == [cnn, mlp]
    layers = page.locator("[data-testid=compare-layer]")
    # One row per layer name of either model (a name both share is one row, two cells).
    names = {layer["name"] for job in compared for layer in job["best"]["layers"]}
    assert layers.count() == len(names)
    first = compared[0]["best"]["layers"][0]
    row = page.locator(f"[data-testid=compare-layer][data-layer='{first['name']}']")
    assert f"{first['kept']} / {first['original']}" in row.inner_text()

    ticks = page.eval_on_selector(
        "#compare-chart", "c => Chart.getChart(c).scales.x.ticks.map(t => t.label)"
    )
    assert len(set(ticks)) == len(ticks), ticks  # no two ticks read alike

    # Deep link: the axis goes into the address and survives a reload.
    page.click("label:has(#axis-absolute)")
    page.wait_for_function("() => window.location.search.includes('axis=absolute')")
    page.reload()
    page.wait_for_function(
        "() => Number(document.getElementById('compare-chart').dataset.points || 0) > 0"
    )
    assert page.is_checked("#axis-absolute")
    title = page.eval_on_selector(
        "#compare-chart", "c => Chart.getChart(c).options.scales.x.title.text"
    )
    assert title.startswith("MACs (multiply")


def test_compare_page_shows_the_api_refusal(page: Page, live: LiveApi, big_job: str) -> None:
    page.goto(f"{live.url}/ui/compare?jobs={big_job},no-such-job")
    error = page.locator("[data-testid=compare-error]")
    error.wait_for()
    assert "no-such-job" in error.inner_text()
    page.goto(f"{live.url}/ui/compare?jobs={big_job}")
    page.wait_for_selector("[data-testid=compare-error]:visible")
    assert "two or more" in page.inner_text("[data-testid=compare-error]")


def _job(live: LiveApi, status: JobStatus, name: str) -> str:
    database = Database(live.database_url)
    try:
        with database.sessions() as session:
            return make_job(session, OWNER, status=status, name=name, spec_data=TINY_SPEC).id
    finally:
        database.dispose()


def test_spec_and_event_timeline_on_the_job_page(page: Page, live: LiveApi) -> None:
    job_id = _job(live, JobStatus.SUCCEEDED, "with-events")
    page.goto(f"{live.url}/ui/jobs/{job_id}")
    page.wait_for_selector("[data-testid=job-event]")
    spec = json.loads(page.inner_text("[data-testid=job-spec]"))
    assert spec == live.get(f"/v1/jobs/{job_id}")["spec"]
    statuses = page.eval_on_selector_all(
        "[data-testid=job-event]", "items => items.map(li => li.dataset.status)"
    )
    assert statuses == ["queued", "running", "finalizing", "succeeded"]
    assert "running → finalizing" in page.inner_text("[data-testid=job-events]")
    assert page.is_hidden("[data-testid=cancel-job]")  # nothing to cancel once it is over


def test_cancel_asks_first_then_cancels(page: Page, live: LiveApi) -> None:
    job_id = _job(live, JobStatus.QUEUED, "to-cancel")
    page.goto(f"{live.url}/ui/jobs/{job_id}")
    page.click("[data-testid=cancel-job]")
    page.wait_for_selector("[data-testid=cancel-form]:visible")
    page.click("[data-testid=cancel-dismiss]")  # thought better of it: nothing happens
    assert page.is_hidden("[data-testid=cancel-form]")
    assert live.get(f"/v1/jobs/{job_id}")["status"] == "queued"

    page.click("[data-testid=cancel-job]")
    # Auth is on: the cookie only reads, so the change asks for the key.
    page.click("[data-testid=cancel-confirm]")
    page.wait_for_selector("[data-testid=cancel-error]:visible")
    assert "Enter your API key" in page.inner_text("[data-testid=cancel-error]")
    page.fill("#cancel-form [data-testid=action-key]", "ps_wrong-key")
    page.click("[data-testid=cancel-confirm]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=cancel-error]').textContent.includes('invalid')"
    )
    assert page.is_visible("#content")  # a wrong key for one change does not sign out
    page.fill("#cancel-form [data-testid=action-key]", live.token)
    page.click("[data-testid=cancel-confirm]")
    page.wait_for_selector("[data-testid=job-event][data-status=cancelled]")
    assert live.get(f"/v1/jobs/{job_id}")["status"] == "cancelled"
    assert page.is_hidden("[data-testid=cancel-job]")


def test_run_again_submits_the_edited_spec_and_opens_the_new_job(page: Page, live: LiveApi) -> None:
    job_id = _job(live, JobStatus.FAILED, "to-rerun")
    page.goto(f"{live.url}/ui/jobs/{job_id}")
    page.click("[data-testid=run-again]")
    box = page.locator("[data-testid=rerun-spec]")
    box.wait_for()
    spec = json.loads(box.input_value())
    assert spec == TINY_SPEC
    page.fill("#rerun-form [data-testid=action-key]", live.token)

    box.fill("{not json")
    page.click("[data-testid=rerun-submit]")
    page.wait_for_selector("[data-testid=rerun-error]:visible")
    assert "not valid JSON" in page.inner_text("[data-testid=rerun-error]")

    box.fill(json.dumps({**spec, "search": {**spec["search"], "bogus": 1}}))
    page.click("[data-testid=rerun-submit]")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=rerun-error]').textContent.includes('bogus')"
    )

    box.fill(json.dumps({**spec, "name": "rerun-edited"}))
    page.click("[data-testid=rerun-submit]")
    page.wait_for_url(lambda url: "/ui/jobs/" in url and job_id not in url)
    page.wait_for_function(
        "() => document.getElementById('job-name').textContent === 'rerun-edited'"
    )
    new_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    assert live.get(f"/v1/jobs/{new_id}")["spec"]["name"] == "rerun-edited"


_COMPARE_TEXT = [
    "#compare-title",
    "#compare-names",
    "#compare-table th",
    "#compare-table td",
    "#compare-table a",
    ".note",
    "details.data-table summary",
]
_ACTIONS_TEXT = ["#actions-title", "#job-spec", "[data-testid=job-event]", "#run-again"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_new_text_has_contrast_in_both_schemes_and_fits_a_phone(
    page: Page, live: LiveApi, two_real_jobs: list[str], scheme: Literal["light", "dark"]
) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live.url}/ui/compare?jobs={','.join(two_real_jobs)}")
    page.wait_for_selector("[data-testid=compare-layer]")
    low = [(s, r) for s, r in page.evaluate(CONTRAST_JS, _COMPARE_TEXT) if r is None or r < 4.5]
    assert not low, low
    page.goto(f"{live.url}/ui/jobs/{two_real_jobs[0]}")
    page.wait_for_selector("[data-testid=job-event]")
    low = [(s, r) for s, r in page.evaluate(CONTRAST_JS, _ACTIONS_TEXT) if r is None or r < 4.5]
    assert not low, low

    # At phone width the comparison table scrolls inside its card, not the whole page.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}/ui/compare?jobs={','.join(two_real_jobs)}")
    page.wait_for_selector("[data-testid=compare-layer]")
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1
    page.screenshot(path=str(artifacts_dir() / f"ui-compare-phone-{scheme}.png"), full_page=True)
