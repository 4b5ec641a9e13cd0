"""What the browser tests share: Debian's Chromium driven by Playwright, signing in, the
reads of the page they all make, and a WCAG contrast probe.

Needs ``/usr/bin/chromium`` and the ``playwright`` package (its own browser download is never
used): bash .ci/setup installs both. Without them the tests skip, or fail where the
environment variable CI is set. Pictures the tests take go to $PRUNESEARCH_TEST_ARTIFACTS
(default test-artifacts/ at the repository root). The ``browser`` and ``pages`` fixtures
are in conftest.py.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from tests.service.factories import LiveApi

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_MS = 30_000
PHONE: ViewportSize = {"width": 375, "height": 780}
DESKTOP: ViewportSize = {"width": 1360, "height": 900}
Scheme = Literal["light", "dark"]


def require_browser() -> None:
    """Skip (fail under CI) when Chromium or Playwright is missing, saying how to get them."""
    missing = []
    if not CHROMIUM.is_file():
        missing.append("Chromium at /usr/bin/chromium (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright for Python (pip install playwright)")
    if not missing:
        return
    message = (
        "the browser tests need "
        + " and ".join(missing)
        + "; bash .ci/setup installs both (never run `playwright install`: the Debian "
        "Chromium is used)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("PRUNESEARCH_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page: Page, live: LiveApi) -> None:
    response = page.request.post(f"{live.url}/ui/session", data={"api_key": live.token})
    assert response.ok


def leaderboard_rows(page: Page) -> list[int]:
    """The trial numbers of the leaderboard's rows, top to bottom."""
    numbers = page.eval_on_selector_all(
        "[data-testid=leaderboard-row]", "rows => rows.map(r => Number(r.dataset.number))"
    )
    return [int(n) for n in numbers]


def wait_layers(page: Page, number: int) -> int:
    """Wait for candidate ``number``'s layers chart; its number of layers."""
    page.wait_for_function(
        "n => document.getElementById('layers-chart').dataset.number === String(n)",
        arg=number,
    )
    return int(page.eval_on_selector("#layers-chart", "c => Chart.getChart(c).data.labels.length"))


class Pages:
    """Opens pages in fresh browser contexts (a viewport, a colour scheme), signed in, and
    checks at the end that none had a script error."""

    def __init__(self, browser: Browser, live: LiveApi) -> None:
        self.browser = browser
        self.live = live
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def open(
        self, path: str, *, viewport: ViewportSize = DESKTOP, scheme: Scheme = "light"
    ) -> Page:
        context = self.browser.new_context(viewport=viewport, color_scheme=scheme)
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        sign_in(page, self.live)
        page.goto(self.live.url + path)
        return page


# The contrast of each element's text on the first opaque background behind it (WCAG 2).
CONTRAST_JS = """selectors => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const lum = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  return selectors.map((selector) => {
    const node = document.querySelector(selector);
    if (!node) return [selector, null];
    const fg = lum(parse(getComputedStyle(node).color));
    const bg = lum(background(node));
    return [selector, (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05)];
  });
}"""
