"""/v1/artifacts: upload weights or data (streamed, size-limited, checked), read metadata."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from starlette.concurrency import run_in_threadpool

from service.api.deps import ArtifactsDep, OwnerDep, SessionDep, SettingsDep
from service.api.schemas import ArtifactOut, error_responses
from service.artifacts import receive_upload, register_upload
from service.models import Artifact, get_owned

router = APIRouter(prefix="/artifacts", tags=["artifacts"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"type": "string", "enum": ["weights", "data"]},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ArtifactOut,
    responses=error_responses(400, 413),
    openapi_extra=_UPLOAD_BODY,
    summary="Upload weights (safetensors, state dict) or data (npz, safetensors)",
)
async def upload_artifact(
    request: Request,
    owner: OwnerDep,
    session: SessionDep,
    settings: SettingsDep,
    artifacts: ArtifactsDep,
) -> Artifact:
    """Multipart: ``file`` and ``kind`` (``weights`` or ``data``). The file is streamed to
    disk with the size limit and hashed on the way; its row exists only once it is checked
    and in place. Pickled modules are refused unless the operator allows them."""
    upload = await receive_upload(
        request.headers, request.stream(), artifacts, settings.max_upload_bytes
    )
    return await run_in_threadpool(register_upload, session, artifacts, settings, owner, upload)


@router.get("/{artifact_id}", response_model=ArtifactOut, responses=error_responses(404))
def get_artifact(artifact_id: str, owner: OwnerDep, session: SessionDep) -> Artifact:
    """An artifact's metadata (yours only: another owner's id answers 404)."""
    return get_owned(session, Artifact, artifact_id, owner)
