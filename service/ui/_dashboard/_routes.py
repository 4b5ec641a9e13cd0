"""The allow-list: what answers a path below the mount, for one study, or 404."""

from __future__ import annotations

import re
from typing import Literal, cast

from service.exceptions import NotFound

__all__ = ["Target", "route"]

_CLIENT_ROUTE = re.compile(r"/studies/(\d+)(?:/[A-Za-z-]+)?|/compare-studies|")
_API_ROUTE = re.compile(r"/api/studies/(\d+)(?:/param_importances|/plot/[a-z_]+)?|/csv/(\d+)")
_PLAIN_ROUTES = frozenset({"/api/meta", "/api/studies", "/static/bundle.js.LICENSE.txt"})

Target = Literal["page", "script", "app"]


def route(path: str, study_id: int) -> Target:
    """What answers ``path`` (below the mount) of the dashboard of study ``study_id``.

    Raises:
        NotFound: not a read route of the dashboard, or one naming another study.
    """
    path = "/" + path.strip("/")
    if path == "/static/bundle.js":
        return "script"
    if path in _PLAIN_ROUTES:
        return "app"
    for pattern, target in ((_CLIENT_ROUTE, "page"), (_API_ROUTE, "app")):
        match = pattern.fullmatch(path.rstrip("/"))
        if match is not None:
            named = next((group for group in match.groups() if group is not None), None)
            if named is not None and int(named) != study_id:
                raise NotFound(f"study {named} is not this job's study (its study is {study_id})")
            return cast(Target, target)
    raise NotFound(f"{path!r} is not a page or read route of the job's dashboard")
