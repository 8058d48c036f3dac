"""Endpoints, example sets and variants: all the catalog SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from app.core.database import hold_row
from app.core.repository import SoftDeletionMixin
from app.models import Endpoint, Example, ExampleSet, KnowledgeBase, Output, Variant, VariantVersion


class EndpointRepository(SoftDeletionMixin[Endpoint]):
    model = Endpoint

    async def bundled(self, model: str) -> Endpoint | None:
        """The oldest active endpoint of the bundled model server serving `model`."""
        return await self.session.scalar(
            self.live(select(Endpoint))
            .where(Endpoint.is_bundled.is_(True), Endpoint.model == model)
            .order_by(Endpoint.id)
            .limit(1)
        )


class ExampleSetRepository(SoftDeletionMixin[ExampleSet]):
    model = ExampleSet
    loads = (selectinload(ExampleSet.examples),)

    async def with_counts(self, *, include_archived: bool = False) -> Sequence[tuple[ExampleSet, int]]:
        """Sets with their example counts (the examples themselves are not loaded)."""
        count = (
            select(func.count(Example.id)).where(Example.example_set_id == ExampleSet.id).scalar_subquery()
        )
        stmt = select(ExampleSet, count).order_by(ExampleSet.id)
        if not include_archived:
            stmt = self.live(stmt)
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]


_VERSION_LOADS = (
    selectinload(VariantVersion.endpoint),
    selectinload(VariantVersion.knowledge_base),
    selectinload(VariantVersion.example_set).selectinload(ExampleSet.examples),
)


# What running a version takes besides its variant: its endpoint, knowledge base and examples.
_RUN_LOADS = (
    joinedload(VariantVersion.endpoint, innerjoin=True),
    selectinload(VariantVersion.knowledge_base),
    selectinload(VariantVersion.example_set).selectinload(ExampleSet.examples),
)


# Every comparison runs these: built once (an aliased class and its statement cost about as much to build
# as the database takes to answer them).
_NEWER = aliased(VariantVersion)
_CURRENT_VERSIONS = (
    select(VariantVersion)
    .join(VariantVersion.variant)
    .where(
        Variant.archived_at.is_(None),
        VariantVersion.version
        == select(func.max(_NEWER.version)).where(_NEWER.variant_id == Variant.id).scalar_subquery(),
    )
    .order_by(Variant.id)
    .options(contains_eager(VariantVersion.variant), *_RUN_LOADS)
)
_CURRENT_VERSIONS_OF = _CURRENT_VERSIONS.where(Variant.id.in_(bindparam("variant_ids", expanding=True)))
_VERSIONS_FOR_RUN = (
    select(VariantVersion)
    .where(VariantVersion.id.in_(bindparam("version_ids", expanding=True)))
    .options(joinedload(VariantVersion.variant, innerjoin=True), *_RUN_LOADS)
)


class VariantRepository(SoftDeletionMixin[Variant]):
    model = Variant
    loads = (selectinload(Variant.versions).options(*_VERSION_LOADS),)

    async def get_many(self, variant_ids: Sequence[int]) -> Sequence[Variant]:
        return (await self.session.scalars(self.base_statement().where(Variant.id.in_(variant_ids)))).all()

    async def current_versions(self, variant_ids: Sequence[int] | None) -> Sequence[VariantVersion]:
        """The newest version of each live variant (of `variant_ids`, or of every one), oldest variant first,
        with its variant, endpoint, knowledge base and examples: what running it takes, in one statement (and
        one more for each kind of knowledge base or example set in use)."""
        if variant_ids is None:
            return (await self.session.scalars(_CURRENT_VERSIONS)).all()
        return (await self.session.scalars(_CURRENT_VERSIONS_OF, {"variant_ids": list(variant_ids)})).all()

    async def versions_for_run(self, version_ids: Sequence[int]) -> dict[int, VariantVersion]:
        """Variant versions by id with everything a run needs, in one go."""
        versions = await self.session.scalars(_VERSIONS_FOR_RUN, {"version_ids": list(set(version_ids))})
        return {v.id: v for v in versions.all()}

    async def version_is_used(self, version_id: int) -> bool:
        """True once any output points at the version: from then on it is immutable."""
        return bool(
            await self.session.scalar(select(exists().where(Output.variant_version_id == version_id)))
        )

    async def example_count(self, example_set_id: int) -> int:
        rows = await self.session.scalars(select(Example.id).where(Example.example_set_id == example_set_id))
        return len(rows.all())

    async def knowledge_base(self, kb_id: int) -> KnowledgeBase | None:
        """The knowledge base a variant would retrieve from, held against deletion until the transaction
        ends (PostgreSQL: FOR SHARE, which a delete's FOR UPDATE waits for and vice versa; SQLite: the write
        lock, by a no-op write, as the delete takes it)."""
        if not await hold_row(self.session, KnowledgeBase, kb_id, touch=KnowledgeBase.name, lock="share"):
            return None  # never there, or deleted while we waited for the row
        return await self.session.get(KnowledgeBase, kb_id)
