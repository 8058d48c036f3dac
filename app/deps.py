"""FastAPI dependencies and their Annotated aliases: the one place routes get what they need."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.security import Principal, bearer_principal, cookie_principal, require
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


async def get_ui_principal(request: Request, session: SessionDep) -> Principal:
    return await cookie_principal(request, session)


def _api_role(role: str) -> Callable[[Principal], Principal]:
    def dependency(principal: Annotated[Principal, Depends(get_api_principal)]) -> Principal:
        return require(principal, role)

    return dependency


def _ui_role(role: str) -> Callable[[Principal], Principal]:
    def dependency(principal: Annotated[Principal, Depends(get_ui_principal)]) -> Principal:
        return require(principal, role)

    return dependency


def _api_unblinded(principal: Annotated[Principal, Depends(get_api_principal)]) -> Principal:
    """Raters are the blind role: row-level ratings of others are for admins and viewers."""
    if principal.role == "rater":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "raters see ratings only through blind rating: ask an admin or a viewer",
        )
    return principal


# Reads need any signed-in role; writes name the role they need (viewer < rater < admin).
ApiUser = Annotated[Principal, Depends(get_api_principal)]
ApiRater = Annotated[Principal, Depends(_api_role("rater"))]
ApiAdmin = Annotated[Principal, Depends(_api_role("admin"))]
ApiUnblinded = Annotated[Principal, Depends(_api_unblinded)]
UiUser = Annotated[Principal, Depends(get_ui_principal)]
UiRater = Annotated[Principal, Depends(_ui_role("rater"))]
UiAdmin = Annotated[Principal, Depends(_ui_role("admin"))]


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


def get_rating_service(session: SessionDep, state: StateDep) -> RatingService:
    return RatingService(session, state.cipher.derive("blind-order"))


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


def get_leaderboard_service(session: SessionDep, state: StateDep) -> LeaderboardService:
    return LeaderboardService(session, state.leaderboards)


LeaderboardDep = Annotated[LeaderboardService, Depends(get_leaderboard_service)]
