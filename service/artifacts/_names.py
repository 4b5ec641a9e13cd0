"""Display names of uploads: kept for people to read, never used to build a path."""

from __future__ import annotations

import unicodedata

from service.exceptions import ArtifactError

__all__ = ["MAX_FILENAME_LENGTH", "sanitize_filename"]

MAX_FILENAME_LENGTH = 255


def sanitize_filename(name: str) -> str:
    """The display name for an upload called ``name``, or ArtifactError if it is unusable.

    Path-like names (``../x``, ``/etc/passwd``, ``C:\\x``, ``a/b``) are refused rather than
    cut down to their last part, so a client that sends one learns its mistake; so are
    empty names, ``.`` and ``..``, control characters and names over 255 characters.
    Surrounding whitespace is dropped and the name is NFC-normalised.
    """
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned or cleaned in {".", ".."}:
        raise ArtifactError(f"file name {name!r} is empty or a directory name")
    drive = len(cleaned) >= 2 and cleaned[1] == ":" and cleaned[0].isalpha()  # "C:x"
    if "/" in cleaned or "\\" in cleaned or drive:
        raise ArtifactError(f"file name {name!r} looks like a path: send the bare file name")
    if any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} for char in cleaned):
        raise ArtifactError(f"file name {name!r} contains control characters")
    if len(cleaned) > MAX_FILENAME_LENGTH:
        raise ArtifactError(f"file name is longer than {MAX_FILENAME_LENGTH} characters")
    return cleaned
