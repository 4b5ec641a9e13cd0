"""The job page's export buttons and the comparison page, in headless Chromium.

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
from typing import TYPE_CHECKING

import pytest

from service.db import Database
from service.models import JobStatus
from tests.service.factories import LiveApi, add_candidates, candidate_row, live_api, make_job
from tests.service.test_ui_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, _require_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

OWNER = "comparer"
BIG = 10_000


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    _require_browser()
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


@pytest.fixture(scope="module")
def browser(live: LiveApi) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
