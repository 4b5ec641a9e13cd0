"""The job page's per-layer views in headless Chromium (issue 12, item 6): the sensitivity
curves (one line per group, the unpruned accuracy as reference, the most sensitive first
with "show all", a focusable table that highlights a curve) and the heatmap of the top
candidates' keep ratios (legend, values as text and in a title, a table alternative), on a
phone without sideways scrolling of the page and legible in both colour schemes.

Jobs are written straight into the database (no search runs), as test_ui_job_page.py does;
the sensitivity curves in the shape search stores them (prune ratios and accuracy drops)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from service.db import Database
from service.models import JobStatus
from tests.service.browser import CONTRAST_JS, PHONE, Pages, Scheme, artifacts_dir, require_browser
from tests.service.factories import LiveApi, add_candidates, candidate_row, live_api, make_job
from tests.service.test_ui_job_page import OWNER, REFERENCE

if TYPE_CHECKING:
    from playwright.sync_api import Page

N_GROUPS = 12
LAYERS = [f"features.{i}" for i in range(N_GROUPS)]
N_SEARCH = 20
TOP = 10  # js/layers.js: TOP_CANDIDATES
SHOWN = 8  # js/layers.js: TOP_GROUPS
# Group i loses (i + 1)% at keep 0.75, twice at 0.5, four times at 0.25: the last is the
# most sensitive.
STORED = {
    "reference_accuracy": 0.95,
    "ratios": [0.25, 0.5, 0.75],
    "groups": {
        name: [0.01 * (i + 1), 0.02 * (i + 1), 0.04 * (i + 1)] for i, name in enumerate(LAYERS)
    },
}


@dataclass(frozen=True)
class Jobs:
    measured: str  # finished: curves in its result, 23 candidates with ratios on 12 layers
    queued: str  # no study yet: no curves


def _ratios(number: int) -> dict[str, float]:
    return {name: round(((number * 7 + i * 3) % 10) / 10, 2) for i, name in enumerate(LAYERS)}


def _measured(session: Any) -> str:
    job = make_job(
        session,
        OWNER,
        status=JobStatus.SUCCEEDED,
        name="layers",
        reference=REFERENCE,
        result={"best": {"number": 3}, "sensitivity": STORED},
        trials_planned=N_SEARCH + 3,
        trials_done=N_SEARCH + 3,
    )
    final = {"state": "complete", "fidelity": "final", "feasible": True}
    rows = [
        candidate_row(job.id, 0, kind="uniform", accuracy=0.90, ratios=_ratios(0), **final),
        candidate_row(job.id, 1, kind="global", accuracy=0.91, ratios=_ratios(1), **final),
        candidate_row(job.id, 2, kind="sensitivity", accuracy=0.92, ratios=_ratios(2), **final),
    ]
    for n in range(3, N_SEARCH + 3):
        # Search candidates outrank every baseline: the baselines come after the top 10.
        rows.append(candidate_row(job.id, n, accuracy=0.99 - n / 1000, ratios=_ratios(n), **final))
    add_candidates(session, rows)
    return job.id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    require_browser()
    with live_api(tmp_path_factory.mktemp("ui-layers"), owner=OWNER) as server:
        yield server


@pytest.fixture(scope="module")
def jobs(live: LiveApi) -> Jobs:
    database = Database(live.database_url)
    try:
        with database.sessions() as session:
            return Jobs(measured=_measured(session), queued=make_job(session, OWNER).id)
    finally:
        database.dispose()


def _curves(page: Page) -> list[str]:
    return page.eval_on_selector(  # type: ignore[no-any-return]
        "#sensitivity-chart",
        "c => Chart.getChart(c).data.datasets.filter((d) => d.group).map((d) => d.group)",
    )


def _wait_views(page: Page) -> None:
    page.wait_for_function("() => document.getElementById('sensitivity-chart').dataset.groups")
    page.wait_for_selector("[data-testid=heatmap-grid] tbody tr")


def test_sensitivity_curves_most_sensitive_first_with_show_all_and_a_reference(
    pages: Pages, jobs: Jobs
) -> None:
    page = pages.open(f"/ui/jobs/{jobs.measured}")
    _wait_views(page)
    most_sensitive = LAYERS[::-1]
    assert _curves(page) == most_sensitive[:SHOWN]
    first = page.eval_on_selector(
        "#sensitivity-chart",
        "c => { const d = Chart.getChart(c).data.datasets; "
        "return [d[0].data.map((p) => [p.x, p.y]), d[d.length - 1].label, d[d.length - 1].data]; }",
    )
    points, reference_label, reference_line = first
    # features.11 loses 12, 24 and 48 points at keep 0.75, 0.5, 0.25; unpruned first.
    assert [x for x, _ in points] == [1.0, 0.75, 0.5, 0.25]
    assert [round(y, 4) for _, y in points] == [0.95, 0.83, 0.71, 0.47]
    assert reference_label == "unpruned model 95.0 %"
    assert {p["y"] for p in reference_line} == {0.95}
    assert "8 most sensitive of 12" in page.inner_text("#sensitivity-note")

    toggle = page.locator("[data-testid=sensitivity-all]")
    assert toggle.inner_text() == "Show all 12 groups"
    toggle.click()
    assert _curves(page) == most_sensitive
    assert toggle.get_attribute("aria-pressed") == "true"
    toggle.click()
    assert len(_curves(page)) == SHOWN


def test_the_sensitivity_table_is_keyboard_reachable_and_highlights_a_curve(
    pages: Pages, jobs: Jobs
) -> None:
    page = pages.open(f"/ui/jobs/{jobs.measured}")
    _wait_views(page)
    page.focus("#sensitivity-table summary")
    page.keyboard.press("Enter")
    rows = page.locator("#sensitivity-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == N_GROUPS  # every group, shown or not
    assert rows.first.locator("th").inner_text() == "features.11"
    assert rows.first.locator("td").all_inner_texts() == [
        "95.0 %",
        "83.0 %",
        "71.0 %",
        "47.0 %",
        "28.0 %",
    ]
    page.keyboard.press("Tab")  # from the summary to the first row
    assert page.evaluate("() => document.activeElement.dataset.group") == "features.11"
    highlighted = page.get_attribute("#sensitivity-chart", "data-highlighted")
    widths = page.eval_on_selector(
        "#sensitivity-chart",
        "c => Chart.getChart(c).data.datasets.filter((d) => d.group).map((d) => d.borderWidth)",
    )
    assert highlighted == "features.11" and widths[0] > max(widths[1:])
    assert "selected" in (rows.first.get_attribute("class") or "")


def test_a_job_not_measured_yet_says_so_and_draws_no_empty_plot(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.queued}")
    message = page.locator("[data-testid=sensitivity-message]")
    message.wait_for()
    assert "does not exist yet" in message.inner_text()
    assert page.eval_on_selector("#sensitivity-chart", "c => Chart.getChart(c) === undefined")
    assert page.is_hidden("[data-testid=sensitivity-all]")
    page.wait_for_function(
        "() => document.getElementById('heatmap').textContent.includes('No candidates yet')"
    )


def test_the_heatmap_of_the_top_candidates_and_the_baselines(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.measured}")
    _wait_views(page)
    rows = page.locator("[data-testid=heatmap-grid] tbody tr")
    numbers = [int(n) for n in rows.evaluate_all("rs => rs.map((r) => r.dataset.number)")]
    assert numbers == [*range(3, 3 + TOP), 0, 1, 2]  # by rank, then the baselines
    headers = page.locator("[data-testid=heatmap-grid] thead th.layer").all_inner_texts()
    assert headers == LAYERS
    cell = rows.nth(0).locator("td").nth(4)  # candidate 3, features.4: prune 0.3
    assert cell.inner_text() == "70"
    assert cell.get_attribute("title") == "#3, features.4: keeps 70.0 %"
    assert rows.nth(TOP).locator("th").inner_text() == "#0 uniform"
    href = rows.nth(0).locator("th a").get_attribute("href") or ""
    assert href.endswith("candidate=3")
    legend = page.locator("[data-testid=heatmap-legend]")
    assert "keep ratio" in legend.inner_text() and legend.locator("[role=img]").count() == 1

    page.click("#heatmap-table summary")
    table = page.locator("#heatmap-table tbody tr")
    table.first.wait_for()
    assert table.count() == N_GROUPS
    assert table.nth(4).locator("td").first.inner_text() == "70.0 %"


def test_on_a_phone_the_page_never_scrolls_sideways(pages: Pages, jobs: Jobs) -> None:
    page = pages.open(f"/ui/jobs/{jobs.measured}", viewport=PHONE)
    _wait_views(page)
    page.click("#sensitivity-table summary")
    page.click("#heatmap-table summary")
    page.locator("#heatmap-table tbody tr").first.wait_for()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    # The heatmap scrolls inside its own box, which the keyboard can reach.
    wrap = page.locator(".heat-wrap")
    assert (
        wrap.evaluate("w => w.scrollWidth > w.clientWidth")
        and wrap.get_attribute("tabindex") == "0"
    )
    box = page.locator("#sensitivity-card").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    page.locator("#sensitivity-card").screenshot(
        path=str(artifacts_dir() / "ui-sensitivity-phone.png")
    )
    page.locator("#heatmap-card").screenshot(path=str(artifacts_dir() / "ui-heatmap-phone.png"))


_TEXT = [
    "#sensitivity-title",
    "#sensitivity-note",
    "#sensitivity-card .note",
    "#sensitivity-all",
    "#sensitivity-table summary",
    "#sensitivity-table caption",
    "#sensitivity-table tbody th",
    "#sensitivity-table tbody td",
    "#heatmap-title",
    ".heat-legend span",
    "table.heatmap caption",
    "table.heatmap thead th",
    "table.heatmap tbody th a",
    "#heatmap-table summary",
]

# Every heatmap cell's own contrast (its text on its colour).
_CELLS_JS = """() => [...document.querySelectorAll('td.heat')].map((td) => {
  const rgb = (c) => c.match(/\\d+/g).slice(0, 3).map(Number);
  const ch = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
  const s = getComputedStyle(td);
  const a = lum(rgb(s.color)), b = lum(rgb(s.backgroundColor));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_in_both_schemes(pages: Pages, jobs: Jobs, scheme: Scheme) -> None:
    page = pages.open(f"/ui/jobs/{jobs.measured}", scheme=scheme)
    _wait_views(page)
    page.click("#sensitivity-table summary")
    page.locator("#sensitivity-table tbody tr").first.wait_for()
    ratios = page.evaluate(CONTRAST_JS, _TEXT)
    low = [(selector, ratio) for selector, ratio in ratios if ratio is None or ratio < 4.5]
    assert not low, low
    cells = page.evaluate(_CELLS_JS)
    assert len(cells) == (TOP + 3) * N_GROUPS and min(cells) >= 4.5, min(cells)
    page.locator("#sensitivity-card").screenshot(
        path=str(artifacts_dir() / f"ui-sensitivity-{scheme}.png")
    )
    page.locator("#heatmap-card").screenshot(path=str(artifacts_dir() / f"ui-heatmap-{scheme}.png"))
