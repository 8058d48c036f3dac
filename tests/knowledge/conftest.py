"""Knowledge-base tests run against both Chroma modes: embedded, and a real `chroma run` server."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.settings import Settings
from tests.conftest import make_settings


@pytest.fixture(params=["embedded", "server"])
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    chroma_url = request.getfixturevalue("chroma_server") if request.param == "server" else None
    return make_settings(database_url, tmp_path / "data", chroma_url=chroma_url)
