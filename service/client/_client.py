"""``Client``: the REST API of DESIGN.md from Python, typed, over httpx."""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, BinaryIO, Literal, Self, TypeVar

import httpx
import yaml
from pydantic import BaseModel, ValidationError

from service.client._compare import Comparison
from service.client._errors import (
    ClientError,
    RequestTimeout,
    TransportError,
    UnexpectedAnswer,
    WaitTimeout,
    error_from_response,
)
from service.client._insights import CandidateDetail, History, Importance, JobPoints
from service.client._models import (
    ArtifactInfo,
    ArtifactKind,
    BestInfo,
    CandidateKind,
    JobInfo,
    JobPage,
    JobStatus,
    LeaderboardPage,
    ModelFormat,
)

__all__ = ["DEFAULT_URL", "KEY_ENV", "URL_ENV", "Client", "ExportFormat", "SpecLike"]

DEFAULT_URL = "http://127.0.0.1:8000"  # where `prunesearch serve` listens by default
URL_ENV = "PRUNESEARCH_URL"
KEY_ENV = "PRUNESEARCH_API_KEY"
# A job spec: a mapping, a pydantic model (search.SearchSpec), or a YAML file's path.
SpecLike = Mapping[str, Any] | BaseModel | str | os.PathLike[str]

_M = TypeVar("_M", bound=BaseModel)
ExportFormat = Literal["csv", "json"]
_EXPORT_PAGE = 1000  # the API's largest page
_CHUNK = 1024 * 1024
_MEMBER_NAMES = {"onnx": "model.onnx", "safetensors": "model.safetensors"}
# Polls of wait() that may fail in a row (a server restarting) before the error is raised.
_WAIT_RETRIES = 3


class Client:
    """A prunesearch API at ``base_url``, authenticated with ``api_key`` (a bearer token).

    >>> with Client("http://127.0.0.1:8000", "ps_...") as client:
    ...     job = client.submit("examples/digits-small-cnn.yaml")
    ...     job = client.wait(job.id, on_progress=lambda j: print(j.progress.trials_done))
    ...     client.download(job.id, "best/")

    Every method raises a :class:`ClientError`: an :class:`HTTPStatusError` of the class
    the status names, with the API's message (and field), for a 4xx/5xx answer; a
    :class:`TransportError` (``status=None``) when the server cannot be reached.
    ``transport`` replaces httpx's (tests, proxies, ``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> Client:
        """A client for ``PRUNESEARCH_URL`` (default http://127.0.0.1:8000) with the key in
        ``PRUNESEARCH_API_KEY`` (none: for a server with auth off)."""
        # The one place that reads the environment; everything else takes arguments.
        env = os.environ if environ is None else environ
        url = env.get(URL_ENV) or DEFAULT_URL
        return cls(url, env.get(KEY_ENV) or None, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- artifacts --

    def upload(self, path: str | os.PathLike[str], kind: ArtifactKind) -> ArtifactInfo:
        """Upload weights (safetensors, state dict) or data (npz, safetensors)."""
        source = Path(path)
        try:
            handle = source.open("rb")
        except OSError as exc:
            raise ClientError(f"cannot read {source}: {exc.strerror or exc}") from exc
        with handle:
            files = {"file": (source.name, handle, "application/octet-stream")}
            response = self._request("POST", "/v1/artifacts", files=files, data={"kind": kind})
        return _parse(ArtifactInfo, response)

    def artifact(self, artifact_id: str) -> ArtifactInfo:
        return _parse(ArtifactInfo, self._request("GET", f"/v1/artifacts/{artifact_id}"))

    # -- jobs --

    def submit(self, spec: SpecLike, *, idempotency_key: str | None = None) -> JobInfo:
        """Validate and queue a job. With ``idempotency_key``, repeating the call returns the
        first job instead of starting a second one."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        body = spec_document(spec)
        return _parse(JobInfo, self._request("POST", "/v1/jobs", json=body, headers=headers))

    def job(self, job_id: str) -> JobInfo:
        return _parse(JobInfo, self._request("GET", f"/v1/jobs/{job_id}"))

    def jobs(self, status: JobStatus | None = None, limit: int = 20, offset: int = 0) -> JobPage:
        """Your jobs, newest first."""
        params = _params(status=status, limit=limit, offset=offset)
        return _parse(JobPage, self._request("GET", "/v1/jobs", params=params))

    def cancel(self, job_id: str) -> JobInfo:
        """Ask a job to stop (its running trials stop at the next epoch); a job already over
        raises :class:`Conflict` (409)."""
        return _parse(JobInfo, self._request("DELETE", f"/v1/jobs/{job_id}"))

    def wait(
        self,
        job_id: str,
        *,
        poll_s: float = 2.0,
        timeout: float | None = None,
        on_progress: Callable[[JobInfo], object] | None = None,
    ) -> JobInfo:
        """Poll the job every ``poll_s`` seconds until it is final, and return it then
        (succeeded, failed or cancelled: look at ``.status`` and ``.error``).

        ``on_progress`` gets the job after each poll. A few failed polls in a row are
        tolerated (a server restarting); ``timeout`` seconds without an end raise
        :class:`WaitTimeout` (status None).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        failures = 0
        while True:
            try:
                job = self.job(job_id)
                failures = 0
            except ClientError as exc:
                failures += 1
                if exc.is_client_side or failures > _WAIT_RETRIES:
                    raise
            else:
                if on_progress is not None:
                    on_progress(job)
                if job.is_final:
                    return job
            pause = poll_s
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(f"job {job_id} did not end within {timeout:g} s")
                pause = min(poll_s, left)
            time.sleep(pause)

    # -- results --

    def leaderboard(
        self,
        job_id: str,
        *,
        feasible: bool | None = None,
        kind: CandidateKind | None = None,
        pareto: bool | None = None,
        sort: str = "rank",
        order: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> LeaderboardPage:
        """Candidates best first (or by ``sort``: see the API's /docs), filtered and paged."""
        params = _params(
            feasible=feasible,
            kind=kind,
            pareto=pareto,
            sort=sort,
            order=order,
            limit=limit,
            offset=offset,
        )
        response = self._request("GET", f"/v1/jobs/{job_id}/leaderboard", params=params)
        return _parse(LeaderboardPage, response)

    def export_leaderboard(
        self,
        job_id: str,
        *,
        path: str | os.PathLike[str] | BinaryIO,
        format: ExportFormat = "csv",
        feasible: bool | None = None,
        kind: CandidateKind | None = None,
        pareto: bool | None = None,
        sort: str = "rank",
        order: str | None = None,
    ) -> None:
        """Write every candidate matching the filters, in the leaderboard's order, to
        ``path`` (a file name, written atomically; or a binary file object such as
        ``sys.stdout.buffer``). ``csv``: the server's streamed CSV (a header line, the JSON
        items' columns); ``json``: a JSON array of the items, fetched 1000 at a time."""
        params = _params(feasible=feasible, kind=kind, pareto=pareto, sort=sort, order=order)
        route = f"/v1/jobs/{job_id}/leaderboard"

        def write(out: BinaryIO) -> None:
            if format == "csv":
                self._stream(route, {**params, "format": "csv"}, out)
            else:
                self._write_json_items(route, params, out)

        if isinstance(path, str | os.PathLike):
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(target, write)
        else:
            write(path)

    def _write_json_items(self, route: str, params: Mapping[str, Any], out: BinaryIO) -> None:
        # Page by page: never more than one page of items in memory.
        out.write(b"[")
        offset = 0
        while True:
            page = {**params, "limit": _EXPORT_PAGE, "offset": offset}
            body = self._request("GET", route, params=page).json()
            for item in body["items"]:
                out.write((b",\n" if offset else b"\n") + json.dumps(item).encode())
                offset += 1
            if not body["items"] or offset >= body["total"]:
                break
        out.write(b"\n]\n")

    def best(self, job_id: str) -> BestInfo:
        """The best candidate (final once the job succeeded), its gains over the baselines."""
        return _parse(BestInfo, self._request("GET", f"/v1/jobs/{job_id}/best"))

    # -- the job page's data --

    def points(self, job_id: str) -> JobPoints:
        """Every candidate as a point (by trial number), the reference, the budget."""
        return _parse(JobPoints, self._request("GET", f"/v1/jobs/{job_id}/points"))

    def candidate(self, job_id: str, number: int) -> CandidateDetail:
        """Candidate ``number`` with its policy per prunable layer (channels kept)."""
        response = self._request("GET", f"/v1/jobs/{job_id}/candidates/{number}")
        return _parse(CandidateDetail, response)

    def history(self, job_id: str) -> History:
        """The study's trials in order, each with its value and the best so far."""
        return _parse(History, self._request("GET", f"/v1/jobs/{job_id}/history"))

    def importance(self, job_id: str) -> Importance:
        """Parameter importances (PED-ANOVA, as the dashboard), or an empty list and the
        reason; ``warning`` says when there are too few trials to rank."""
        return _parse(Importance, self._request("GET", f"/v1/jobs/{job_id}/importance"))

    def compare(self, job_ids: Sequence[str]) -> Comparison:
        """Two to ten of your jobs side by side: each one's reference, budget, baselines,
        Pareto front (and its stage) and best candidate with its kept channels per layer."""
        params = {"jobs": ",".join(job_ids)}
        return _parse(Comparison, self._request("GET", "/v1/compare", params=params))

    def download(
        self,
        job_id: str,
        dest: str | os.PathLike[str],
        *,
        format: ModelFormat = "bundle",
        candidate: int | None = None,
    ) -> Path:
        """Write the best model (or candidate ``candidate``'s) to ``dest``; return where it is.

        Only the chosen model's weights are kept: any candidate but the best of a succeeded
        job raises :class:`Conflict`, whose detail says why.

        ``bundle``: ``dest`` is a folder; the bundle's files (model.safetensors, policy.json,
        report.json, model.onnx when exported) are extracted into it, ready for
        ``pruning.load_bundle(dest, factory)``. ``onnx``/``safetensors``: ``dest`` is the
        file, or a folder to put model.onnx/model.safetensors in. Everything is streamed to
        a temporary file and renamed into place, so ``dest`` never holds half a download.
        """
        target = Path(dest)
        path = f"/v1/jobs/{job_id}/best/model"
        if candidate is not None:
            path = f"/v1/jobs/{job_id}/candidates/{candidate}/model"
        if format == "bundle":
            created = not target.exists()
            target.mkdir(parents=True, exist_ok=True)
            try:
                with tempfile.TemporaryDirectory(dir=target, prefix=".download-") as scratch:
                    archive = Path(scratch) / "bundle.zip"
                    with archive.open("wb") as out:
                        self._stream(path, {"format": format}, out)
                    _extract(archive, target, Path(scratch) / "unpacked")
            except BaseException:
                if created and not any(target.iterdir()):
                    target.rmdir()  # a refused download (a 409, a 404) leaves no empty folder
                raise
            return target
        if target.is_dir():
            target = target / _MEMBER_NAMES[format]
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(target, lambda out: self._stream(path, {"format": format}, out))
        return target

    # -- transport --

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._transport_errors(method, path):
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise error_from_response(response)
        return response

    def _stream(self, path: str, params: Mapping[str, str], out: Any) -> None:
        with (
            self._transport_errors("GET", path),
            self._http.stream("GET", path, params=params) as response,
        ):
            if response.is_error:
                response.read()
                raise error_from_response(response)
            for chunk in response.iter_bytes(_CHUNK):
                out.write(chunk)

    @contextmanager
    def _transport_errors(self, method: str, path: str) -> Iterator[None]:
        """httpx's transport failures as ClientErrors that say what to check."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise RequestTimeout(
                f"{method} {path}: no answer from {self.base_url} within {self._timeout:g} s"
            ) from exc
        except httpx.TransportError as exc:
            raise TransportError(
                f"cannot reach the prunesearch API at {self.base_url} ({exc or type(exc).__name__})"
                f": is the server running (`prunesearch serve`), and does {URL_ENV} point at it?"
            ) from exc


def spec_document(spec: SpecLike) -> Any:
    """The JSON body for ``spec``; the server validates it (and names any field at fault)."""
    if isinstance(spec, BaseModel):
        return spec.model_dump(mode="json")
    if isinstance(spec, Mapping):
        return dict(spec)
    path = Path(spec)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ClientError(f"cannot read spec {path}: {exc}") from exc


def _params(**values: object) -> dict[str, Any]:
    # None means "no filter": leave it out rather than send the string "None".
    return {key: value for key, value in values.items() if value is not None}


def _parse(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise UnexpectedAnswer(
            f"unexpected answer to {response.request.method} {response.request.url.path} "
            f"(is {response.request.url.host} a prunesearch API of this version?): {exc}",
            status=response.status_code,
        ) from exc


def _atomic_write(target: Path, write: Callable[[Any], None]) -> None:
    """Write through ``write`` to a temporary file beside ``target``, fsync, then rename.

    The server's writes use :class:`pruning.AtomicFile`; the client writes to a user's disk
    and must not import torch (which ``pruning`` does), so it keeps this one."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
        dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
    )
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _extract(archive: Path, dest: Path, scratch: Path) -> None:
    """Unpack a bundle zip into ``dest``: every member checked to stay inside, unpacked
    beside it first, then each file renamed into place."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = [info for info in bundle.infolist() if not info.is_dir()]
            for info in members:
                _check_member(info.filename)
            bundle.extractall(scratch, members=members)
    except zipfile.BadZipFile as exc:
        raise ClientError(f"the downloaded bundle is not a valid zip file: {exc}") from exc
    for info in members:
        final = dest / info.filename
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch / info.filename, final)


def _check_member(name: str) -> None:
    # A zip names its own paths: refuse any that would land outside the folder.
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or "\\" in name or ".." in parts or ":" in parts[0]:
        raise ClientError(f"the downloaded bundle holds an unsafe path {name!r}; not extracted")
