"""Parse untrusted files in a short-lived child process with memory and time limits.

A hostile PDF or HTML file can make a parser allocate without bound or spin; in a child process that
costs the child, never the server. The child gets an address-space cap and a CPU-time cap, and the parent
enforces a wall-clock timeout.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
from dataclasses import asdict

from app.ingest.extract import ExtractedDocument, extract_documents, kind_of
from app.ingest.limits import IngestLimits, RejectedFile

# Plain text needs no parser: it is decoded in-process, which saves a process start per file.
IN_PROCESS_KINDS = frozenset({"text", "markdown"})


def extract_safely(filename: str, data: bytes, limits: IngestLimits) -> list[ExtractedDocument]:
    """Like `extract_documents`, but PDF, HTML and zip parsing runs in a bounded child process."""
    if len(data) > limits.max_file_bytes:
        raise RejectedFile(filename, f"larger than {limits.max_file_bytes // (1024 * 1024)} MB", 413)
    if not data.strip():
        raise RejectedFile(filename, "the file is empty", 422)
    if kind_of(filename, data) in IN_PROCESS_KINDS:
        return extract_documents(filename, data, limits)
    payload = pickle.dumps((filename, data, limits))
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "app.ingest.sandbox"],
            input=payload,
            capture_output=True,
            timeout=limits.parse_timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RejectedFile(filename, f"parsing took longer than {limits.parse_timeout_s:.0f} s", 422) from exc
    if completed.returncode != 0:
        raise RejectedFile(filename, "the parser ran out of memory or crashed on this file", 422)
    result = json.loads(completed.stdout)
    if "rejected" in result:
        raise RejectedFile(filename, result["rejected"]["reason"], result["rejected"]["status_code"])
    return [ExtractedDocument(**doc) for doc in result["documents"]]


async def aextract_safely(filename: str, data: bytes, limits: IngestLimits) -> list[ExtractedDocument]:
    return await asyncio.to_thread(extract_safely, filename, data, limits)


def _child() -> None:
    import resource

    filename, data, limits = pickle.loads(sys.stdin.buffer.read())  # noqa: S301 - from our parent only
    resource.setrlimit(resource.RLIMIT_AS, (limits.parse_memory_bytes, limits.parse_memory_bytes))
    cpu = int(limits.parse_timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    try:
        docs = extract_documents(filename, data, limits)
        out: dict[str, object] = {"documents": [asdict(d) for d in docs]}
    except RejectedFile as exc:
        out = {"rejected": {"reason": exc.reason, "status_code": exc.status_code}}
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    _child()
