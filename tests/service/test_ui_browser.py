"""The web page in headless Chromium (Playwright), against a live server.

uvicorn in a thread, embedded execution, SQLite, auth on with a key. One real tiny digits
job runs for the module; a second job gets 10,000 candidates written straight into the
database. Needs Debian's ``chromium`` (/usr/bin/chromium) and the ``playwright`` package
(its own browser download is never used): bash .ci/setup installs both. Without them the
tests skip, or fail where the environment variable CI is set.

A screenshot of the finished job's page is kept in $PRUNESEARCH_TEST_ARTIFACTS (default
test-artifacts/ at the repository root).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from service.client import Client
from service.db import Database
from service.models import JobStatus
from tests.service.browser import (
    WAIT_MS,
    artifacts_dir,
    leaderboard_rows,
    require_browser,
    sign_in,
    wait_layers,
)
from tests.service.factories import LiveApi, add_candidates, candidate_row, live_api, make_job

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BIG = 10_000
OWNER = "viewer"

# test_client.py's tiny job: seconds of training on two cores.
TINY_SPEC: dict[str, Any] = {
    "name": "ui-tiny",
    "model": {"zoo": "small_cnn", "kwargs": {"width": 8}, "pretrain_epochs": 6},
    "data": {"source": "digits"},
    "budget": {"max_macs": 0.4},
    "search": {"n_trials": 4, "seed": 0},
    "finetune": {"proxy_epochs": 1, "proxy_samples": 512, "final_epochs": 1, "finalists": 1},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    require_browser()
    with live_api(tmp_path_factory.mktemp("ui-browser"), owner=OWNER) as server:
        yield server


@pytest.fixture(scope="module")
def finished_job(live: LiveApi) -> str:
    with Client(live.url, live.token) as client:
        job = client.submit(TINY_SPEC)
        job = client.wait(job.id, poll_s=0.5, timeout=600)
    assert job.status == "succeeded", job.error
    return job.id


@pytest.fixture(scope="module")
def big_job(live: LiveApi) -> str:
    database = Database(live.database_url)
    try:
        with database.sessions() as session:
            job = make_job(
                session, OWNER, status=JobStatus.SUCCEEDED, name="ten-thousand", trials_planned=BIG
            )
            rows = [
                candidate_row(
                    job.id, n, pareto=n % 500 == 1, kind=_kind(n), latency_ms=1 + n % 7 / 10
                )
                for n in range(BIG)
            ]
            add_candidates(session, rows)
            return job.id
    finally:
        database.dispose()


def _kind(number: int) -> str:
    return {0: "uniform", 1: "global"}.get(number, "search")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors on the page: {errors}"


# A point of the Pareto plot (in canvas pixels) that is not candidate `skip` and has no
# other candidate's point within 15 px, so that a click there can only mean it.
_LONE_POINT_JS = """(canvas, skip) => {
  const chart = Chart.getChart(canvas);
  const points = [];
  chart.data.datasets.forEach((set, i) => {
    if (set.label === 'selected') return;
    set.data.forEach((d, j) => {
      const el = chart.getDatasetMeta(i).data[j];
      points.push({n: d.n, x: el.x, y: el.y});
    });
  });
  return points.find(p => p.n !== skip && points.every(
    q => q.n === p.n || Math.hypot(q.x - p.x, q.y - p.y) > 15)) || null;
}"""


def test_sign_in_list_open_a_job_and_read_it(page: Page, live: LiveApi, finished_job: str) -> None:
    page.goto(f"{live.url}/ui")
    page.wait_for_selector("[data-testid=signin-form]")
    assert page.is_hidden("#content")

    page.fill("#api-key", "ps_wrong-key")
    page.click("#signin-submit")
    page.wait_for_selector("[data-testid=signin-error]:visible")
    assert "invalid or revoked API key" in page.inner_text("[data-testid=signin-error]")

    page.fill("#api-key", live.token)
    page.click("#signin-submit")
    job_row = page.locator(f"[data-testid=job-row][data-job-id='{finished_job}']")
    job_row.wait_for()
    assert job_row.get_attribute("data-status") == "succeeded"
    assert "ui-tiny" in job_row.inner_text()
    assert page.inner_text("[data-testid=session-owner]") == f"signed in as {OWNER}"

    page.click(f"[data-job-id='{finished_job}'] [data-testid=job-link]")
    page.wait_for_url(f"**/ui/jobs/{finished_job}")
    page.wait_for_selector("[data-testid=leaderboard-row]")
    board = live.get(f"/v1/jobs/{finished_job}/leaderboard", limit=25)
    assert leaderboard_rows(page) == [item["number"] for item in board["items"]]
    assert page.inner_text("[data-testid=job-name]") == "ui-tiny"

    # The Pareto plot holds every candidate that has MACs and a score.
    points = live.get(f"/v1/jobs/{finished_job}/points")
    plotted = [p for p in points["points"] if p["macs"] is not None and p["score"] is not None]
    page.wait_for_function(
        "n => document.getElementById('pareto-chart').dataset.points === String(n)",
        arg=len(plotted),
    )
    drawn = page.eval_on_selector(
        "#pareto-chart",
        "c => Chart.getChart(c).data.datasets.filter(d => d.label !== 'selected')"
        ".flatMap(d => d.data.map(p => p.n))",
    )
    assert set(drawn) == {p["number"] for p in plotted}
    # Scores of different stages never share a dataset: finals apart from earlier stages,
    # and the y axis names the split of each.
    by_set = page.eval_on_selector(
        "#pareto-chart",
        "c => Chart.getChart(c).data.datasets.filter(d => d.label !== 'selected')"
        ".map(d => [d.label, d.data.map(p => p.fidelity)])",
    )
    for label, fidelities in by_set:
        if label.startswith("search"):
            assert len(set(fidelities)) <= 1 or "screen/rung" in label, (label, fidelities)
    axis = page.eval_on_selector(
        "#pareto-chart", "c => [Chart.getChart(c).options.scales.y.title.text].flat().join(' | ')"
    )
    assert "validation accuracy (finals)" in axis and "search-split" in axis

    # Each row's score says its stage; finalists show their paired margin.
    for item in board["items"]:
        row = page.locator(f"[data-testid=leaderboard-row][data-number='{item['number']}']")
        assert item["fidelity"] in row.locator("[data-testid=candidate-score]").inner_text()
        margin = row.locator("[data-testid=candidate-margin]").inner_text()
        assert (margin == "\N{EN DASH}") == (item["margin"] is None), (item, margin)

    # Clicking a leaderboard row draws that candidate's layers, one bar per layer.
    number = board["items"][-1]["number"]
    page.click(f"[data-testid=leaderboard-row][data-number='{number}']")
    layers = live.get(f"/v1/jobs/{finished_job}/candidates/{number}")["layers"]
    assert layers
    assert wait_layers(page, number) == len(layers)
    row = page.locator(f"[data-testid=leaderboard-row][data-number='{number}']")
    assert row.get_attribute("aria-selected") == "true"

    # Clicking a point on the plot selects its candidate too.
    target = page.eval_on_selector("#pareto-chart", _LONE_POINT_JS, number)
    assert target is not None
    page.locator("#pareto-chart").click(position={"x": target["x"], "y": target["y"]})
    clicked = live.get(f"/v1/jobs/{finished_job}/candidates/{target['n']}")["layers"]
    assert wait_layers(page, target["n"]) == len(clicked)

    # Downloads: one link per format the server has, fetched with the session cookie.
    best = live.get(f"/v1/jobs/{finished_job}/best")
    links = page.eval_on_selector_all(
        "[data-testid=download]", "links => links.map(a => [a.dataset.format, a.href])"
    )
    assert sorted(format for format, _ in links) == sorted(best["formats"])
    assert "bundle" in best["formats"]
    for format, href in links:
        assert href.endswith(f"/v1/jobs/{finished_job}/best/model?format={format}")
    download = page.request.get(dict(links)["bundle"])
    assert download.ok and download.body()[:2] == b"PK"  # a zip
    dashboard = page.get_attribute("[data-testid=dashboard-link]", "href")
    assert dashboard == f"/ui/jobs/{finished_job}/dashboard/"

    # No candidate of this job has a latency: that axis cannot be chosen.
    assert page.is_disabled("#axis-latency")

    page.screenshot(path=str(artifacts_dir() / "ui-job-page.png"), full_page=True)

    page.click("[data-testid=sign-out]")
    page.wait_for_selector("[data-testid=signin-form]")
    assert page.context.request.get(f"{live.url}/v1/jobs").status == 401


def test_ten_thousand_candidates_page_and_sort_on_the_server(
    page: Page, live: LiveApi, big_job: str
) -> None:
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{big_job}")
    page.wait_for_selector("[data-testid=leaderboard-row]")
    ranked = live.get(f"/v1/jobs/{big_job}/leaderboard", limit=25)
    assert leaderboard_rows(page) == [item["number"] for item in ranked["items"]]
    assert page.inner_text("[data-testid=lb-range]") == "1\N{EN DASH}25 of 10,000"

    # Sorting by MACs (ascending first) reorders on the server: the first row changes.
    by_macs = live.get(f"/v1/jobs/{big_job}/leaderboard", sort="macs", order="asc", limit=25)
    first = by_macs["items"][0]["number"]
    assert first != ranked["items"][0]["number"]
    page.click("th[data-sort=macs] button")
    page.wait_for_function(
        "n => document.querySelector('[data-testid=leaderboard-row]').dataset.number === String(n)",
        arg=first,
    )
    assert leaderboard_rows(page) == [item["number"] for item in by_macs["items"]]
    assert page.get_attribute("th[data-sort=macs]", "aria-sort") == "ascending"

    # Next page, then 50 rows a page.
    page.click("#lb-next")
    page.wait_for_function("() => document.getElementById('lb-range').textContent.startsWith('26')")
    second = live.get(
        f"/v1/jobs/{big_job}/leaderboard", sort="macs", order="asc", limit=25, offset=25
    )
    assert leaderboard_rows(page) == [item["number"] for item in second["items"]]
    page.select_option("#page-size", "50")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=leaderboard-row]').length === 50"
    )
    assert page.inner_text("[data-testid=lb-range]") == "1\N{EN DASH}50 of 10,000"

    # Every candidate is on the plot.
    page.wait_for_function("() => document.getElementById('pareto-chart').dataset.points")
    plotted = int(page.get_attribute("#pareto-chart", "data-points") or 0)
    assert plotted == BIG
    x_title = "c => Chart.getChart(c).options.scales.x.title.text"
    assert page.eval_on_selector("#pareto-chart", x_title).startswith("MACs")

    # These candidates have latencies: the plot switches to them.
    page.click("label:has(#axis-latency)")
    page.wait_for_function(
        "() => Chart.getChart('pareto-chart').options.scales.x.title.text === 'latency (ms)'"
    )
    assert page.get_attribute("#pareto-chart", "data-points") == str(BIG)


def test_a_queued_job_shows_empty_states_and_an_unknown_one_a_message(
    page: Page, live: LiveApi
) -> None:
    database = Database(live.database_url)
    try:
        with database.sessions() as session:
            # Written straight to the database: never enqueued, so it stays queued.
            queued = make_job(session, OWNER, name="waiting").id
    finally:
        database.dispose()
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{queued}")
    page.wait_for_selector("#lb-empty:visible")
    # The plot's message comes with /points, fetched apart from the leaderboard.
    page.wait_for_selector("#pareto-message:has-text('No candidates')", timeout=WAIT_MS)
    assert page.inner_text("#job-status [data-testid=status]") == "queued"
    assert (
        page.inner_text("#pareto-message")
        == "No candidates yet: the plot fills in as trials finish."
    )
    assert page.is_hidden("#best-card")
    assert page.inner_text("[data-testid=lb-range]").endswith("of 0")
    assert "Live" in page.inner_text("#job-live")
    assert page.locator("[data-testid=download]").count() == 0

    page.goto(f"{live.url}/ui/jobs/no-such-job")
    page.wait_for_selector("[data-testid=job-missing]:visible")
    assert "no job 'no-such-job'" in page.inner_text("[data-testid=job-missing]")
    assert page.is_hidden("#job-body")


def test_the_jobs_optuna_dashboard_renders_its_study_for_a_signed_in_page(
    page: Page, live: LiveApi, finished_job: str
) -> None:
    mount = f"/ui/jobs/{finished_job}/dashboard/"
    requests: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "response",
        lambda response: (
            failed.append(f"{response.status} {response.url}")
            if response.status >= 400 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    sign_in(page, live)  # the session cookie is the only credential the dashboard gets

    page.goto(f"{live.url}{mount}")

    study_name = live.get(f"/v1/jobs/{finished_job}")["study_name"]
    page.get_by_text(study_name).first.wait_for()
    # The study list holds the job's study alone; its page opens under the mount too.
    page.get_by_text(study_name).first.click()
    page.wait_for_url(f"**{mount}studies/**")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(artifacts_dir() / "ui-dashboard.png"))
    own = [url for url in requests if url.startswith(live.url)]
    assert own and all(
        url.startswith(f"{live.url}{mount}") or url.endswith("/favicon.ico") for url in own
    ), own
    assert not failed, failed


def test_the_history_plots_screening_scores_in_percent_and_says_so(
    page: Page, live: LiveApi, finished_job: str
) -> None:
    sign_in(page, live)
    page.goto(f"{live.url}/ui/jobs/{finished_job}")
    page.wait_for_function("() => Chart.getChart('history-chart') !== undefined")
    chart = "c => { const chart = Chart.getChart(c); return %s; }"
    title = page.eval_on_selector("#history-chart", chart % "chart.options.scales.y.title.text")
    assert "screening score" in title
    ticks = page.eval_on_selector(
        "#history-chart", chart % "chart.scales.y.ticks.map(t => t.label)"
    )
    assert ticks and all(label.endswith("%") for label in ticks), ticks
    assert len(set(ticks)) == len(ticks), ticks
    # The step line is the best screening score, not the page's best model: it says so.
    best = live.get(f"/v1/jobs/{finished_job}/best")["candidate"]["number"]
    line = page.eval_on_selector("#history-chart", chart % "chart.data.datasets[0].label")
    assert line.startswith("best screening score so far") and f"#{best}" in line, line


def test_the_dashboard_is_read_only_leads_back_and_greets_a_signed_out_browser(
    page: Page, live: LiveApi, finished_job: str
) -> None:
    mount = f"{live.url}/ui/jobs/{finished_job}/dashboard/"
    page.goto(mount)  # not signed in: a page that leads to the sign-in, not JSON
    page.get_by_text("Sign in to see this job's dashboard").wait_for()
    page.click("[data-testid=sign-in-link]")
    page.wait_for_url(f"**/ui/jobs/{finished_job}")
    page.wait_for_selector("[data-testid=signin-form]")

    sign_in(page, live)
    page.goto(mount)
    study_name = live.get(f"/v1/jobs/{finished_job}")["study_name"]
    page.get_by_text(study_name).first.wait_for()
    for label in ("rename study", "delete study"):
        assert page.locator(f"[aria-label='{label}']").count() == 0
    assert page.get_by_role("button", name="Create", exact=True).count() == 0
    assert page.get_by_role("button", name="Reload").count() == 1  # the list did render
    page.click("[data-testid=back-to-job]")
    page.wait_for_url(f"**/ui/jobs/{finished_job}")
    page.wait_for_selector("[data-testid=leaderboard-row]")
