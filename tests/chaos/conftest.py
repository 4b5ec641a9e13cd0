"""Fixtures of the chaos suite: one deployment for the session (tests/chaos/cluster.py),
healed before each test, and an API key in its database."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

from tests.chaos.cluster import Cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    deployment = Cluster(tmp_path_factory.mktemp("chaos"))
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def healed(cluster: Cluster) -> Cluster:
    """The whole deployment, up again after whatever the previous test broke."""
    cluster.heal()
    return cluster


@pytest.fixture(scope="session")
def headers(cluster: Cluster) -> dict[str, str]:
    from service.auth import create_key
    from service.db import Database

    database = Database(cluster.postgres.url)
    try:
        with database.session() as session:
            token = create_key(session, "chaos")
    finally:
        database.dispose()
    return {"Authorization": f"Bearer {token}"}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing chaos test shows the tails of the process logs."""
    report: pytest.TestReport = yield
    if report.failed and call.when in ("setup", "call"):
        deployment = getattr(item, "funcargs", {}).get("healed")
        if isinstance(deployment, Cluster):
            report.sections.append(("process logs", deployment.tails()))
    return report
