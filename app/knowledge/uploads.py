"""Reading multipart uploads within limits (the body-size middleware caps the request as a whole)."""

from __future__ import annotations

from fastapi import UploadFile

from app.ingest.limits import RejectedFile
from app.knowledge.service import UploadRejected

READ_CHUNK = 1024 * 1024
MAX_FILES = 100


async def read_uploads(files: list[UploadFile], max_file_bytes: int) -> list[tuple[str, bytes]]:
    """(filename, bytes) per file; a file over the limit is refused without reading it all."""
    if len(files) > MAX_FILES:
        raise UploadRejected([RejectedFile("upload", f"more than {MAX_FILES} files in one request", 413)])
    uploads, rejections = [], []
    for upload in files:
        name = (upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload"
        data = bytearray()
        while chunk := await upload.read(READ_CHUNK):
            data.extend(chunk)
            if len(data) > max_file_bytes:
                rejections.append(
                    RejectedFile(name, f"larger than {max_file_bytes // (1024 * 1024)} MB", 413)
                )
                break
        else:
            uploads.append((name, bytes(data)))
    if rejections:
        raise UploadRejected(rejections)
    return uploads
