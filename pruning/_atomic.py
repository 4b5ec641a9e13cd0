"""Atomic file writes on the server side: a reader sees the old file or the whole new one.

The one recipe, for bundles, artifacts and cached reference weights alike: write a
temporary file on the same filesystem, flush and fsync it, ``os.replace`` it onto the
target, then fsync the folder so that the rename itself survives a power cut. An error
before the rename removes the temporary file and leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Self

__all__ = ["AtomicFile", "atomic_path", "fsync_dir"]


class AtomicFile:
    """A temporary file in ``folder`` that becomes its target on :meth:`commit`.

    Bytes go through :attr:`file` (or a writer that takes :attr:`path`); leaving a ``with``
    block without committing (an error, a client gone) removes the temporary file.
    ``folder`` must be on the target's filesystem (its folder, or a scratch folder beside
    it), so that the rename is atomic.
    """

    def __init__(self, folder: str | os.PathLike[str], *, prefix: str = ".tmp-") -> None:
        handle, name = tempfile.mkstemp(dir=folder, prefix=prefix)
        self.path = Path(name)
        self.file: BinaryIO = os.fdopen(handle, "wb")
        self._done = False

    def commit(self, target: str | os.PathLike[str]) -> Path:
        """fsync, rename onto ``target``, fsync its folder; returns ``target``."""
        if self._done:
            raise RuntimeError("this file is already committed or aborted")
        target = Path(target)
        try:
            self.file.close()
            # fsync through a fresh descriptor: writers given :attr:`path` wrote through theirs.
            with open(self.path, "rb") as written:
                os.fsync(written.fileno())
            os.replace(self.path, target)
            fsync_dir(target.parent)
        except BaseException:
            self.abort()
            raise
        self._done = True
        return target

    def abort(self) -> None:
        """Remove the temporary file (nothing to do once committed)."""
        if self._done:
            return
        self._done = True
        self.file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.abort()  # nothing to do once committed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target`` for a writer that takes a path (safetensors,
    ONNX); committed onto ``target`` when the block succeeds, removed when it raises."""
    target = Path(target)
    with AtomicFile(target.parent, prefix=f".{target.name}.") as pending:
        yield pending.path
        pending.commit(target)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a folder: makes the creation, rename or removal of its entries durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
