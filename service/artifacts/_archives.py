"""Zip containers (``.npz``, torch's zip checkpoints) bounded after decompression too.

The upload limit counts compressed bytes: a 1 MB ``.npz`` can inflate to gigabytes, and
loading it to check it would take the API's memory with it. So before anything loads a
zip, its members are bounded three ways: the sizes its headers declare; the bytes that
actually come out while every member is inflated (headers can lie); and, for ``.npy``
members, the array their own header declares (numpy allocates that before reading).
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from service.exceptions import ArtifactError, UploadTooLarge

__all__ = ["ZIP_MAGICS", "check_unpacked_size"]

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_CHUNK = 1 << 20
_NPY_HEADER_MAX = 10_000  # numpy's own default limit on an .npy header


def check_unpacked_size(path: Path, *, label: str, max_bytes: int) -> None:
    """Refuse the zip at ``path`` if it inflates to more than ``max_bytes`` in all.

    Raises:
        UploadTooLarge: by its headers, by what inflating it yields, or by the arrays its
            ``.npy`` members declare (413; the caller deletes the file).
        ArtifactError: a corrupt zip (bad CRC, truncated, unknown compression).
    """
    limit = f"the limit of {max_bytes / 2**20:g} MiB (PRUNESEARCH_MAX_UNPACKED_MB)"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            declared = sum(member.file_size for member in members)
            if declared > max_bytes:
                raise UploadTooLarge(
                    f"{label} unpacks to {_mib(declared)} by its zip headers, over {limit}; "
                    "nothing was stored"
                )
            inflated = 0
            for member in members:
                with archive.open(member) as stream:
                    if member.filename.endswith(".npy"):
                        inflated += _npy_header(stream, label, member.filename, max_bytes)
                    while chunk := stream.read(_CHUNK):
                        inflated += len(chunk)
                        if inflated > max_bytes:
                            raise UploadTooLarge(
                                f"{label} inflates to more than {limit} (more than its zip "
                                "headers declare); nothing was stored"
                            )
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise ArtifactError(f"{label} is a corrupt zip file: {exc}") from exc


def _npy_header(stream: IO[bytes], label: str, name: str, max_bytes: int) -> int:
    """Read ``name``'s .npy header; the bytes read. Refuse an array declared over the limit."""
    start = stream.tell()
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(
                stream, max_header_size=_NPY_HEADER_MAX
            )
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(
                stream, max_header_size=_NPY_HEADER_MAX
            )
    except (ValueError, SyntaxError, TypeError) as exc:
        raise ArtifactError(f"{label}: member {name} is not a valid .npy array ({exc})") from exc
    size = math.prod(shape) * dtype.itemsize
    if size > max_bytes:
        raise UploadTooLarge(
            f"{label}: member {name} declares an array of {_mib(size)}, over the limit of "
            f"{max_bytes / 2**20:g} MiB (PRUNESEARCH_MAX_UNPACKED_MB); nothing was stored"
        )
    return stream.tell() - start


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"
