"""The FastAPI application: wiring only (lifespan builds clients once; routes stay thin)."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route, compile_path

from app.accounts import api as accounts_api
from app.accounts import ui as accounts_ui
from app.accounts.auth import require_admin_token
from app.accounts.service import authenticate, ensure_bootstrap_token
from app.catalog import api as catalog_api
from app.catalog import ui as catalog_ui
from app.comparisons import api as comparisons_api
from app.comparisons import ui as comparisons_ui
from app.core.api_errors import document_not_found, errors
from app.core.auth import LoginRequired
from app.core.csrf import verify_csrf
from app.core.database import database_answers
from app.core.errors import DomainError
from app.core.heap import freeze_loaded_objects, release_frozen_objects
from app.core.middleware import BodySizeLimit, JsonDepthLimit, SecurityHeaders
from app.core.observability import RequestObservation, metrics_text
from app.core.settings import Settings, get_settings
from app.core.types import reject_bad_text
from app.core.web import render, templates, validation_messages
from app.datasets import api as datasets_api
from app.datasets import ui as datasets_ui
from app.demo.load import load_demo, start_demo_finetune
from app.experiments import api as experiments_api
from app.experiments import ui as experiments_ui
from app.finetune import api as finetune_api
from app.finetune import ui as finetune_ui
from app.knowledge import api as knowledge_api
from app.knowledge import ui as knowledge_ui
from app.leaderboard import api as leaderboard_api
from app.leaderboard import ui as leaderboard_ui
from app.rating import api as rating_api
from app.rating import ui as rating_ui
from app.state import open_state, start_working
from app.verdict import api as verdict_api
from app.verdict import ui as verdict_ui

log = logging.getLogger("triptych")
ROOT = Path(__file__).resolve().parent.parent


def error_response(
    request: Request, status_code: int, detail: Any, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON `{"detail"}` for the API; an error page for people using the browser UI."""
    accept = request.headers.get("accept", "")
    wants_json = "application/json" in accept and "text/html" not in accept
    if wants_json or request.url.path.startswith(("/api/", "/local/", "/static/", "/healthz")):
        return JSONResponse({"detail": detail}, status_code=status_code, headers=dict(headers or {}))
    if isinstance(detail, list):  # validation errors: one line per problem
        detail = "; ".join(validation_messages(detail, skip_location=1))
    return render(request, "pages/error.html", {"status_code": status_code, "detail": detail}, status_code)


def login_redirect(request: Request) -> Response:
    """Pages send the browser to the sign-in form and back; HTMX swaps are told to do a full redirect."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        current = urlsplit(request.headers.get("hx-current-url", ""))
        target = (current.path or "/") + (f"?{current.query}" if current.query else "")
    url = str(request.url_for("login_page").include_query_params(next=target))
    if request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _route_methods(routes: list[Any], prefix: str = "") -> Iterator[tuple[re.Pattern[str], set[str]]]:
    """(path pattern, methods) of every route, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, Route):
            yield compile_path(prefix + route.path)[0], set(route.methods or ())
        elif hasattr(route, "original_router"):
            yield from _route_methods(route.original_router.routes, prefix + route.include_context.prefix)


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at this path."""
    path = request.url.path
    return sorted(
        {m for pattern, methods in _route_methods(app.router.routes) if pattern.match(path) for m in methods}
    )


def document_all_errors(app: FastAPI) -> None:
    """The OpenAPI schema, with the 404 every operation on an id can answer."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_not_found(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def local_model_access(app: FastAPI) -> Callable[[str | None], Awaitable[bool]]:
    """Who may call the bundled model server: a holder of an API token, or this app itself."""

    async def authorize(token: str | None) -> bool:
        if not token:
            return False
        state = app.state.triptych
        if hmac.compare_digest(token, state.cipher.local_model_token()):
            return True
        async with state.sessions.begin() as session:
            return await authenticate(session, token) is not None

    return authorize


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the bundled model server is mounted at /local unless disabled."""
    settings = settings or get_settings()
    local_models = None
    if settings.serve_local_model:
        from app.localmodels.registry import ModelRegistry
        from app.localmodels.server import create_app as create_local_app

        local_models = ModelRegistry.with_bundled(
            n_threads=settings.local_model_threads,
            n_ctx=settings.local_model_context,
            parallel=settings.local_model_parallel,
            adapters_dir=settings.adapters_dir,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            async with open_state(settings) as state:
                app.state.triptych = state
                # Only answers whose process is gone (lease lapsed) are marked; a live process's are not.
                interrupted = await state.runner.fail_interrupted()
                if interrupted:
                    log.warning("marked %d output(s) left pending by a stopped process as interrupted", interrupted)
                token_file = await ensure_bootstrap_token(state.sessions, settings.api_token, settings.data_dir)
                if token_file is not None:
                    log.warning("API token for Authorization: Bearer is in %s", token_file.resolve())
                if settings.work_jobs:
                    await start_working(state)
                if settings.load_demo and await load_demo(state) and settings.demo_finetune:
                    await start_demo_finetune(state)
                freeze_loaded_objects()
                yield
        finally:
            if local_models is not None:
                await local_models.aclose()
            release_frozen_objects()

    app = FastAPI(
        title="Triptych",
        version="0.1.0",
        summary="Prompt, retrieve or fine-tune? Side-by-side answers, blind ratings, a verdict with evidence.",
        lifespan=lifespan,
        # /docs is served below from vendored files; FastAPI's own page loads scripts from a CDN, inline.
        docs_url=None,
        redoc_url=None,
        # NUL bytes and lone surrogates in paths, query strings and forms are refused before any route runs.
        dependencies=[Depends(reject_bad_text)],
    )
    app.state.settings = settings
    # Inside the size limit, so the body it reads to check the nesting is capped too.
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(BodySizeLimit, max_bytes=settings.ingest_max_request_mb * 1024 * 1024)
    # Added after the limits, so it wraps them: the 413 above and error pages get the headers too.
    app.add_middleware(SecurityHeaders)
    # Outermost: every request (refused ones too) gets its id and its latency recorded.
    app.add_middleware(RequestObservation)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        return error_response(request, exc.status_code, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc, LoginRequired) and not request.url.path.startswith("/api/"):
            return login_redirect(request)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route matching the path; the path may have others.
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return error_response(request, exc.status_code, exc.detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        # Input echoes are dropped: a 20,000-character query should not come back in the error.
        errors = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in exc.errors()]
        return error_response(request, 422, errors)

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    async def api_docs(request: Request) -> HTMLResponse:
        """Swagger UI over /openapi.json."""
        return templates.TemplateResponse(request, "pages/api_docs.html", {})

    @app.get("/healthz", tags=["health"], responses=errors(422))
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses=errors(422, 503))
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the database and Chroma answer (503 names the one that does not)."""
        state = request.app.state.triptych
        checks: dict[str, str] = {}
        try:
            await database_answers(state.engine)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(asyncio.to_thread(state.store.heartbeat), 5)
            checks["chroma"] = "ok"
        except Exception as exc:
            checks["chroma"] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503)

    @app.get("/metrics", tags=["health"], responses=errors(401, 403, 422), response_class=PlainTextResponse)
    async def metrics(request: Request) -> Response:
        """Prometheus metrics: request latency per route, model calls per endpoint, jobs and the queue. Open
        on a loopback-only server; anywhere else, an admin's API token (Prometheus: `authorization`)."""
        if not settings.bound_to_loopback:
            await require_admin_token(request)
        multiprocess = settings.prometheus_multiproc_dir is not None
        body, content_type = await metrics_text(request.app.state.triptych.jobs, multiprocess_mode=multiprocess)
        return Response(body, media_type=content_type)

    for module, tag in (
        (accounts_api, "accounts"),
        (catalog_api, "catalog"),
        (comparisons_api, "comparisons"),
        (knowledge_api, "knowledge"),
        (rating_api, "rating"),
        (leaderboard_api, "leaderboard"),
        (datasets_api, "datasets"),
        (experiments_api, "experiments"),
        (finetune_api, "fine-tuning"),
        (verdict_api, "verdict"),
    ):
        app.include_router(module.router, tags=[tag])
    # Every unsafe request to a page route is CSRF-checked here, so no route can forget it.
    csrf = [Depends(verify_csrf)]
    for module in (
        accounts_ui,
        comparisons_ui,
        rating_ui,
        leaderboard_ui,
        catalog_ui,
        knowledge_ui,
        datasets_ui,
        experiments_ui,
        finetune_ui,
        verdict_ui,
    ):
        app.include_router(module.router, include_in_schema=False, dependencies=csrf)
    document_all_errors(app)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    if local_models is not None:
        # Open on a loopback-only server (local tools need no token); anywhere else, the app's API tokens.
        access = None if settings.bound_to_loopback else local_model_access(app)
        app.mount("/local", create_local_app(local_models, access), name="local")
    return app
