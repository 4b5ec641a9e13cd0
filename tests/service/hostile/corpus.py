"""Hostile inputs, generated at test time (no binaries in the repository).

Each :class:`Upload` is a file a hostile user could send to POST /v1/artifacts, with the
statuses the API may answer and a phrase the message must contain; each :class:`Body`
a JSON body for POST /v1/jobs. Pickles, when unpickled, create the ``marker`` file: the
tests assert it never appears (nothing executed).
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests.service.factories import SPEC, spec

__all__ = [
    "BOMB_LIMIT_MB",
    "Body",
    "Upload",
    "bodies",
    "bomb_uploads",
    "filename_uploads",
    "malformed_multipart",
    "multipart",
    "pickle_uploads",
]

# The API under test allows 1 MiB uploads, so 2 MiB unpacked: every bomb below inflates
# past that while staying small on the wire and cheap to build.
BOMB_LIMIT_MB = 1
_BOMB_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Upload:
    name: str
    filename: str
    payload: bytes
    kind: str  # the form's kind: weights or data
    statuses: tuple[int, ...]
    says: str  # a phrase the error message must contain (case-insensitive)


@dataclass(frozen=True)
class Body:
    name: str
    content: bytes
    status: int
    says: str
    field: str | None = None


class _Payload:
    """Unpickling this creates ``marker``: what a hostile pickle would do, harmlessly."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        code = f"open({str(self.marker)!r}, 'w').close()"
        return (exec, (code,))


# -- malicious pickles, in every container torch.load and np.load read --


def pickle_uploads(marker: Path) -> list[Upload]:
    evil = _Payload(marker)
    refused = (422,)
    uploads = []
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        raw = pickle.dumps(evil, protocol=protocol)
        uploads.append(Upload(f"plain-pickle-p{protocol}", "model.pt", raw, "weights", refused, ""))
        uploads.append(
            Upload(f"plain-pickle-p{protocol}-as-data", "d.npz", raw, "data", refused, "")
        )
    zipped = _torch_save({"weight": torch.zeros(2), "evil": evil})
    legacy = _torch_save({"evil": evil}, zipped=False)
    uploads += [
        Upload("torch-zip", "model.pt", zipped, "weights", refused, "pickled python object"),
        Upload("torch-zip-as-data", "d.npz", zipped, "data", refused, ""),
        Upload("torch-legacy", "model.pth", legacy, "weights", refused, "pickled python object"),
        Upload("torch-zip-named-safetensors", "m.safetensors", zipped, "weights", refused, ""),
        Upload("npz-object-array", "d.npz", _npz_object_array(evil), "data", refused, "object"),
        Upload(
            "npz-object-array-as-weights", "w.pt", _npz_object_array(evil), "weights", refused, ""
        ),
        Upload("npy-object-array", "d.npy", _npy_object_array(evil), "data", refused, ""),
        Upload(
            "safetensors-header-then-pickle",
            "m.safetensors",
            _fake_safetensors(evil),
            "weights",
            refused,
            "safetensors",
        ),
    ]
    return uploads


def _torch_save(obj: Any, *, zipped: bool = True) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=zipped)
    return buffer.getvalue()


def _npz_object_array(evil: _Payload) -> bytes:
    objects = np.empty(1, dtype=object)
    objects[0] = evil
    buffer = io.BytesIO()
    np.savez(buffer, x_train=objects, y_train=np.zeros(1, dtype=np.int64))
    return buffer.getvalue()


def _npy_object_array(evil: _Payload) -> bytes:
    objects = np.empty(1, dtype=object)
    objects[0] = evil
    buffer = io.BytesIO()
    np.save(buffer, objects, allow_pickle=True)
    return buffer.getvalue()


def _fake_safetensors(evil: _Payload) -> bytes:
    # A safetensors-looking start (length, "{") whose "header" is followed by a pickle.
    header = b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'
    return struct.pack("<Q", len(header) + 999) + header + pickle.dumps(evil)


# -- zip and npz bombs --


def bomb_uploads() -> list[Upload]:
    too_large = (413,)
    zeros = np.zeros(_BOMB_BYTES // 4, dtype=np.float32)
    labels = np.zeros(zeros.size // 64, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=zeros.reshape(-1, 1, 8, 8), y_train=labels)
    npz_bomb = buffer.getvalue()
    state = _torch_save({"weight": torch.zeros(_BOMB_BYTES // 4)})
    return [
        Upload("npz-bomb", "d.npz", npz_bomb, "data", too_large, "unpack"),
        Upload("torch-zip-bomb", "m.pt", _deflated(state), "weights", too_large, "unpack"),
        Upload("npz-many-members", "d.npz", _many_members(), "data", too_large, "unpack"),
        Upload(
            "npy-header-declares-4-tib", "d.npz", _lying_npy_header(), "data", too_large, "declares"
        ),
        Upload("zip-header-understates", "d.npz", _understated(npz_bomb), "data", (413, 422), ""),
    ]


def _deflated(archive: bytes) -> bytes:
    """``archive``'s members, recompressed with deflate (torch writes them stored)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            target.writestr(member.filename, source.read(member), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _many_members() -> bytes:
    # Each member alone is small; together they pass the limit.
    out = io.BytesIO()
    member = np.zeros(2**20 // 4, dtype=np.float32)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for index in range(_BOMB_BYTES // 2**20):
            with archive.open(f"x_{index}.npy", "w") as stream:
                np.save(stream, member)
    return out.getvalue()


def _lying_npy_header() -> bytes:
    # An .npy header declaring 2**40 float32 values, followed by eight bytes: numpy would
    # allocate the declared 4 TiB before reading.
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, dtype=np.float32))
    header["shape"] = (2**40,)
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    stream.write(b"\0" * 8)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x_train.npy", stream.getvalue())
        archive.writestr("y_train.npy", _npy(np.zeros(1, dtype=np.int64)))
    return out.getvalue()


def _understated(archive: bytes) -> bytes:
    """``archive`` with every size in its headers rewritten to 1 KiB (a lie)."""
    data = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = data.find(signature)
        while start != -1:
            struct.pack_into("<I", data, start + offset, 1024)
            start = data.find(signature, start + 4)
    return bytes(data)


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


# -- file names --


def filename_uploads(payload: bytes) -> list[Upload]:
    """Path traversal, control characters and absurd lengths, on a valid data file."""
    bad = (400, 422)
    names = {
        "dot-dot": "../../etc/passwd",
        "absolute": "/etc/passwd",
        "windows-drive": "C:\\Windows\\system32\\evil.npz",
        "backslash-traversal": "..\\..\\evil.npz",
        "dot": ".",
        "dot-dot-alone": "..",
        "escape-sequence": "\x1b[31mred.npz",
        "bidi-override": "evil\u202egpj.npz",
        "tab": "a\tb.npz",
        "nul": "a\x00b.npz",
        "unc-path": "\\\\server\\share\\evil.npz",
        "5000-characters": "a" * 5000 + ".npz",
        "300-characters": "a" * 300 + ".npz",
        "blank": "   ",
    }
    says = {"5000-characters": "longer than 4 KiB", "300-characters": "255 characters"}
    return [
        Upload(f"name-{key}", name, payload, "data", bad, says.get(key, "file name"))
        for key, name in names.items()
    ]


# -- multipart bodies, written byte by byte (a client library would escape the names) --

BOUNDARY = "hostile-boundary-1f3c"


def multipart(filename: str, payload: bytes, kind: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of an upload whose file name goes out as raw UTF-8."""
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"').encode()
    body = b"".join(
        [
            f"--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="kind"\r\n\r\n',
            kind.encode(),
            f"\r\n--{BOUNDARY}\r\n".encode(),
            b'Content-Disposition: form-data; name="file"; filename="' + quoted + b'"\r\n',
            b"Content-Type: application/octet-stream\r\n\r\n",
            payload,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        ]
    )
    return {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}, body


def malformed_multipart(payload: bytes) -> dict[str, tuple[str, bytes]]:
    """Broken multipart bodies: name -> (Content-Type, body)."""
    headers, good = multipart("d.npz", payload, "data")
    content_type = headers["Content-Type"]
    part = f"--{BOUNDARY}\r\n".encode()
    return {
        "truncated": (content_type, good[: len(good) // 2]),
        "no-closing-boundary": (content_type, good[: good.rindex(b"\r\n--")]),
        "garbage": (content_type, b"this is not multipart at all"),
        "bad-header-line": (content_type, part + b"no colon here\r\n\r\nx\r\n"),
        "other-boundary": ("multipart/form-data; boundary=other", good),
        "no-boundary": ("multipart/form-data", good),
        "empty-boundary": ('multipart/form-data; boundary=""', good),
        "empty-body": (content_type, b""),
        "not-multipart": ("application/json", b'{"kind": "data"}'),
        "header-of-8-kib": (content_type, part + b"X-Long: " + b"a" * 8192 + b"\r\n\r\n"),
        "many-headers": (content_type, part + b"X-A: 1\r\n" * 100 + b"\r\nx\r\n"),
        "unknown-field": (
            content_type,
            part
            + b'Content-Disposition: form-data; name="evil"\r\n\r\nx\r\n--'
            + BOUNDARY.encode()
            + b"--\r\n",
        ),
        "file-without-filename": (
            content_type,
            part
            + b'Content-Disposition: form-data; name="file"\r\n\r\nx\r\n--'
            + BOUNDARY.encode()
            + b"--\r\n",
        ),
        "huge-kind-field": (
            content_type,
            part
            + b'Content-Disposition: form-data; name="kind"\r\n\r\n'
            + b"k" * 5000
            + b"\r\n--"
            + BOUNDARY.encode()
            + b"--\r\n",
        ),
    }


# -- JSON bodies for POST /v1/jobs: huge, deep, extreme numbers, NUL --


def bodies(max_spec_kb: int) -> list[Body]:
    def with_value(section: str, field: str, literal: str) -> bytes:
        # The spec as JSON with one value spelled as ``literal`` (not expressible in Python).
        marker = "__VALUE__"
        text = _json(spec(**{section: {field: marker}}))
        return text.replace(f'"{marker}"', literal).encode()

    deep: Any = {}
    node = deep
    for _ in range(40):
        node["k"] = {}
        node = node["k"]
    deep_spec = spec(model={"kwargs": deep})
    huge_name = _json({**SPEC, "name": "x" * (max_spec_kb * 1024 + 1)}).encode()
    return [
        Body(
            "n-trials-1e30",
            with_value("search", "n_trials", "1" + "0" * 30),
            422,
            "out of range",
            "search.n_trials",
        ),
        Body(
            "n-trials-400-digits",
            with_value("search", "n_trials", "9" * 400),
            422,
            "out of range",
            "search.n_trials",
        ),
        Body("int-of-5000-digits", with_value("search", "seed", "7" * 5000), 422, "not valid JSON"),
        Body(
            "n-trials-2-63",
            with_value("search", "n_trials", str(2**63)),
            422,
            "out of range",
            "search.n_trials",
        ),
        Body(
            "n-trials-negative",
            with_value("search", "n_trials", "-1"),
            422,
            "greater than or equal to 3",
            "search.n_trials",
        ),
        Body(
            "lr-infinity", with_value("finetune", "lr", "Infinity"), 422, "Infinity", "finetune.lr"
        ),
        Body(
            "lr-minus-infinity",
            with_value("finetune", "lr", "-Infinity"),
            422,
            "Infinity",
            "finetune.lr",
        ),
        Body("lr-nan", with_value("finetune", "lr", "NaN"), 422, "NaN", "finetune.lr"),
        Body("lr-1e400", with_value("finetune", "lr", "1e400"), 422, "too large", "finetune.lr"),
        Body(
            "max-macs-minus-1e400",
            with_value("budget", "max_macs", "-1e400"),
            422,
            "too large",
            "budget.max_macs",
        ),
        Body(
            "lr-1e-400",
            with_value("finetune", "lr", "1e-400"),
            422,
            "greater than 0",
            "finetune.lr",
        ),
        Body(
            "lr-1e308",
            with_value("finetune", "lr", "1e308"),
            422,
            "less than or equal to 10",
            "finetune.lr",
        ),
        Body("nul-in-name", _json({**SPEC, "name": "a\x00b"}).encode(), 422, "NUL", "name"),
        Body("nul-in-key", _json({**SPEC, "a\x00": 1}).encode(), 422, "NUL"),
        Body(
            "deep-kwargs",
            _json(deep_spec).encode(),
            422,
            "deeper",
            "model.kwargs.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k.k",
        ),
        Body("deep-arrays", b"[" * 20_000 + b"]" * 20_000, 422, "nested deeper"),
        Body("huge", huge_name, 413, "larger than"),
        Body("not-json", b"{nope", 422, "not valid JSON"),
        Body("not-utf8", b'{"name": "\xff\xfe"}', 422, "not valid JSON"),
        Body("empty", b"", 422, "empty"),
        Body("array", b"[]", 422, "dictionary"),
    ]


def _json(value: Any) -> str:
    import json

    return json.dumps(value)
