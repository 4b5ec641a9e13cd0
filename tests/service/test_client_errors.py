"""The client's exception tree: every exported name resolves, each error status of the real
app becomes its class, and every class is still a ClientError (``except ClientError`` works).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import service.client
from service.client import (
    BudgetUnreachable,
    Client,
    ClientError,
    Conflict,
    Forbidden,
    HTTPStatusError,
    NotFound,
    RequestRejected,
    RequestTimeout,
    ServerSideError,
    TooLarge,
    TransportError,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
    ValidationFailed,
    WaitTimeout,
)
from service.client._errors import error_from_response
from service.models import JobStatus
from tests.service.factories import SPEC, ApiEnv, api_env, make_job, spec

ERRORS = [
    BudgetUnreachable,
    Conflict,
    Forbidden,
    HTTPStatusError,
    NotFound,
    RequestRejected,
    RequestTimeout,
    ServerSideError,
    TooLarge,
    TransportError,
    Unauthorized,
    Unavailable,
    UnexpectedAnswer,
    ValidationFailed,
    WaitTimeout,
]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    root = tmp_path_factory.mktemp("client-errors")
    with api_env(f"sqlite:///{root / 'db.sqlite'}", root / "store") as e:
        yield e


def through_app(env: ApiEnv) -> httpx.MockTransport:
    """The client's requests answered by the real app (through its TestClient)."""

    def forward(request: httpx.Request) -> httpx.Response:
        answer = env.client.request(
            request.method,
            str(request.url.copy_with(scheme=None, netloc=None)),
            content=request.content,
            headers=request.headers,
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.MockTransport(forward)


@pytest.fixture
def client(env: ApiEnv) -> Iterator[Client]:
    token = env.key("carol")["Authorization"].removeprefix("Bearer ")
    with Client("http://api", token, transport=through_app(env)) as client:
        yield client


def test_every_exported_name_resolves() -> None:
    for name in service.client.__all__:
        assert getattr(service.client, name) is not None, name


def test_every_error_is_a_client_error_and_documented() -> None:
    drawing = service.client.__doc__ or ""
    for error in ERRORS:
        assert issubclass(error, ClientError)
        assert error.__name__ in service.client.__all__
        assert error.__name__ in drawing, f"{error.__name__} is not drawn in the docstring"


def test_an_unknown_job_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as caught:
        client.job("0123456789abcdef0123456789abcdef")
    assert caught.value.status == 404 and caught.value.is_client_side


def test_cancelling_a_finished_job_is_a_conflict(env: ApiEnv, client: Client) -> None:
    with env.session() as session:
        job = make_job(session, "carol", status=JobStatus.SUCCEEDED)
    with pytest.raises(Conflict) as caught:
        client.cancel(job.id)
    assert caught.value.status == 409


def test_a_wrong_key_is_unauthorized(env: ApiEnv) -> None:
    with (
        Client("http://api", "ps_not-a-key", transport=through_app(env)) as stranger,
        pytest.raises(Unauthorized) as caught,
    ):
        stranger.jobs()
    assert caught.value.status == 401


def test_a_bad_spec_fails_validation_naming_the_field(client: Client) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.submit(spec(budget={"bogus": 1}))
    assert not isinstance(caught.value, BudgetUnreachable)
    assert (caught.value.status, caught.value.field) == (422, "budget.bogus")


def test_an_unreachable_budget_says_the_smallest_figure(client: Client) -> None:
    with pytest.raises(BudgetUnreachable) as caught:
        client.submit(spec(budget={"max_macs": 0.001}))
    assert caught.value.field == "budget.max_macs"
    assert caught.value.smallest > 0


def test_a_spec_over_the_size_limit_is_too_large(env: ApiEnv, client: Client) -> None:
    with pytest.raises(TooLarge) as caught:
        client.submit({**SPEC, "name": "x" * (env.settings.max_spec_bytes + 1)})
    assert caught.value.status == 413


def answer(status: int, body: Any = None, **headers: str) -> httpx.Response:
    response = httpx.Response(status, json=body, headers=headers)
    response.read()
    return response


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, RequestRejected),
        (403, Forbidden),
        (405, HTTPStatusError),
        (415, RequestRejected),
        (500, ServerSideError),
        (502, ServerSideError),
    ],
)
def test_other_statuses_map_to_their_class(status: int, kind: type[HTTPStatusError]) -> None:
    error = error_from_response(answer(status, {"detail": "no", "field": None}))
    assert type(error) is kind
    assert (error.status, error.detail) == (status, "no")


def test_unavailable_says_when_to_retry() -> None:
    error = error_from_response(answer(503, {"detail": "db down"}, **{"Retry-After": "5"}))
    assert isinstance(error, Unavailable) and isinstance(error, ServerSideError)
    assert (error.status, error.retry_after, error.is_client_side) == (503, 5.0, False)
    assert error_from_response(answer(503)).retry_after is None


def test_no_answer_is_a_transport_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def stall(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with (
        Client("http://api", transport=httpx.MockTransport(refuse)) as client,
        pytest.raises(TransportError) as refused,
    ):
        client.jobs()
    with (
        Client("http://api", transport=httpx.MockTransport(stall)) as client,
        pytest.raises(RequestTimeout) as stalled,
    ):
        client.jobs()
    assert refused.value.status is None and stalled.value.status is None
    assert isinstance(stalled.value, TransportError)


def test_an_answer_of_another_shape_is_unexpected() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"nope": 1}))
    with (
        Client("http://api", transport=transport) as client,
        pytest.raises(UnexpectedAnswer) as caught,
    ):
        client.jobs()
    assert caught.value.status == 200
