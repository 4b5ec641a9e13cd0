"""Regenerates the README's pictures of the web page (docs/images/*.png) from real jobs.

Runs two small searches on this machine (a small CNN on scikit-learn's digits, 16 and 12
trials at two MACs budgets: a minute or two on two cores) on a live server (embedded
execution, SQLite in a scratch folder, auth on), signs in through the page's form in
headless Chromium and photographs: the first job's page (``job-page.png``), its per-layer
views (``job-layers.png``: sensitivity curves and the top candidates' keep ratios), the two
jobs compared (``compare.png``) and the job page at phone width (``job-page-phone.png``).
Each picture is a screen's worth, kept under 300 KB. Needs Debian's chromium and the
playwright package (``bash .ci/setup``)::

    python docs/screenshot.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, ViewportSize, sync_playwright

from service.app import create_app
from service.auth import create_key
from service.cli import serve_in_thread
from service.client import Client
from service.db import Database, migrate
from service.settings import Settings

__all__ = ["SPEC", "main"]

SPEC: dict[str, Any] = {
    "name": "digits-small-cnn",
    "model": {"zoo": "small_cnn", "kwargs": {"width": 16}, "pretrain_epochs": 10},
    "data": {"source": "digits", "val_fraction": 0.1, "seed": 0},
    "budget": {"max_macs": 0.3},
    "search": {"n_trials": 16, "seed": 0},
    "finetune": {"rung_candidates": 4, "rungs": 1, "rung_steps": 10, "final_epochs": 2},
}
# The job compared with SPEC's: the same model under a looser budget.
SECOND: dict[str, Any] = {
    **SPEC,
    "name": "digits-small-cnn-macs50",
    "budget": {"max_macs": 0.5},
    "search": {"n_trials": 12, "seed": 1},
}
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUT = Path(__file__).resolve().parent / "images"
MAX_BYTES = 300_000  # per picture: the README stays light
DESKTOP: ViewportSize = {"width": 1280, "height": 1000}
PHONE: ViewportSize = {"width": 390, "height": 844}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the folder of the pictures")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="prunesearch-screenshot-") as scratch:
        folder = Path(scratch)
        url = f"sqlite:///{folder / 'api.db'}"
        migrate(url)
        database = Database(url)
        with database.session() as session:
            token = create_key(session, "alice")
        database.dispose()
        settings = Settings(database_url=url, artifact_dir=folder / "store", broker_url=None)
        with serve_in_thread(create_app(settings)) as base_url:
            with Client(base_url, token) as client:
                ids = [client.submit(spec).id for spec in (SPEC, SECOND)]
                for job_id in ids:
                    job = client.wait(job_id, poll_s=1, timeout=1800)
                    print(f"job {job.id}: {job.status}")
            pictures = _photograph(base_url, token, ids, args.chromium)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, png in pictures.items():
        path = args.out / name
        path.write_bytes(png)
        print(f"wrote {path} ({len(png) // 1024} KiB)")
        if len(png) > MAX_BYTES:
            raise SystemExit(f"{path} is over {MAX_BYTES // 1000} KB: photograph less of it")


def _open_job(page: Page, job_id: str) -> None:
    """The job's page from the jobs list, once its plots, per-layer views and tables drew."""
    page.goto(page.url.split("/ui")[0] + "/ui")
    page.click(f"[data-job-id='{job_id}'] [data-testid=job-link]")
    page.wait_for_selector("[data-testid=leaderboard-row]")
    page.wait_for_function("() => document.getElementById('layers-chart').dataset.number")
    page.wait_for_function(
        "() => Chart.getChart('importance-chart') "
        "|| !document.getElementById('importance-message').hidden"
    )
    page.wait_for_function(
        "() => document.getElementById('sensitivity-chart').dataset.groups "
        "|| !document.getElementById('sensitivity-message').hidden"
    )
    page.wait_for_selector("[data-testid=heatmap] table, [data-testid=heatmap] p")


def _photograph(base_url: str, token: str, ids: list[str], chromium: str) -> dict[str, bytes]:
    pictures = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for viewport, phone in ((DESKTOP, False), (PHONE, True)):
            page = browser.new_page(viewport=viewport)
            page.goto(f"{base_url}/ui")
            page.fill("#api-key", token)
            page.click("#signin-submit")
            page.wait_for_selector(f"[data-job-id='{ids[0]}']")
            _open_job(page, ids[0])
            if phone:
                pictures["job-page-phone.png"] = page.screenshot()
                continue
            pictures["job-page.png"] = page.screenshot()
            top = page.locator("#sensitivity-card").bounding_box()
            bottom = page.locator("#heatmap-card").bounding_box()
            assert top is not None and bottom is not None
            clip = {
                "x": 0,
                "y": top["y"] - 8,
                "width": viewport["width"],
                "height": bottom["y"] + bottom["height"] - top["y"] + 16,
            }
            pictures["job-layers.png"] = page.screenshot(full_page=True, clip=clip)  # type: ignore[arg-type]
            page.goto(f"{base_url}/ui/compare?jobs={','.join(ids)}")
            page.wait_for_selector("#compare-body tr")
            page.wait_for_function("() => Chart.getChart('compare-chart')")
            pictures["compare.png"] = page.screenshot(full_page=True)
            page.close()
        browser.close()
    return pictures


if __name__ == "__main__":
    main()
