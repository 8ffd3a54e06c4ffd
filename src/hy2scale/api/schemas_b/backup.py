"""Models and the upload helper shared by restore and upgrade (raw body or multipart)."""

from __future__ import annotations

import email.parser
import email.policy

from fastapi import Request
from pydantic import BaseModel, Field

from hy2scale.api.deps import ApiError

# OpenAPI description of an archive upload: the raw bytes, or one file in a multipart form.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


class RestoreResult(BaseModel):
    status: str = "ok"
    kind: str  # "native" (our backup) or "original" (a Go hy2scale backup)
    files: int
    skipped: list[str] = Field(default_factory=list, description="original-backup files not used")


async def read_upload(request: Request, limit: int) -> bytes:
    """The uploaded file: the body itself, or the first file part of a multipart form (413 past ``limit``)."""
    chunks: list[bytes] = []
    total = 0
    # Multipart framing adds a little; the file inside is checked against ``limit`` again by the caller.
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit + 64 * 1024:
            raise ApiError(413, f"upload larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    body = b"".join(chunks)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/"):
        return _limited(body, limit)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
    )
    if not message.is_multipart():
        raise ApiError(400, "malformed multipart body")
    for part in message.iter_parts():
        if part.get_filename() is not None or part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return _limited(payload if isinstance(payload, bytes) else b"", limit)
    raise ApiError(400, "no file in the multipart body")


def _limited(data: bytes, limit: int) -> bytes:
    if len(data) > limit:
        raise ApiError(413, f"upload larger than {limit // (1024 * 1024)} MiB")
    if not data:
        raise ApiError(400, "empty upload")
    return data
