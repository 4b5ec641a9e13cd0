"""Artifacts on disk: a store addressed by generated ids, upload validators, and uploads
received (multipart, streamed into the store) and registered (checked, then their row).

>>> store = ArtifactStore(settings.artifact_dir)
>>> stored = store.save_stream(upload.file, max_bytes=settings.max_upload_bytes)
>>> check_weights(store.path(stored.id), settings.allow_pickle, name="model.safetensors")
>>> session.add(Artifact(id=stored.id, sha256=stored.sha256, path=stored.relpath, ...))
"""

from service.artifacts._checks import (
    DataInfo,
    WeightsInfo,
    check_data,
    check_weights,
    state_dict_from_pickle,
)
from service.artifacts._names import MAX_FILENAME_LENGTH, sanitize_filename
from service.artifacts._store import ArtifactStore, ArtifactWriter, StoredFile
from service.artifacts._uploads import (
    UPLOAD_KINDS,
    ReceivedFile,
    receive_upload,
    register_upload,
)

__all__ = [
    "MAX_FILENAME_LENGTH",
    "UPLOAD_KINDS",
    "ArtifactStore",
    "ArtifactWriter",
    "DataInfo",
    "ReceivedFile",
    "StoredFile",
    "WeightsInfo",
    "check_data",
    "check_weights",
    "receive_upload",
    "register_upload",
    "sanitize_filename",
    "state_dict_from_pickle",
]
