"""Uploads: a multipart body streamed into the artifact store as it arrives, then checked
and registered (the domain side of POST /v1/artifacts; the route only hands over the body).

FastAPI's ``UploadFile`` spools the whole body to a temporary file before the route runs,
so a size limit could only be checked afterwards. Here the body is parsed chunk by chunk:
the ``file`` part goes straight into an :class:`ArtifactWriter` (hashed as it is written,
refused the moment it passes the limit), then is fsynced and renamed; only then is the
file checked and its row committed. Anything that fails deletes what was written.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anyio import to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from sqlalchemy.orm import Session

from service.artifacts._checks import (
    DataInfo,
    WeightsInfo,
    check_data,
    check_weights,
    state_dict_from_pickle,
)
from service.artifacts._names import sanitize_filename
from service.artifacts._store import ArtifactStore, ArtifactWriter, StoredFile
from service.exceptions import ArtifactError, BadRequest, FieldError, UploadTooLarge
from service.models import Artifact, ArtifactKind
from service.settings import Settings

__all__ = ["UPLOAD_KINDS", "ReceivedFile", "receive_upload", "register_upload"]

UPLOAD_KINDS = (ArtifactKind.WEIGHTS, ArtifactKind.DATA)
_FIELDS = ("file", "kind")
_MAX_FIELD_BYTES = 1024
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small form fields
# python-multipart cuts C:\dir\x and \\host\x down to x (an IE6 workaround): seen in
# the raw header, such a name is refused as path-like, like any other.
_WINDOWS_PATH = re.compile(rb'filename="?([A-Za-z]:\\|\\\\)')


@dataclass
class ReceivedFile:
    """The uploaded file, now in the store, and the form's other fields."""

    stored: StoredFile
    filename: str
    fields: dict[str, str] = field(default_factory=dict)


async def receive_upload(
    headers: Mapping[str, str], body: AsyncIterable[bytes], store: ArtifactStore, max_bytes: int
) -> ReceivedFile:
    """Stream a multipart ``body`` (sent with ``headers``) into ``store``.

    Raises:
        UploadTooLarge: the file (or the declared body) exceeds ``max_bytes``.
        BadRequest: a body that is not well-formed multipart (400).
        FieldError: not multipart, no ``file`` part, an unknown or oversized field.
        ArtifactError: a path-like or otherwise unusable file name.
    """
    boundary = _boundary(headers.get("content-type", ""))
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + _MULTIPART_OVERHEAD:
        raise UploadTooLarge(
            f"upload of {int(declared)} bytes exceeds the size limit of "
            f"{max_bytes / 2**20:g} MiB; nothing was stored"
        )
    receiver = _Receiver(store, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in body:
            if chunk:
                # Off the event loop: the writer hashes and writes to disk.
                await to_thread.run_sync(parser.write, chunk)
        parser.finalize()
        if parser.state is not MultipartState.END:
            raise BadRequest(
                "the multipart body ends before its closing boundary; nothing was stored",
                field="file",
            )
        return receiver.result()
    except FormParserError as exc:
        receiver.abort()
        reason = str(exc)
        if "header size" in reason:  # the parser's own limit on a header line
            reason = "a part header, file name included, is longer than 4 KiB"
        raise BadRequest(
            f"the multipart body is malformed ({reason}); nothing was stored", field="file"
        ) from exc
    except BaseException:
        receiver.abort()
        raise


def register_upload(
    session: Session, store: ArtifactStore, settings: Settings, owner: str, upload: ReceivedFile
) -> Artifact:
    """Check the stored file for its ``kind`` and commit its row; on any error, delete it.

    Raises:
        FieldError: a missing or unknown ``kind``.
        ArtifactError: the file is corrupt, pickled code, or not the kind it claims.
    """
    stored = upload.stored
    try:
        kind = _kind(upload.fields.get("kind"))
        info = _check(store.path(stored.id), kind, upload.filename, settings)
        if isinstance(info, WeightsInfo) and info.format == "pickle":
            # Allowed by the operator, but the workers load weights_only: keep the state
            # dict, not the pickle (the row's sha256 and size are the converted file's).
            plain = state_dict_from_pickle(store.path(stored.id), name=upload.filename)
            stored = store.save_stream(io.BytesIO(plain), max_bytes=settings.max_upload_bytes)
            store.delete(upload.stored.id)
        artifact = Artifact(
            id=stored.id,
            owner=owner,
            kind=kind,
            filename=upload.filename,
            sha256=stored.sha256,
            size=stored.size,
            path=stored.relpath,
        )
        session.add(artifact)
        session.commit()
        return artifact
    except BaseException:
        session.rollback()
        store.delete(upload.stored.id)
        if stored is not upload.stored:
            store.delete(stored.id)
        raise


def _check(
    path: Path, kind: ArtifactKind, filename: str, settings: Settings
) -> WeightsInfo | DataInfo:
    unpacked = settings.max_unpacked_bytes
    try:
        if kind is ArtifactKind.WEIGHTS:
            return check_weights(
                path, settings.allow_pickle, name=filename, max_unpacked_bytes=unpacked
            )
        return check_data(path, name=filename, max_unpacked_bytes=unpacked)
    except ArtifactError as exc:
        if filename in str(exc):
            raise
        raise ArtifactError(f"{filename}: {exc}") from exc  # say which file it was


def _kind(value: str | None) -> ArtifactKind:
    choices = ", ".join(kind.value for kind in UPLOAD_KINDS)
    if value is None:
        raise FieldError(f"kind: missing form field (one of {choices})", field="kind")
    try:
        kind = ArtifactKind(value.strip())
    except ValueError:
        kind = None
    if kind not in UPLOAD_KINDS:
        raise FieldError(f"kind: {value!r} is not one of {choices}", field="kind")
    assert kind is not None
    return kind


def _boundary(content_type: str) -> bytes:
    media, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise FieldError(
            "send multipart/form-data with a 'file' part and a 'kind' field", field="file"
        )
    return boundary


class _Receiver:
    """The parser's callbacks: the ``file`` part into a writer, small fields into memory."""

    def __init__(self, store: ArtifactStore, max_bytes: int) -> None:
        self._store = store
        self._max_bytes = max_bytes
        self._writer: ArtifactWriter | None = None
        self._stored: StoredFile | None = None
        self._filename: str | None = None
        self._fields: dict[str, str] = {}
        self._header = (bytearray(), bytearray())
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._value = bytearray()

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header[0].extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header[1].extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def result(self) -> ReceivedFile:
        if self._stored is None or self._filename is None:
            raise FieldError("file: missing the file part", field="file")
        return ReceivedFile(self._stored, self._filename, dict(self._fields))

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()
        if self._stored is not None:
            self._store.delete(self._stored.id)

    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._value = bytearray()

    def _header_end(self) -> None:
        name, value = self._header
        self._headers[bytes(name).lower()] = bytes(value)
        name.clear()
        value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name not in _FIELDS or name in self._fields or (name == "file" and self._stored):
            raise FieldError(f"{name}: unknown or repeated form field", field=name or "file")
        self._name = name
        if name != "file":
            return
        if b"filename" not in options:
            raise FieldError("file: send the file as a file part (with a filename)", field="file")
        raw = self._headers.get(b"content-disposition", b"")
        filename = options[b"filename"].decode("utf-8", "replace")
        if _WINDOWS_PATH.search(raw):
            raise ArtifactError(
                f"file name {filename!r} was sent as a Windows path: send the bare file name"
            )
        self._filename = sanitize_filename(filename)
        self._writer = self._store.writer(max_bytes=self._max_bytes)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writer is not None:
            self._writer.write(data[start:end])
            return
        self._value.extend(data[start:end])
        if len(self._value) > _MAX_FIELD_BYTES:
            name = self._name or "kind"
            raise FieldError(f"{name}: longer than {_MAX_FIELD_BYTES} bytes", field=name)

    def _part_end(self) -> None:
        if self._writer is not None:
            self._stored = self._writer.commit()
            self._writer = None
        elif self._name is not None:
            self._fields[self._name] = self._value.decode("utf-8", "replace")
