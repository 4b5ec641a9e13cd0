"""A reader for the IDX format of (Fashion-)MNIST, gzip-compressed."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from pruning.exceptions import DataError

# Third byte of the magic number -> element type; multi-byte types are big-endian.
_IDX_DTYPES: dict[int, np.dtype[np.generic]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx_gz(path: Path, *, ndim: int) -> npt.NDArray[np.generic]:
    """Read a gzip-compressed IDX file whose array must have ``ndim`` dimensions.

    The header is two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian uint32; the data follow in C order.

    Raises:
        DataError: The file cannot be read or decompressed, or its header or length is wrong.
    """
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataError(f"cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype = _IDX_DTYPES[raw[2]]
    if raw[3] != ndim:
        raise DataError(f"{path} holds a {raw[3]}-D array, expected {ndim}-D")
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise DataError(f"{path} is truncated (incomplete header)")
    dims = struct.unpack(f">{ndim}I", raw[4:offset])
    count = math.prod(dims)
    if len(raw) - offset != count * dtype.itemsize:
        raise DataError(
            f"{path} holds {len(raw) - offset} data bytes, its header {dims} says "
            f"{count * dtype.itemsize}: the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims)
