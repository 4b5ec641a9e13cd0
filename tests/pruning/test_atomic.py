"""The one server-side atomic write: temp file beside the target, fsync, rename, fsync dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import pruning._atomic as atomic_module
from pruning import AtomicFile, atomic_path


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What was fsynced, in order: "file" or "dir"."""
    synced: list[str] = []
    real = os.fsync

    def fsync(descriptor: int) -> None:
        real(descriptor)
        mode = os.fstat(descriptor).st_mode
        synced.append("dir" if stat.S_ISDIR(mode) else "file")

    monkeypatch.setattr(atomic_module.os, "fsync", fsync)  # type: ignore[attr-defined]
    return synced


def test_a_path_writer_commits_the_whole_file_then_syncs_the_folder(
    tmp_path: Path, fsynced: list[str]
) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # readers see the old file until the rename
    assert target.read_bytes() == b"new"
    assert fsynced == ["file", "dir"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_an_error_leaves_the_target_as_it_was_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "policy.json"
    target.write_text("old")

    def write_half() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        write_half()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["policy.json"]


def test_a_streamed_file_moves_from_a_scratch_folder_on_commit(
    tmp_path: Path, fsynced: list[str]
) -> None:
    scratch, final = tmp_path / ".tmp", tmp_path / "ab"
    scratch.mkdir()
    final.mkdir()
    with AtomicFile(scratch, prefix="upload-") as pending:
        assert pending.path.name.startswith("upload-")
        pending.file.write(b"chunk 1, ")
        pending.file.write(b"chunk 2")
        assert pending.commit(final / "abc") == final / "abc"
    assert (final / "abc").read_bytes() == b"chunk 1, chunk 2"
    assert list(scratch.iterdir()) == []
    assert fsynced == ["file", "dir"]
    with pytest.raises(RuntimeError, match="already committed"):
        pending.commit(final / "again")


def test_leaving_without_commit_removes_the_temporary_file(tmp_path: Path) -> None:
    with AtomicFile(tmp_path) as pending:
        pending.file.write(b"abandoned")
    assert list(tmp_path.iterdir()) == []
    pending.abort()  # twice is harmless
