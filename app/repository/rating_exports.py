"""Ratings with everything an export needs, in a handful of queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Comparison, Output, Rating, VariantVersion
from app.repository.comparisons import filtered


async def ratings_for_export(session: AsyncSession, filters: Any) -> Sequence[Rating]:
    """Every rating of the filtered comparisons, oldest first, with scores, comparison, tags, outputs and variants."""
    comparison = selectinload(Rating.comparison)
    stmt = (
        select(Rating)
        .join(Comparison, Comparison.id == Rating.comparison_id)
        .options(
            selectinload(Rating.scores),
            comparison.selectinload(Comparison.tags),
            comparison.selectinload(Comparison.outputs)
            .selectinload(Output.variant_version)
            .selectinload(VariantVersion.variant),
        )
        .order_by(Rating.id)
    )
    return (await session.scalars(filtered(stmt, filters))).all()
