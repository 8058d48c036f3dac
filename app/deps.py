"""Domain service dependencies (transitional: each moves into its domain's deps module)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.deps import SessionDep, app_state
from app.services.accounts import AccountService
from app.services.comparisons import ComparisonRunner
from app.services.endpoints import EndpointService
from app.services.example_sets import ExampleSetService
from app.services.history import ComparisonReader
from app.services.judgements import JudgementService
from app.services.knowledge import KnowledgeService
from app.services.leaderboard import LeaderboardService
from app.services.queues import QueueService
from app.services.ratings import RatingService
from app.services.rubric import RubricService
from app.services.variants import VariantService


def get_runner(request: Request) -> ComparisonRunner:
    return app_state(request).runner


def get_knowledge(request: Request) -> KnowledgeService:
    return app_state(request).knowledge


def get_endpoint_service(session: SessionDep, request: Request) -> EndpointService:
    return EndpointService(session, app_state(request).cipher, allow_private=app_state(request).settings.allow_private_endpoints)


def get_variant_service(session: SessionDep) -> VariantService:
    return VariantService(session)


def get_example_set_service(session: SessionDep) -> ExampleSetService:
    return ExampleSetService(session)


def get_rating_service(session: SessionDep, request: Request) -> RatingService:
    return RatingService(session, app_state(request).cipher.derive("blind-order"))


def get_rubric_service(session: SessionDep) -> RubricService:
    return RubricService(session)


def get_queue_service(session: SessionDep) -> QueueService:
    return QueueService(session)


def get_account_service(session: SessionDep) -> AccountService:
    return AccountService(session)


RunnerDep = Annotated[ComparisonRunner, Depends(get_runner)]
KnowledgeDep = Annotated[KnowledgeService, Depends(get_knowledge)]
EndpointsDep = Annotated[EndpointService, Depends(get_endpoint_service)]
VariantsDep = Annotated[VariantService, Depends(get_variant_service)]
ExampleSetsDep = Annotated[ExampleSetService, Depends(get_example_set_service)]
RatingsDep = Annotated[RatingService, Depends(get_rating_service)]
RubricDep = Annotated[RubricService, Depends(get_rubric_service)]
QueuesDep = Annotated[QueueService, Depends(get_queue_service)]
AccountsDep = Annotated[AccountService, Depends(get_account_service)]


def get_comparison_reader(session: SessionDep) -> ComparisonReader:
    return ComparisonReader(session)


ReaderDep = Annotated[ComparisonReader, Depends(get_comparison_reader)]


def get_judgement_service(session: SessionDep) -> JudgementService:
    return JudgementService(session)


JudgementsDep = Annotated[JudgementService, Depends(get_judgement_service)]


def get_leaderboard_service(session: SessionDep, request: Request) -> LeaderboardService:
    return LeaderboardService(session, app_state(request).leaderboards)


LeaderboardDep = Annotated[LeaderboardService, Depends(get_leaderboard_service)]
