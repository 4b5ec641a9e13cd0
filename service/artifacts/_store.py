"""A filesystem store addressed by generated ids: ``<root>/<id[:2]>/<id>``.

Writes are atomic: bytes go to a temp file inside the store (same filesystem), hashed as
they arrive, fsynced, then renamed into place. The caller commits the database row only
after that, so a row never points at a half-written file; a crash leaves at worst an
orphan temp file or an unreferenced file, never a corrupt artifact.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Self, cast

from pruning import AtomicFile
from service.exceptions import NotFound, UploadTooLarge
from service.models import new_id

__all__ = ["ArtifactStore", "ArtifactWriter", "StoredFile"]

_ID = re.compile(r"[0-9a-f]{32}")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    """A file now in the store; ``relpath`` is relative to the store's root."""

    id: str
    sha256: str
    size: int
    relpath: str


class ArtifactStore:
    """Files by id under ``root`` (created if missing). Ids are generated here, never
    taken from a user, and are checked before any path is built from them."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def writer(self, *, max_bytes: int) -> ArtifactWriter:
        """An incremental writer (for chunks that arrive from an async request body)."""
        return ArtifactWriter(self, max_bytes=max_bytes)

    def save_stream(self, source: Iterable[bytes] | BinaryIO, *, max_bytes: int) -> StoredFile:
        """Store the bytes of ``source`` (chunks, or a binary file read in 1 MiB pieces).

        Raises:
            UploadTooLarge: More than ``max_bytes`` arrived; nothing is left on disk.
        """
        # A binary file is iterable too, but by lines: read it in fixed pieces instead.
        chunks: Iterable[bytes] = (
            _chunks(cast(BinaryIO, source)) if hasattr(source, "read") else source
        )
        with self.writer(max_bytes=max_bytes) as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def path(self, artifact_id: str) -> Path:
        """The file of ``artifact_id``; NotFound if the id is malformed or has no file."""
        path = self.root / self.relpath(artifact_id)
        if not path.is_file():
            raise NotFound(f"no artifact file {artifact_id!r}")
        return path

    def open(self, artifact_id: str) -> BinaryIO:
        return self.path(artifact_id).open("rb")

    def delete(self, artifact_id: str) -> bool:
        """Remove the file of ``artifact_id``; False if there was none (deleting twice is
        harmless, so a retried cleanup does not fail)."""
        try:
            (self.root / self.relpath(artifact_id)).unlink()
        except (FileNotFoundError, NotFound):
            return False
        return True

    def remove_stale_temp(self, older_than_s: float = 86400.0) -> int:
        """Delete temp files a crashed write left behind; returns how many. The workers'
        sweeper calls it (through ``SqlJobStore.remove_stale_temp_files``)."""
        cutoff = time.time() - older_than_s
        removed = 0
        for leftover in self._tmp.glob("upload-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another sweeper got there first
        return removed

    @staticmethod
    def relpath(artifact_id: str) -> str:
        """``<id[:2]>/<id>``: fans files out over 256 folders, for ids of our own making."""
        if not _ID.fullmatch(artifact_id):
            raise NotFound(f"no artifact {artifact_id!r} (not an artifact id)")
        return f"{artifact_id[:2]}/{artifact_id}"


class ArtifactWriter:
    """Receives one file's bytes; :meth:`commit` moves it into place. Leaving the ``with``
    block without committing (an error, a client gone) deletes what was written."""

    def __init__(self, store: ArtifactStore, *, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self._store = store
        self._max_bytes = max_bytes
        self._size = 0
        self._hash = hashlib.sha256()
        self._pending = AtomicFile(store._tmp, prefix="upload-")
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("this writer is closed")
        self._size += len(chunk)
        if self._size > self._max_bytes:
            self.abort()
            raise UploadTooLarge(
                f"upload exceeds the size limit of {_human(self._max_bytes)}; nothing was stored"
            )
        self._hash.update(chunk)
        self._pending.file.write(chunk)

    def commit(self) -> StoredFile:
        """fsync, then rename into place under a fresh id (the rename is atomic)."""
        if self._done:
            raise RuntimeError("this writer is closed")
        artifact_id = new_id()
        relpath = self._store.relpath(artifact_id)
        target = self._store.root / relpath
        try:
            target.parent.mkdir(exist_ok=True)
        except BaseException:
            self.abort()
            raise
        self._pending.commit(target)  # removes the temporary file if it fails
        self._done = True
        return StoredFile(artifact_id, self._hash.hexdigest(), self._size, relpath)

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._pending.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.abort()


def _chunks(stream: BinaryIO) -> Iterable[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _human(size: int) -> str:
    mib = size / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{size} bytes"
