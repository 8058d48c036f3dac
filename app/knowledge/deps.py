"""The knowledge service for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.deps import app_state
from app.knowledge.service import KnowledgeService


async def get_knowledge(request: Request) -> KnowledgeService:
    return app_state(request).knowledge


KnowledgeDep = Annotated[KnowledgeService, Depends(get_knowledge)]
