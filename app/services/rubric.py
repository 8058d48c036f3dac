"""The rubric raters score each answer on: three dimensions by default, replaceable by an admin."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Invalid
from app.models import RubricDimension
from app.repository.rubric import RubricRepository


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    description: str = ""


DEFAULT_RUBRIC = (
    Dimension("correctness", "Correctness", "Is every claim true and supported by the sources or the facts?"),
    Dimension("helpfulness", "Helpfulness", "Does it answer the question asked, completely and usefully?"),
    Dimension("format", "Format", "Is it clear, well organised and the right length for the question?"),
)
MAX_DIMENSIONS = 8


class RubricService:
    def __init__(self, session: AsyncSession):
        self.repo = RubricRepository(session)

    async def dimensions(self) -> list[Dimension]:
        """The configured rubric; the default until an admin saves one."""
        stored = await self.repo.ordered()
        if not stored:
            return list(DEFAULT_RUBRIC)
        return [Dimension(d.key, d.label, d.description) for d in stored]

    async def replace(self, dimensions: list[Dimension]) -> list[Dimension]:
        """Save a new rubric. Earlier ratings keep their scores; the leaderboard reports every dimension seen."""
        if not 1 <= len(dimensions) <= MAX_DIMENSIONS:
            raise Invalid(f"a rubric has 1 to {MAX_DIMENSIONS} dimensions")
        keys = [d.key for d in dimensions]
        if len(set(keys)) != len(keys):
            raise Invalid("dimension keys must be unique")
        await self.repo.replace(
            [
                RubricDimension(key=d.key, label=d.label, description=d.description, position=i)
                for i, d in enumerate(dimensions)
            ]
        )
        return dimensions
