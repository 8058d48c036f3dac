"""What an operator watches: Prometheus metrics (/metrics), a request id on every log line (and the job id
in job workers), JSON logs on request.

Metrics are prometheus-client's (the library every Prometheus deployment expects). Request and model-call
histograms are recorded as they happen; job and queue figures are read from the job kernel at scrape time.
With several web processes behind one port, set PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess
mode) so a scrape adds up every process's counters.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.config
import re
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.jobs import JobKernel, current_job

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
HTTP_LATENCY = Histogram(
    "triptych_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ("method", "route", "status"),
    buckets=LATENCY_BUCKETS,
)
MODEL_LATENCY = Histogram(
    "triptych_model_call_duration_seconds",
    "Time a model call spent in the gateway (all attempts), by endpoint.",
    ("endpoint",),
    buckets=LATENCY_BUCKETS,
)
MODEL_ERRORS = Counter("triptych_model_call_errors_total", "Model calls that failed, by endpoint.", ("endpoint",))
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def endpoint_label(base_url: str, model: str) -> str:
    """host/model: no scheme, path or credentials (a URL may carry them), few distinct values."""
    parts = urlsplit(base_url)
    return f"{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/{model}"


def observe_model_call(base_url: str, model: str, elapsed_s: float, error: str | None) -> None:
    label = endpoint_label(base_url, model)
    MODEL_LATENCY.labels(label).observe(elapsed_s)
    if error is not None:
        MODEL_ERRORS.labels(label).inc()


class RequestObservation:
    """Gives each request an id (the caller's X-Request-ID when it is a plain token, else a new one) for the
    logs and the response, and records its latency under its route template (not its raw path: ids would
    make every comparison a series of its own)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _CLIENT_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or _mount_of(scope.get("path", ""))
            HTTP_LATENCY.labels(scope.get("method", "?"), template, str(status)).observe(time.perf_counter() - started)
            request_id.reset(token)


def _mount_of(path: str) -> str:
    """Unrouted paths (static files, the bundled model, 404s) by their first segment only."""
    first = path.strip("/").split("/", 1)[0]
    return f"/{first}/..." if first in ("static", "local") else "unmatched"


async def metrics_text(jobs: JobKernel, *, multiprocess_mode: bool) -> tuple[bytes, str]:
    """The exposition: this process's (or, in multiprocess mode, every process's) histograms and counters,
    and the job figures read from the kernel now."""
    if multiprocess_mode:
        from prometheus_client import multiprocess

        recorded = CollectorRegistry()
        multiprocess.MultiProcessCollector(recorded)  # type: ignore[no-untyped-call]
        body = generate_latest(recorded)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
    now = CollectorRegistry()
    by_status = Gauge("triptych_jobs", "Background jobs by kind and status.", ("kind", "status"), registry=now)
    counts = await jobs.engine.counts()
    for (kind, status), n in sorted(counts.items()):
        by_status.labels(kind, status).set(n)
    depth = Gauge("triptych_job_queue_depth", "Jobs waiting to be taken by a worker.", registry=now)
    depth.set(sum(n for (_kind, status), n in counts.items() if status == "queued"))
    oldest = Gauge(
        "triptych_job_queue_oldest_age_seconds", "How long the oldest waiting job has waited (0: none waits).", registry=now
    )
    oldest.set(await jobs.engine.oldest_queued_age_s() or 0.0)
    return body + generate_latest(now), CONTENT_TYPE_LATEST


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the request or job it belongs to."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (rid := request_id.get()) is not None:
            entry["request_id"] = rid
        if (job := current_job.get()) is not None:
            entry["job"] = job
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class ContextFilter(logging.Filter):
    """Puts the request id and job on records, for the plain text format too."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid, job = request_id.get(), current_job.get()
        record.context = f" [request {rid}]" if rid else f" [job {job}]" if job else ""
        return True


def logging_config(log_format: str) -> dict[str, Any]:
    """A logging.config.dictConfig for the app and uvicorn alike (uvicorn applies it in every web process)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {
            "json": {"()": JsonLogFormatter},
            "text": {"format": "%(levelname)s %(name)s%(context)s: %(message)s"},
        },
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]},
        },
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {
            # httpx logs every model call at INFO: an experiment's thousands of lines say nothing that the
            # outputs do not (failures are recorded on the output and logged by the app).
            "httpx": {"level": "WARNING"},
            # uvicorn's loggers write through the same handler.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": True},
        },
    }


def configure_logging(log_format: str) -> None:
    logging.config.dictConfig(logging_config(log_format))
