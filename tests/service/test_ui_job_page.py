"""The job page and the jobs list in headless Chromium: what they say is true, on a phone and
in the dark too (issue 12's page defects, one test or more each).

Every job here is written straight into the database (no search runs), with figures chosen
to expose each defect: a best model with validation and test gains and a paired margin, a
best that is a baseline, a latency budget, an unpruned model scoring below every candidate,
a cancelled job. Same live server and Debian Chromium as test_ui_browser.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pytest
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.trial import TrialState

from service.artifacts import ArtifactStore
from service.db import Database
from service.jobs import SqlJobStore
from service.models import JobStatus, transition
from tests.service.browser import (
    CONTRAST_JS,
    DESKTOP,
    PHONE,
    WAIT_MS,
    Pages,
    Scheme,
    artifacts_dir,
    leaderboard_rows,
    require_browser,
    sign_in,
    wait_layers,
)
from tests.service.factories import LiveApi, add_candidates, candidate_row, live_api, make_job, spec

if TYPE_CHECKING:
    from playwright.sync_api import Page

OWNER = "reader"
REFERENCE = {"params": 20_000, "macs": 40_000, "val_accuracy": 0.985, "test_accuracy": 0.98}
FAIL_MESSAGE = "the model's weights do not fit its architecture (layer fc.weight)"
CANCEL_MESSAGE = "cancelled by its owner (DELETE /v1/jobs)"
N_SEARCH = 36  # candidates of the main job beyond its baselines: two leaderboard pages


@dataclass(frozen=True)
class Jobs:
    honest: str  # a search candidate is best: gains on val and test, a paired margin
    baseline_best: str  # the uniform baseline is the best model
    latency: str  # a latency budget
    low_reference: str  # the unpruned model scores below every candidate
    far_reference: str  # ... far below: off the plot's scale
    cancelled: str  # cancelled while running, no candidate
    failed: str  # failed while running, with an error
    few_trials: str  # a study of 6 complete trials: importance too few to rank
    downloadable: str  # succeeded with its best's bundle stored


def _baselines(job_id: str) -> list[dict[str, Any]]:
    final = {"state": "complete", "fidelity": "final", "feasible": True}
    return [
        candidate_row(
            job_id, 0, kind="uniform", accuracy=0.975, test_accuracy=0.983, macs=18_000, **final
        ),
        candidate_row(
            job_id, 1, kind="global", accuracy=0.960, test_accuracy=0.970, macs=19_000, **final
        ),
        candidate_row(
            job_id, 2, kind="sensitivity", accuracy=0.970, test_accuracy=0.975, macs=17_500, **final
        ),
    ]


def _honest(session: Any) -> str:
    result = {
        "best": {"number": 3},
        "gain_over_uniform": 0.007,
        "gain_over_global": 0.022,
        "gain_over_sensitivity": 0.012,
        "test_gain_over_uniform": -0.005,
        # the search's own test gains: the page shows these, not its own subtraction (+0.8)
        "test_gain_over_global": 0.009,
        "test_gain_over_sensitivity": 0.003,
    }
    job = make_job(
        session,
        OWNER,
        status=JobStatus.SUCCEEDED,
        name="honest",
        reference=REFERENCE,
        result=result,
        trials_planned=N_SEARCH + 4,
        trials_done=N_SEARCH + 4,
        best_score=0.982,
    )
    rows = _baselines(job.id)
    rows.append(
        candidate_row(
            job.id,
            3,
            accuracy=0.982,
            test_accuracy=0.978,
            margin=0.007,
            margin_se=0.004,
            fidelity="final",
            feasible=True,
            pareto=True,
            macs=16_000,
        )
    )
    rows.append(
        candidate_row(
            job.id,
            4,
            accuracy=0.979,
            margin=0.004,
            margin_se=0.004,
            fidelity="final",
            feasible=True,
            macs=15_000,
        )
    )
    for n in range(5, N_SEARCH + 4):
        stage = "rung-1" if n % 4 == 0 else "screen"
        rows.append(
            candidate_row(
                job.id,
                n,
                fidelity=stage,
                proxy_score=0.962 + (n % 9) / 400,
                rung_score=0.965 + (n % 5) / 300 if stage == "rung-1" else None,
                feasible=n % 5 != 0,
                macs=12_000 + 300 * n,
            )
        )
    add_candidates(session, rows)
    return job.id


def _baseline_best(session: Any) -> str:
    result = {"best": {"number": 0}, "gain_over_uniform": 0.0, "gain_over_global": 0.015}
    job = make_job(
        session,
        OWNER,
        status=JobStatus.SUCCEEDED,
        name="baseline-wins",
        reference=REFERENCE,
        result=result,
        best_score=0.975,
    )
    rows = _baselines(job.id)
    rows.append(
        candidate_row(
            job.id,
            3,
            accuracy=0.970,
            fidelity="final",
            feasible=True,
            margin=-0.005,
            margin_se=0.004,
        )
    )
    add_candidates(session, rows)
    return job.id


def _latency(session: Any) -> str:
    job_spec = spec(budget={"max_macs": None, "max_latency_ms": 1.2})
    reference = {**REFERENCE, "latency_ms": 1.5}
    job = make_job(
        session,
        OWNER,
        status=JobStatus.SUCCEEDED,
        name="latency-budget",
        spec_data=job_spec,
        reference=reference,
        best_score=0.98,
    )
    rows = [
        candidate_row(
            job.id,
            n,
            latency_ms=0.8 + n / 25,
            proxy_score=0.95 + n / 1000,
            feasible=0.8 + n / 25 <= 1.2,
        )
        for n in range(20)
    ]
    add_candidates(session, rows)
    return job.id


def _low_reference(session: Any, val_accuracy: float = 0.90) -> str:
    reference = {**REFERENCE, "val_accuracy": val_accuracy}
    job = make_job(
        session,
        OWNER,
        status=JobStatus.SUCCEEDED,
        name="low-reference",
        reference=reference,
        best_score=0.99,
    )
    # Candidate 0 sits at the left edge just above the unpruned model's line: where its
    # label would go.
    rows = [candidate_row(job.id, 0, macs=10_000, proxy_score=0.905, feasible=True)]
    rows += [
        candidate_row(job.id, n, macs=10_000 + 500 * n, proxy_score=0.95 + n / 500, feasible=True)
        for n in range(1, 20)
    ]
    add_candidates(session, rows)
    return job.id


def _cancelled(session: Any) -> str:
    job = make_job(session, OWNER, status=JobStatus.RUNNING, name="stopped", cancel_requested=True)
    transition(session, job, JobStatus.CANCELLED, CANCEL_MESSAGE)
    session.commit()
    return job.id


def _few_trials(session: Any, database_url: str) -> str:
    """A finished job whose Optuna study (in the app's database, as search writes it) holds
    six complete trials, the issue's case, and one failed one."""
    job = make_job(session, OWNER, status=JobStatus.SUCCEEDED, name="six-trials")
    study = optuna.create_study(
        storage=database_url,
        study_name=job.study_name,
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    space: dict[str, BaseDistribution] = {
        name: FloatDistribution(0.05, 1.0) for name in ("keep:features.3", "keep:features.7")
    }
    for number in range(7):
        trial = study.ask(space)
        if number == 2:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, 0.5 + 0.4 * float(trial.params["keep:features.7"]))
    return job.id


def _downloadable(session: Any, database: Database, artifacts: ArtifactStore, folder: Path) -> str:
    """A succeeded job whose best (#3) has its bundle stored, as the finalize task leaves it."""
    job = make_job(session, OWNER, status=JobStatus.FINALIZING, name="downloadable")
    best = candidate_row(job.id, 3, accuracy=0.982, fidelity="final", feasible=True, margin=0.01)
    add_candidates(session, [*_baselines(job.id), best])
    folder.mkdir()
    for name in ("model.safetensors", "policy.json", "report.json"):
        (folder / name).write_text("{}")
    store = SqlJobStore(database, artifacts)
    result = {"best": {k: v for k, v in best.items() if k != "job_id"}}
    store.succeed(job.id, result, store.store_bundle(job.id, folder))
    return str(job.id)


def _failed(session: Any) -> str:
    job = make_job(session, OWNER, status=JobStatus.RUNNING, name="broken")
    job.error = FAIL_MESSAGE
    transition(session, job, JobStatus.FAILED, FAIL_MESSAGE)
    session.commit()
    return job.id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    require_browser()
    with live_api(tmp_path_factory.mktemp("ui-job-page"), owner=OWNER) as server:
        yield server


@pytest.fixture(scope="module")
def jobs(live: LiveApi, tmp_path_factory: pytest.TempPathFactory) -> Jobs:
    database = Database(live.database_url)
    # live_api keeps its artifacts beside its SQLite file
    artifacts = ArtifactStore(Path(live.database_url.removeprefix("sqlite:///")).parent / "store")
    bundle = tmp_path_factory.mktemp("bundle") / "best"
    try:
        with database.sessions() as session:
            return Jobs(
                honest=_honest(session),
                baseline_best=_baseline_best(session),
                latency=_latency(session),
                low_reference=_low_reference(session),
                far_reference=_low_reference(session, val_accuracy=0.5),
                cancelled=_cancelled(session),
                failed=_failed(session),
                few_trials=_few_trials(session, live.database_url),
                downloadable=_downloadable(session, database, artifacts, bundle),
            )
    finally:
        database.dispose()


def _stat(page: Page, testid: str) -> str:
    return page.inner_text(f"[data-testid={testid}]")


def _chart(page: Page, canvas: str, script: str) -> Any:
    return page.eval_on_selector(
        f"#{canvas}", f"c => {{ const chart = Chart.getChart(c); return {script}; }}"
    )


# -- 1. honest headline gains --


def test_the_best_models_gains_name_their_split_show_test_and_the_paired_margin(
    pages: Pages, jobs: Jobs
) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}")
    page.wait_for_selector("[data-testid=gain-uniform]")
    best = page.inner_text("#best-stats").lower()
    assert "accuracy (val)" in best and "accuracy (test)" in best
    # Validation gain from the REST, test gain beside it (from /best, else the baselines').
    assert _stat(page, "gain-uniform") == "+0.7 pt val · \N{MINUS SIGN}0.5 pt test"
    assert _stat(page, "gain-global") == "+2.2 pt val · +0.9 pt test"
    assert _stat(page, "gain-sensitivity") == "+1.2 pt val · +0.3 pt test"
    # The paired margin over the best baseline with its 95% interval (1.96 standard errors).
    margin = _stat(page, "best-margin")
    assert margin.startswith("+0.70 ± 0.78 pt"), margin
    assert "95% CI \N{MINUS SIGN}0.08 pt to +1.48 pt" in margin


def test_a_best_that_is_a_baseline_gains_none_over_itself(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.baseline_best}")
    page.wait_for_selector("[data-testid=gain-uniform]")
    uniform = _stat(page, "gain-uniform")
    assert uniform.startswith("none") and "+0.0" not in uniform, uniform
    assert _stat(page, "gain-global").startswith("+1.5 pt val")
    # No margin of a baseline over the best baseline: "none", as the CLI says.
    assert _stat(page, "best-margin").startswith("none"), _stat(page, "best-margin")


# -- 4. parameter importance: the dashboard's, and a warning when too few trials --


def test_importance_names_its_evaluator_and_warns_of_too_few_trials(
    pages: Pages, jobs: Jobs, live: LiveApi
) -> None:
    page = pages.open(f"/ui/jobs/{jobs.few_trials}")
    warning = page.wait_for_selector("[data-testid=importance-warning]", state="visible")
    assert warning is not None
    text = warning.inner_text()
    assert "only 6 complete trials" in text and "too few to rank" in text, text
    note = page.inner_text("#importance-note")
    assert note == "PED-ANOVA (as the dashboard) · from 6 complete trials", note
    # the bars in the REST's order, which is the dashboard's (tested on the API)
    rest = live.get(f"/v1/jobs/{jobs.few_trials}/importance")
    labels = _chart(page, "importance-chart", "chart.data.labels")
    assert labels == [p["name"] for p in rest["params"]]


def test_no_study_shows_no_importance_warning(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}")  # no study: a message, not a warning
    page.wait_for_selector("#importance-message:not([hidden])")
    assert page.is_hidden("[data-testid=importance-warning]")


# -- Deliver 7: download any candidate that has weights, else the reason --


def test_the_best_candidate_downloads_and_the_others_say_why_not(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.downloadable}?candidate=3")
    link = page.wait_for_selector("[data-testid=candidate-download]")
    assert link is not None
    href = link.get_attribute("href")
    assert href == f"/v1/jobs/{jobs.downloadable}/candidates/3/model"
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.endswith("-bundle.zip")

    page = pages.open(f"/ui/jobs/{jobs.downloadable}?candidate=1")
    reason = page.wait_for_selector("[data-testid=candidate-no-download]")
    assert reason is not None
    text = reason.inner_text()
    assert "only the chosen model's weights are kept" in text and "#3" in text, text
    assert page.query_selector("[data-testid=candidate-download]") is None


# -- 2. and 3. the y axis and what it plots --


def test_y_ticks_never_repeat_and_stages_never_share_a_marker(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}")
    page.wait_for_function("() => document.getElementById('pareto-chart').dataset.points")
    labels = _chart(page, "pareto-chart", "chart.scales.y.ticks.map(t => t.label)")
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert all(label.endswith("%") for label in labels)
    # Finals filled, screen/rung hollow: no dataset holds both, each has its legend entry.
    sets = _chart(
        page,
        "pareto-chart",
        "chart.data.datasets.filter(d => d.type === 'scatter' && d.label !== 'selected')"
        ".map(d => [d.label, d.backgroundColor, d.data.map(p => p.fidelity)])",
    )
    seen_final = seen_earlier = False
    for label, background, fidelities in sets:
        finals = {f == "final" for f in fidelities}
        assert len(finals) <= 1, (label, fidelities)
        if finals == {True}:
            seen_final = True
            assert background != "rgba(0,0,0,0)", label
        elif finals == {False}:
            seen_earlier = True
            assert background == "rgba(0,0,0,0)" and "screen/rung" in label, label
    assert seen_final and seen_earlier
    legend = _chart(page, "pareto-chart", "chart.legend.legendItems.map(i => i.text)")
    assert "uniform baseline" in legend and "search (screen/rung, search split)" in legend


# -- 5. the jobs list --


def test_the_jobs_list_shows_new_jobs_without_an_active_one_and_names_an_empty_filter(
    pages: Pages, jobs: Jobs, live: LiveApi
) -> None:
    page = pages.open("/ui?status=succeeded")
    page.wait_for_selector(f"[data-testid=job-row][data-job-id='{jobs.honest}']")
    assert page.input_value("#status-filter") == "succeeded"
    assert page.locator(f"[data-job-id='{jobs.cancelled}']").count() == 0
    # A job submitted while the page is open, none active: it shows up all the same.
    database = Database(live.database_url)
    try:
        with database.sessions() as session:
            late = make_job(session, OWNER, status=JobStatus.SUCCEEDED, name="late").id
    finally:
        database.dispose()
    page.wait_for_selector(f"[data-testid=job-row][data-job-id='{late}']", timeout=25_000)

    page.select_option("#status-filter", "finalizing")
    page.wait_for_selector("[data-testid=jobs-empty]:visible")
    assert page.inner_text("[data-testid=jobs-empty]") == "No finalizing jobs."
    assert page.is_hidden("[data-testid=jobs-none]")
    assert "status=finalizing" in page.url
    page.reload()
    page.wait_for_selector("[data-testid=jobs-empty]:visible")
    assert page.input_value("#status-filter") == "finalizing"


# -- 6. the unpruned model's line --


def test_the_unpruned_line_is_in_range_and_its_label_spares_the_selected_point(
    pages: Pages, jobs: Jobs
) -> None:
    for viewport in (DESKTOP, PHONE):
        page = pages.open(f"/ui/jobs/{jobs.low_reference}?candidate=0", viewport=viewport)
        wait_layers(page, 0)
        page.wait_for_function("() => document.getElementById('pareto-chart').dataset.reference")
        assert page.get_attribute("#pareto-chart", "data-reference") == "line"
        low = _chart(page, "pareto-chart", "chart.scales.y.min")
        assert low <= 0.90
        label = json.loads(page.get_attribute("#pareto-chart", "data-reference-label") or "{}")
        ring = _chart(
            page,
            "pareto-chart",
            "chart.getDatasetMeta(chart.data.datasets.findIndex(d => d.label === 'selected'))"
            ".data.map(p => ({x: p.x, y: p.y}))[0]",
        )
        assert ring is not None
        apart = (
            label["x"] + label["w"] < ring["x"] - 11
            or label["x"] > ring["x"] + 11
            or label["y"] + label["h"] < ring["y"] - 11
            or label["y"] > ring["y"] + 11
        )
        assert apart, (viewport, label, ring)

    # Far below every candidate: the range stays on them, an arrow at the bottom says so.
    page = pages.open(f"/ui/jobs/{jobs.far_reference}")
    page.wait_for_function("() => document.getElementById('pareto-chart').dataset.reference")
    assert page.get_attribute("#pareto-chart", "data-reference") == "off-scale-below"
    assert _chart(page, "pareto-chart", "chart.scales.y.min") > 0.5


# -- 7. latency --


def test_a_latency_budget_job_opens_on_latency_with_its_budget_line(
    pages: Pages, jobs: Jobs
) -> None:
    page = pages.open(f"/ui/jobs/{jobs.latency}")
    page.wait_for_function("() => document.getElementById('pareto-chart').dataset.points === '20'")
    assert _chart(page, "pareto-chart", "chart.options.scales.x.title.text") == "latency (ms)"
    assert page.is_checked("#axis-latency")
    assert page.get_attribute("#pareto-chart", "data-budget") == "line"
    note = page.inner_text("#pareto-note")
    assert "median of timed runs" in note and "cpu, batch 1" in note
    assert "median" in (page.get_attribute("#latency-header", "title") or "")


# -- 8. a cancelled job --


def test_a_cancelled_job_says_why_and_when_and_draws_no_empty_plot(
    pages: Pages, jobs: Jobs
) -> None:
    requests: list[str] = []
    console: list[str] = []
    context = pages.browser.new_context(viewport=DESKTOP)
    pages.contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "console", lambda message: console.append(message.text) if message.type == "error" else None
    )
    sign_in(page, pages.live)
    page.goto(f"{pages.live.url}/ui/jobs/{jobs.cancelled}")
    page.wait_for_selector("[data-testid=job-ended]:visible")
    ended = page.inner_text("[data-testid=job-ended]")
    assert ended.startswith("Cancelled ") and CANCEL_MESSAGE in ended, ended
    page.wait_for_selector("#pareto-message:has-text('was cancelled')")
    assert page.inner_text("#pareto-message") == (
        "No candidate was scored: the job was cancelled before any trial finished."
    )
    page.wait_for_load_state("networkidle")
    assert page.eval_on_selector("#pareto-chart", "c => Chart.getChart(c) === undefined")
    assert not [url for url in requests if url.endswith("/best")], requests
    assert not console, console

    failed = pages.open(f"/ui/jobs/{jobs.failed}")
    failed.wait_for_selector("[data-testid=job-ended]:visible")
    assert failed.inner_text("[data-testid=job-ended]").startswith("Failed ")
    assert failed.inner_text("[data-testid=job-error]") == FAIL_MESSAGE
    failed.wait_for_selector("#pareto-message:has-text('the job failed before')")


# -- 10. the page's state in the address --


def test_sort_filters_page_axis_and_candidate_live_in_the_address(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}")
    page.wait_for_selector("[data-testid=leaderboard-row]")
    page.click("th[data-sort=macs] button")
    page.wait_for_function("() => new URLSearchParams(location.search).get('sort') === 'macs'")
    page.check("#filter-feasible")
    page.wait_for_function("() => new URLSearchParams(location.search).get('feasible') === '1'")
    page.click("#lb-next")
    page.wait_for_function("() => document.getElementById('lb-range').textContent.startsWith('26')")
    number = leaderboard_rows(page)[0]
    page.click(f"[data-testid=leaderboard-row][data-number='{number}']")
    wait_layers(page, number)
    query = dict(re.findall(r"([a-z]+)=([^&]+)", page.url.split("?", 1)[1]))
    assert query == {
        "sort": "macs",
        "order": "asc",
        "feasible": "1",
        "page": "2",
        "candidate": str(number),
    }
    link = (
        page.get_attribute(f"[data-number='{number}'] [data-testid=candidate-link]", "href") or ""
    )
    assert f"candidate={number}" in link and "sort=macs" in link

    page.reload()
    wait_layers(page, number)
    assert page.get_attribute("th[data-sort=macs]", "aria-sort") == "ascending"
    assert page.is_checked("#filter-feasible")
    assert page.inner_text("[data-testid=lb-range]").startswith("26")
    row = page.locator(f"[data-testid=leaderboard-row][data-number='{number}']")
    assert row.get_attribute("aria-selected") == "true"

    latency = pages.open(f"/ui/jobs/{jobs.latency}?axis=macs")
    latency.wait_for_function("() => document.getElementById('pareto-chart').dataset.points")
    assert latency.is_checked("#axis-macs")


# -- 11. a phone --


def test_on_a_phone_the_important_columns_and_the_progress_are_on_screen(
    pages: Pages, jobs: Jobs
) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}", viewport=PHONE)
    page.wait_for_selector("[data-testid=leaderboard-row]")
    row = page.locator("[data-testid=leaderboard-row]").first
    for testid in ("candidate-score", "candidate-macs", "candidate-feasible", "candidate-pareto"):
        box = row.locator(f"[data-testid={testid}]").bounding_box()
        assert box is not None and box["width"] > 0, testid
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (testid, box)
    assert "final" in row.locator("[data-testid=candidate-score]").inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts_dir() / "ui-job-page-phone.png"), full_page=True)
    page.locator("#pareto-card").screenshot(path=str(artifacts_dir() / "ui-plot-phone.png"))
    page.locator("#leaderboard").screenshot(path=str(artifacts_dir() / "ui-leaderboard-phone.png"))

    jobs_page = pages.open("/ui", viewport=PHONE)
    bar = jobs_page.locator(f"[data-job-id='{jobs.honest}'] [role=progressbar]")
    bar.wait_for()
    box = bar.bounding_box()
    assert box is not None and box["width"] > 20 and box["x"] + box["width"] <= PHONE["width"], box


# -- 12. dark mode, contrast, marks and the toggle --


_KEY_TEXT = [
    "#job-name",
    ".breadcrumb a",
    "#lb-total",
    "#leaderboard-table th",
    ".segmented label:has(input:checked)",
    "#sort-reset",
    "#job-status .badge",
    "[data-testid=leaderboard-row] td",
    "[data-testid=leaderboard-row] .tag",
    ".infeasible-mark",
    ".star",
    "#pareto-note",
    "details.data-table summary",
]


_LIST_TEXT = [
    "#jobs-title",
    "#jobs-total",
    "#jobs-table th",
    "[data-testid=job-link]",
    "[data-testid=job-row] .badge",
    "[data-testid=job-row] .count",
    "#jobs-refresh",
    "#status-filter",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_in_both_schemes(pages: Pages, jobs: Jobs, scheme: Scheme) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}?rows=50", scheme=scheme)
    page.wait_for_selector(".infeasible-mark")
    page.wait_for_selector(".star")
    ratios = page.evaluate(CONTRAST_JS, _KEY_TEXT)
    low = [(selector, ratio) for selector, ratio in ratios if ratio is None or ratio < 4.5]
    assert not low, low
    dark = page.evaluate(
        "() => { const m = getComputedStyle(document.documentElement).backgroundColor"
        ".match(/\\d+/g).map(Number); return m[0] + m[1] + m[2] < 150; }"
    )
    assert dark == (scheme == "dark")
    page.screenshot(path=str(artifacts_dir() / f"ui-job-page-{scheme}.png"), full_page=True)

    listing = pages.open("/ui", scheme=scheme)
    listing.wait_for_selector("[data-testid=job-row]")
    ratios = listing.evaluate(CONTRAST_JS, _LIST_TEXT)
    low = [(selector, ratio) for selector, ratio in ratios if ratio is None or ratio < 4.5]
    assert not low, low

    # Switching the scheme with the page open redraws the plot in the other colours.
    before = _chart(page, "pareto-chart", "chart.options.scales.x.grid.color")
    page.emulate_media(color_scheme="light" if scheme == "dark" else "dark")
    page.wait_for_function(
        "c => Chart.getChart('pareto-chart') && "
        "Chart.getChart('pareto-chart').options.scales.x.grid.color !== c",
        arg=before,
    )


def test_infeasible_rows_best_first_toggle_and_the_test_accuracy_tooltip(
    pages: Pages, jobs: Jobs
) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}?rows=50")
    page.wait_for_selector("[data-testid=leaderboard-row]")
    mark = page.locator(".infeasible-mark").first
    mark.wait_for()
    assert mark.inner_text() == "✕ infeasible"
    assert (mark.get_attribute("aria-label") or "").startswith("infeasible")
    toggle = page.locator("#sort-reset")
    assert toggle.get_attribute("aria-pressed") == "true" and toggle.is_enabled()
    assert page.eval_on_selector("#sort-reset", "b => getComputedStyle(b).opacity") == "1"
    page.click("th[data-sort=macs] button")
    page.wait_for_function(
        "() => document.getElementById('sort-reset').getAttribute('aria-pressed') === 'false'"
    )
    title = page.get_attribute("[data-testid=test-acc-header]", "title") or ""
    assert "only for the chosen best model and the baselines" in title


# -- charts as tables --


def test_each_chart_has_a_keyboard_reachable_data_table(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.honest}")
    page.wait_for_function("() => document.getElementById('pareto-chart').dataset.points")
    wait_layers(page, 3)
    for details in ("pareto-table", "layers-table", "history-table", "importance-table"):
        assert page.locator(f"#{details} summary").inner_text() == "Show data as table"
    page.focus("#pareto-table summary")
    page.keyboard.press("Enter")
    rows = page.locator("#pareto-table tbody tr")
    rows.first.wait_for()
    points = int(page.get_attribute("#pareto-chart", "data-points") or 0)
    assert rows.count() == points
    page.focus("#layers-table summary")
    page.keyboard.press("Enter")
    page.locator("#layers-table tbody tr").first.wait_for()
