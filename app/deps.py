"""FastAPI dependencies and their Annotated aliases: the one place routes get what they need."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.security import Principal, bearer_principal, ui_principal, verify_csrf
from app.services.comparisons import ComparisonRunner
from app.services.endpoints import EndpointService
from app.services.example_sets import ExampleSetService
from app.services.history import ComparisonReader
from app.services.judgements import JudgementService
from app.services.knowledge import KnowledgeService
from app.services.leaderboard import LeaderboardService
from app.services.ratings import RatingService
from app.services.variants import VariantService
from app.state import AppState


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.triptych
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_session(state: StateDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed before the response is sent, rolled back on error."""
    async with state.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit happens before the response leaves, so a 2xx means it is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_api_principal(request: Request, session: SessionDep) -> Principal:
    return await bearer_principal(request, session)


def get_ui_principal(request: Request, settings: SettingsDep) -> Principal:
    return ui_principal(request, settings)


ApiUser = Annotated[Principal, Depends(get_api_principal)]
UiUser = Annotated[Principal, Depends(get_ui_principal)]
CsrfChecked = Annotated[None, Depends(verify_csrf)]


def get_runner(state: StateDep) -> ComparisonRunner:
    return state.runner


def get_knowledge(state: StateDep) -> KnowledgeService:
    return state.knowledge


def get_endpoint_service(session: SessionDep, state: StateDep) -> EndpointService:
    return EndpointService(session, state.cipher, allow_private=state.settings.allow_private_endpoints)


def get_variant_service(session: SessionDep) -> VariantService:
    return VariantService(session)


def get_example_set_service(session: SessionDep) -> ExampleSetService:
    return ExampleSetService(session)


def get_rating_service(session: SessionDep) -> RatingService:
    return RatingService(session)


RunnerDep = Annotated[ComparisonRunner, Depends(get_runner)]
KnowledgeDep = Annotated[KnowledgeService, Depends(get_knowledge)]
EndpointsDep = Annotated[EndpointService, Depends(get_endpoint_service)]
VariantsDep = Annotated[VariantService, Depends(get_variant_service)]
ExampleSetsDep = Annotated[ExampleSetService, Depends(get_example_set_service)]
RatingsDep = Annotated[RatingService, Depends(get_rating_service)]


def get_comparison_reader(session: SessionDep) -> ComparisonReader:
    return ComparisonReader(session)


ReaderDep = Annotated[ComparisonReader, Depends(get_comparison_reader)]


def get_judgement_service(session: SessionDep) -> JudgementService:
    return JudgementService(session)


JudgementsDep = Annotated[JudgementService, Depends(get_judgement_service)]


def get_leaderboard_service(session: SessionDep) -> LeaderboardService:
    return LeaderboardService(session)


LeaderboardDep = Annotated[LeaderboardService, Depends(get_leaderboard_service)]
