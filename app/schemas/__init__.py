"""Pydantic request/response schemas for the REST API (the contract in DESIGN.md)."""

from app.schemas.core import *  # noqa: F403
from app.schemas.ratings import *  # noqa: F403
