"""Schemathesis against the app's own OpenAPI schema, as admin, on SQLite and PostgreSQL: whatever it sends,
no server error, and every answer is what the schema says (status documented, body shape, content type).

Bounded: a fixed number of generated cases per operation, no shrinking, no stateful phase. Run alone with
`pytest tests/core/test_openapi_fuzz.py`; TRIPTYCH_FUZZ_EXAMPLES raises the count for a longer hunt."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.settings import Settings
from app.main import create_app
from tests.conftest import API_TOKEN, wipe

EXAMPLES = int(os.environ.get("TRIPTYCH_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def fuzzed_app(settings: Settings) -> Iterator[FastAPI]:
    """The real app; schemathesis runs its lifespan on a loop of its own. Emptied afterwards, like `app`."""
    application = create_app(settings)
    yield application

    async def empty() -> None:
        async with application.router.lifespan_context(application):
            await wipe(application.state.triptych)

    asyncio.run(empty())


@pytest.fixture
def api_schema(fuzzed_app: FastAPI) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {API_TOKEN}"},
            "generation": {"mode": "all", "max-examples": EXAMPLES, "database": "none"},
            "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
            "request-timeout": 30,
        }
    )
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_the_api_keeps_its_schema(case: Any) -> None:
    case.call_and_validate(checks=CHECKS)
