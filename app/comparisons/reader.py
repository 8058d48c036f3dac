"""Reading stored comparisons as a principal may read them (the blind rule, app/core/readable.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.comparisons.repository import ComparisonRepository
from app.core.auth import Principal
from app.core.errors import Forbidden, NotFound
from app.core.readable import is_blind, reveals
from app.models import Comparison, ComparisonSession


class BlindUntilRated(Forbidden):
    """A blind rater asked for a comparison whose identities they have not revealed: rate it blind first."""

    def __init__(self, comparison_id: int):
        super().__init__(
            f"rate this comparison blind first: GET /api/v1/comparisons/{comparison_id}/blind, then POST a rating"
        )
        self.comparison_id = comparison_id


class ComparisonReader:
    """Comparisons as `reader` may read them: whole once revealed (app/core/readable.py); before that a blind
    rater gets BlindUntilRated, and history rows say nothing about answers or ratings."""

    def __init__(self, session: AsyncSession, reader: Principal):
        self.repo = ComparisonRepository(session)
        self.reader = reader

    async def get(self, comparison_id: int) -> Comparison:
        comparison = await self.repo.get(comparison_id)
        if comparison is None:
            raise NotFound(f"comparison {comparison_id} not found")
        if not await self._reveals(comparison):
            raise BlindUntilRated(comparison_id)
        return comparison

    async def _reveals(self, comparison: Comparison) -> bool:
        unrated = 0
        if comparison.session_id is not None and is_blind(self.reader):
            unrated = await self.repo.unrated_turns(comparison.session_id, self.reader.name)
        return reveals(comparison, self.reader, unrated_turns=unrated)

    def revealed(self, comparison: Comparison) -> bool:
        """Whether the reader may see this (listed) comparison's answers' authors, errors and ratings (a blind
        reader, a session's turns only when they asked them: a list does not count the turns rated)."""
        if comparison.session_id is not None and is_blind(self.reader):
            return comparison.created_by == self.reader.name
        return reveals(comparison, self.reader)

    async def session(self, session_id: int) -> ComparisonSession:
        """A comparison session with its turns; a blind reader must have revealed every turn (403 otherwise)."""
        conversation = await self.repo.get_session(session_id)
        if conversation is None:
            raise NotFound(f"session {session_id} not found")
        for turn in conversation.turns:
            if not await self._reveals(turn):
                raise BlindUntilRated(turn.id)
        return conversation

    async def sessions(self, *, limit: int, offset: int) -> Sequence[ComparisonSession]:
        """Newest first; their questions are no secret (as a comparison's are not)."""
        return await self.repo.list_sessions(limit=limit, offset=offset)

    async def page(
        self, *, limit: int, offset: int, experiment_id: int | None = None
    ) -> tuple[Sequence[Comparison], int]:
        """Newest first (only one experiment's, when given), with the total count for paging."""
        return (
            await self.repo.list(limit=limit, offset=offset, experiment_id=experiment_id),
            await self.repo.count(experiment_id=experiment_id),
        )

    async def datasets(self) -> list[str]:
        """Every dataset name in use (for filter pickers)."""
        return list(await self.repo.datasets())

    async def tags(self) -> list[str]:
        return list(await self.repo.tags())
