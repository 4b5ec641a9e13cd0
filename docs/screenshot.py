"""Regenerates docs/images/job-page.png: the web page of a real finished job.

Runs a small search on this machine (a small CNN on scikit-learn's digits, 16 trials: under
a minute on two cores) on a live server (embedded execution, SQLite in a scratch folder,
auth on), signs in through the page's form in headless Chromium and photographs the job
page. Needs Debian's chromium and the playwright package (``bash .ci/setup``)::

    python docs/screenshot.py [--out docs/images/job-page.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

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
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUT = Path(__file__).resolve().parent / "images" / "job-page.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
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
                job = client.wait(client.submit(SPEC).id, poll_s=1, timeout=1800)
            print(f"job {job.id}: {job.status}")
            png = _photograph(base_url, token, job.id, args.chromium)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


def _photograph(base_url: str, token: str, job_id: str, chromium: str) -> bytes:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base_url}/ui")
        page.fill("#api-key", token)
        page.click("#signin-submit")
        page.click(f"[data-job-id='{job_id}'] [data-testid=job-link]")
        page.wait_for_selector("[data-testid=leaderboard-row]")
        page.wait_for_function("() => document.getElementById('layers-chart').dataset.number")
        page.wait_for_function(
            "() => Chart.getChart('importance-chart') "
            "|| !document.getElementById('importance-message').hidden"
        )
        png = page.screenshot(full_page=True)
        browser.close()
    return png


if __name__ == "__main__":
    main()
