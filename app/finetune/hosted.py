"""The hosted backend: any OpenAI-compatible fine-tuning API (`POST /files`, `POST /fine_tuning/jobs`, polling
`GET /fine_tuning/jobs/{id}` and its events, `POST .../cancel`), through the model gateway: the URL is checked
at every call, and every string the API answers (failure reasons, events, the fine-tuned model's name) comes
back with the key redacted."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, ClassVar

from app.finetune.backends import JobEvents, JobSpec, Trained, TrainingFailed
from app.providers.base import EndpointConfig, ProviderError
from app.providers.gateway import ModelGateway

TERMINAL = ("succeeded", "failed", "cancelled")
# OpenAI's events say "Step 12/90: training loss=0.81" (and newer ones carry data.step / data.train_loss).
_STEP_MESSAGE = re.compile(r"Step (\d+)(?:/(\d+))?: training loss=([0-9.]+)")


class HostedFineTuning:
    name: ClassVar[str] = "openai"

    def __init__(self, gateway: ModelGateway, *, poll_s: float = 5.0):
        self.gateway = gateway
        self.poll_s = poll_s

    async def train(self, spec: JobSpec, events: JobEvents) -> Trained | None:
        endpoint = spec.endpoint
        if endpoint is None:
            raise TrainingFailed("a hosted job needs an endpoint")
        try:
            await self.gateway.check(endpoint)
        except ProviderError as exc:
            raise TrainingFailed(str(exc)) from None
        external_id = spec.external_id
        if external_id is None:
            external_id = await self._start(spec, endpoint)
            await events.started(total_steps=None, external_id=external_id)
        seen_events: set[str] = set()
        while True:
            if await events.cancelled():
                await self._request(endpoint, "POST", f"/fine_tuning/jobs/{external_id}/cancel")
                return None
            job = await self._request(endpoint, "GET", f"/fine_tuning/jobs/{external_id}")
            await self._relay_events(endpoint, external_id, seen_events, events)
            status = str(job.get("status", ""))
            if status == "succeeded":
                model = job.get("fine_tuned_model")
                if not isinstance(model, str) or not model:
                    raise TrainingFailed("the API says the job succeeded but names no fine-tuned model")
                return Trained(model, None, {"trained_tokens": job.get("trained_tokens")})
            if status == "failed":
                error = job.get("error") or {}
                message = error.get("message") if isinstance(error, dict) else None
                raise TrainingFailed(f"the hosted job failed: {message or 'no reason given'}"[:2000])
            if status == "cancelled":
                raise TrainingFailed("the hosted job was cancelled on the provider's side")
            await asyncio.sleep(self.poll_s)

    async def _start(self, spec: JobSpec, endpoint: EndpointConfig) -> str:
        training_file = await self._upload(endpoint, spec.train, f"triptych-job-{spec.job_id}-train.jsonl")
        body: dict[str, Any] = {
            "model": spec.base_model,
            "training_file": training_file,
            "suffix": f"triptych-{spec.job_id}",
            "hyperparameters": {"n_epochs": int(spec.hyperparameters.get("epochs", 3))},
        }
        if spec.validation:
            body["validation_file"] = await self._upload(
                endpoint, spec.validation, f"triptych-job-{spec.job_id}-validation.jsonl"
            )
        created = await self._request(endpoint, "POST", "/fine_tuning/jobs", json=body)
        job_id = created.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise TrainingFailed("the API accepted the job but returned no id")
        return job_id

    async def _upload(self, endpoint: EndpointConfig, rows: Any, filename: str) -> str:
        content = "".join(json.dumps({"messages": m}, ensure_ascii=False) + "\n" for m in rows).encode()
        uploaded = await self._request(
            endpoint,
            "POST",
            "/files",
            data={"purpose": "fine-tune"},
            files={"file": (filename, content, "application/jsonl")},
        )
        file_id = uploaded.get("id")
        if not isinstance(file_id, str) or not file_id:
            raise TrainingFailed("the API accepted the upload but returned no file id")
        return file_id

    async def _relay_events(
        self, endpoint: EndpointConfig, external_id: str, seen: set[str], events: JobEvents
    ) -> None:
        listing = await self._request(endpoint, "GET", f"/fine_tuning/jobs/{external_id}/events", params={"limit": "100"})
        rows = listing.get("data") if isinstance(listing.get("data"), list) else []
        # Newest first in OpenAI's API: replay oldest first.
        for row in reversed(rows or []):
            if not isinstance(row, dict) or str(row.get("id")) in seen:
                continue
            seen.add(str(row.get("id")))
            data: dict[str, Any] = row["data"] if isinstance(row.get("data"), dict) else {}
            step, loss, total = data.get("step"), data.get("train_loss"), data.get("total_steps")
            match = _STEP_MESSAGE.search(str(row.get("message", "")))
            if step is None and match:
                step, total, loss = int(match[1]), int(match[2]) if match[2] else None, float(match[3])
            if isinstance(step, int) and isinstance(loss, int | float):
                if total:
                    await events.started(total_steps=int(total))
                await events.step(step, float(loss))

    async def _request(self, endpoint: EndpointConfig, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return await self.gateway.call_json(endpoint, method, path, **kwargs)
        except ProviderError as exc:
            raise TrainingFailed(f"{method} {path}: {exc}"[:2000]) from None
