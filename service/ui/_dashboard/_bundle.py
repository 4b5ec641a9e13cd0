"""The dashboard's page and bundle, with the root paths they are built for pointed at the
mount (read from a ``<meta>`` tag of the page).

optuna-dashboard's standalone bundle is built for the root of a server: ``/static``,
``/api`` and the client routes under ``/dashboard`` are webpack constants, with no prefix
to set at run time, so both are served from here, edited; each edit is checked against the
release pinned in pyproject.toml.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import optuna_dashboard
from fastapi import Request, Response

__all__ = ["DASHBOARD_VERSION", "page", "script", "signed_out_page"]

DASHBOARD_VERSION: str = optuna_dashboard.__version__
_PACKAGE_DIR = Path(optuna_dashboard.__file__).resolve().parent
_BASE_META = "prunesearch-dashboard-base"
# The dashboard's own policy (optuna_dashboard._app, without an LLM provider): scripts and
# data from this origin only; WebGL plots need 'unsafe-eval'.
_CSP = ";".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "connect-src 'self'",
        "style-src 'self' data: 'unsafe-inline'",
        "script-src 'self' 'unsafe-eval'",
    ]
)


# (text, its replacement, how many times the pinned release has it)
_META_READ = f"document.querySelector('meta[name=\"{_BASE_META}\"]').content"
_BUNDLE_EDITS: tuple[tuple[str, str, int], ...] = (
    # The client's routes: /dashboard/studies/1 -> <mount>/studies/1.
    ('url_prefix:"/dashboard"', f"url_prefix:{_META_READ}", 1),
    # The API client's base URL (API_ENDPOINT, empty in the release): /api -> <mount>/api.
    ("this.baseURL=", f"this.baseURL={_META_READ}+", 1),
    # The trials' CSV download links.
    ("`/csv/", f"`${{{_META_READ}}}/csv/", 2),
    # Read-only: the study list's create, rename and delete buttons are not rendered
    # (`false && element` renders nothing; the server refuses the writes anyway).
    *(
        (
            f'(0,r.jsx)(xu,{{"aria-label":"{label} study"',
            f'!1&&(0,r.jsx)(xu,{{"aria-label":"{label} study"',
            1,
        )
        for label in ("rename", "delete")
    ),
    (
        '(0,r.jsx)(PT,{variant:"outlined",startIcon:(0,r.jsx)(N$,{}),onClick:()=>{u()}',
        '!1&&(0,r.jsx)(PT,{variant:"outlined",startIcon:(0,r.jsx)(N$,{}),onClick:()=>{u()}',
        1,
    ),
)
_SCRIPT_TAG = '<script defer src="/static/bundle.js"></script>'
_BODY_TAG = "<body>"
# The way back to the job's page, above the dashboard (inline styles: its CSP allows them).
_BACK_LINK = (
    '<a href="{href}" data-testid="back-to-job" style="position:fixed;left:12px;bottom:12px;'
    "z-index:2000;padding:6px 12px;border-radius:6px;background:#1d4ed8;color:#fff;"
    'font:600 14px system-ui,sans-serif;text-decoration:none;box-shadow:0 1px 4px #0006">'
    "\N{LEFTWARDS ARROW} Back to the job page</a>"
)


def _edit(text: str, edits: Iterable[tuple[str, str, int]], what: str) -> str:
    for old, new, count in edits:
        found = text.count(old)
        if found != count:
            raise RuntimeError(
                f"optuna-dashboard {DASHBOARD_VERSION}: its {what} has {found} of {old!r}, "
                f"expected {count}; this module knows the release pinned in pyproject.toml"
            )
        text = text.replace(old, new)
    return text


@cache
def _bundle() -> tuple[bytes, bytes, str]:
    """The bundle with its paths under the mount: plain, gzipped, and its ETag."""
    source = (_PACKAGE_DIR / "public" / "bundle.js").read_text(encoding="utf-8")
    body = _edit(source, _BUNDLE_EDITS, "bundle.js").encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return body, gzip.compress(body, compresslevel=6, mtime=0), etag


@cache
def _page_template() -> str:
    return (_PACKAGE_DIR / "index.html").read_text(encoding="utf-8")


def page(base: str, job_page: str) -> Response:
    """The dashboard's page for the mount ``base``, with a link back to ``job_page``."""
    quoted = html.escape(base, quote=True)
    tags = (
        f'<meta name="{_BASE_META}" content="{quoted}" />\n    '
        f'<script defer src="{quoted}/static/bundle.js"></script>'
    )
    back = _BACK_LINK.format(href=html.escape(job_page, quote=True))
    edits = [(_SCRIPT_TAG, tags, 1), (_BODY_TAG, f"{_BODY_TAG}\n    {back}", 1)]
    text = _edit(_page_template(), edits, "index.html")
    headers = {"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"}
    return Response(text, media_type="text/html; charset=utf-8", headers=headers)


def script(request: Request) -> Response:
    body, gzipped, etag = _bundle()
    # Private: the copy is per job address and behind auth; revalidated by ETag.
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        body = gzipped
    return Response(body, media_type="application/javascript", headers=headers)


def signed_out_page(job_page: str, detail: str) -> Response:
    """What a browser gets instead of the API's JSON 401 when it opens the dashboard signed
    out: a page that says so and leads to the job's page, which has the sign-in form."""
    href = html.escape(job_page, quote=True)
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · prunesearch</title>
<style>
  :root {{ color-scheme: light dark; font: 15px/1.5 system-ui, sans-serif; }}
  body {{ max-width: 34rem; margin: 4rem auto; padding: 0 1rem; }}
  a.button {{ display: inline-block; padding: 0.45rem 0.9rem; border-radius: 6px;
    background: #1d4ed8; color: #fff; text-decoration: none; font-weight: 600; }}
  .muted {{ opacity: 0.8; font-size: 0.9em; }}
</style></head>
<body>
  <h1>Sign in to see this job's dashboard</h1>
  <p>The Optuna dashboard of a job is shown to its owner only, and this browser is not
    signed in ({html.escape(detail)}).</p>
  <p><a class="button" data-testid="sign-in-link" href="{href}">Sign in on the job page</a></p>
  <p class="muted">Once signed in, the job page links back here.</p>
</body></html>
"""
    headers = {
        "Content-Security-Policy": _CSP,
        "Cache-Control": "no-store",
        "WWW-Authenticate": "Bearer",
    }
    return Response(text, status_code=401, media_type="text/html; charset=utf-8", headers=headers)
