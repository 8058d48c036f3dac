"""The rating domain's services for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.accounts.auth import Reader
from app.core.deps import SessionDep, app_state
from app.rating.exports import ExportService
from app.rating.judgements import JudgementService
from app.rating.queues import QueueService
from app.rating.service import RatingService, RubricService


async def get_rating_service(session: SessionDep, request: Request) -> RatingService:
    return RatingService(session, app_state(request).cipher.derive("blind-order"))


RatingsDep = Annotated[RatingService, Depends(get_rating_service)]


async def get_rubric_service(session: SessionDep) -> RubricService:
    return RubricService(session)


RubricDep = Annotated[RubricService, Depends(get_rubric_service)]


async def get_queue_service(session: SessionDep) -> QueueService:
    return QueueService(session)


QueuesDep = Annotated[QueueService, Depends(get_queue_service)]


async def get_export_service(session: SessionDep, reader: Reader) -> ExportService:
    return ExportService(session, reader)


ExportsDep = Annotated[ExportService, Depends(get_export_service)]


async def get_judgement_service(session: SessionDep) -> JudgementService:
    return JudgementService(session)


JudgementsDep = Annotated[JudgementService, Depends(get_judgement_service)]
