"""Comparison sessions' turns: a comparison continued as a conversation, and each next turn stored to run
like any comparison with each variant's own history (app/comparisons/multiturn.py)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from app.catalog.service import VariantService
from app.comparisons.multiturn import histories
from app.comparisons.repository import ComparisonRepository
from app.comparisons.service import ComparisonRunner, NewComparison
from app.core.auth import Principal
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.models import ComparisonSession


class SessionTurns:
    """Starting a session from a comparison, and adding turns to one."""

    def __init__(self, runner: ComparisonRunner):
        self.runner = runner

    async def continue_comparison(self, comparison_id: int, asker: Principal) -> int:
        """The session a standalone comparison is the first turn of (made now if it is not one yet)."""
        async with self.runner.sessions.begin() as session:
            comparison = await ComparisonRepository(session).get(comparison_id)
            if comparison is None:
                raise NotFound(f"comparison {comparison_id} not found")
            if comparison.session_id is not None:
                return comparison.session_id
            if comparison.experiment_id is not None:
                raise Invalid("an experiment's comparison cannot be continued: ask the question on the compare page")
            _may_continue(comparison.created_by, asker)
            conversation = ComparisonSession(
                title=comparison.query,
                created_by=comparison.created_by,
                variant_version_ids=[output.variant_version_id for output in comparison.outputs],
            )
            session.add(conversation)
            await session.flush()
            comparison.session_id, comparison.turn = conversation.id, 1
            return conversation.id

    async def add_turn(self, session_id: int, query: str, asker: Principal) -> NewComparison:
        """Store the next turn (to run like any comparison), each variant's prompt carrying its own history.
        Turns follow one another: while the last one is being answered a new one is refused (409)."""
        try:
            async with self.runner.sessions.begin() as session:
                repo = ComparisonRepository(session)
                conversation = await repo.lock_session(session_id)
                if conversation is None:
                    raise NotFound(f"session {session_id} not found")
                _may_continue(conversation.created_by, asker)
                earlier = await repo.earlier_turns(session_id)
                if any(status == "pending" for _query, outputs in earlier for _v, status, _t in outputs):
                    raise Conflict("the previous turn is still being answered: wait for it, or stop it")
                found = await VariantService(session).versions_for_run(conversation.variant_version_ids)
                versions = [found[v] for v in conversation.variant_version_ids if v in found]
                return await self.runner.store(
                    session,
                    query,
                    asker.name,
                    versions,
                    turn_of=(session_id, len(earlier) + 1),
                    histories=histories(earlier, [version.id for version in versions]),
                )
        except IntegrityError:  # two turns posted at the same moment on SQLite: the second loses
            raise Conflict("another turn was added to this session at the same moment: reload it") from None


def _may_continue(created_by: str, asker: Principal) -> None:
    if asker.name != created_by and asker.role != "admin":
        raise Forbidden("only the person who started this conversation, or an admin, can continue it")
