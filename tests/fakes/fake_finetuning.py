"""OpenAI's fine-tuning routes on the fake server: POST /files, POST /fine_tuning/jobs, GET a job and its
events, POST cancel. The base model picks the script: a model named "...fails..." fails after a step, one named
"...hangs..." runs until cancelled, any other succeeds after `steps` polls, as `ft:<base>:triptych:<n>`. A hostile
API: "...leaks..." fails with a reason that echoes the caller's key three ways, and "...echoes..." succeeds
with the key inside the fine-tuned model's name and its events."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class FakeFineTuning:
    steps: int = 3
    files: dict[str, bytes] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def routes(self) -> list[Route]:
        return [
            Route("/v1/files", self._upload, methods=["POST"]),
            Route("/v1/fine_tuning/jobs", self._create, methods=["POST"]),
            Route("/v1/fine_tuning/jobs/{job_id}", self._get, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}/events", self._events, methods=["GET"]),
            Route("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel, methods=["POST"]),
        ]

    async def _upload(self, request: Request) -> JSONResponse:
        async with request.form() as form:
            upload = form["file"]
            assert form.get("purpose") == "fine-tune"
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = await upload.read()  # type: ignore[union-attr]
        return JSONResponse({"id": file_id, "object": "file", "purpose": "fine-tune"})

    async def _create(self, request: Request) -> JSONResponse:
        body = await request.json()
        if body.get("training_file") not in self.files:
            return JSONResponse({"error": {"message": "training_file not found"}}, 400)
        job_id = f"ftjob-{next(self._ids)}"
        self.jobs[job_id] = {"body": body, "polls": 0, "status": "validating_files", "events": []}
        return JSONResponse({"id": job_id, "object": "fine_tuning.job", "status": "validating_files"})

    def _advance(self, job_id: str, key: str = "") -> dict[str, Any]:
        job = self.jobs[job_id]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        job["polls"] += 1
        model = str(job["body"]["model"])
        step = job["polls"]
        job["status"] = "running"
        job["events"].append(
            {"id": f"ev-{job_id}-{step}", "message": f"Step {step}/{self.steps}: training loss={2.0 / step:.3f}"}
        )
        if "leaks" in model:
            job["status"] = "failed"
            encoded = base64.b64encode(f"user:{key}".encode()).decode()
            job["error"] = {"message": f"bad credentials {key} ({key.upper()}) b64={encoded}"}
        elif "echoes" in model:
            job["events"].append({"id": f"ev-{job_id}-key", "message": f"Authorised with {key}"})
            job["status"] = "succeeded"
            job["fine_tuned_model"] = f"ft:{model}:{key}"
        elif "fails" in model:
            job["status"] = "failed"
            job["error"] = {"message": "The training file has too few examples"}
        elif "hangs" not in model and step >= self.steps:
            job["status"] = "succeeded"
            job["fine_tuned_model"] = f"ft:{model}:triptych:{job_id}"
        return job

    async def _get(self, request: Request) -> JSONResponse:
        job_id = request.path_params["job_id"]
        if job_id not in self.jobs:
            return JSONResponse({"error": {"message": "no such job"}}, 404)
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        job = self._advance(job_id, key)
        return JSONResponse(
            {
                "id": job_id,
                "status": job["status"],
                "model": job["body"]["model"],
                "fine_tuned_model": job.get("fine_tuned_model"),
                "error": job.get("error"),
            }
        )

    async def _events(self, request: Request) -> JSONResponse:
        job = self.jobs[request.path_params["job_id"]]
        return JSONResponse({"object": "list", "data": list(reversed(job["events"]))})

    async def _cancel(self, request: Request) -> JSONResponse:
        job_id = request.path_params["job_id"]
        self.jobs[job_id]["status"] = "cancelled"
        self.cancelled.append(job_id)
        return JSONResponse({"id": job_id, "status": "cancelled"})
