"""Fine-tuning's rules: build training sets with their lineage, start and cancel jobs, export the data."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.service import EndpointService, ExampleSetService
from app.core.auth import BACKGROUND, Principal
from app.core.errors import Conflict, Invalid, NotFound
from app.core.secrets import KeyCipher
from app.core.settings import BUNDLED_MODEL_ID
from app.datasets.schemas import DatasetIn, ItemIn
from app.datasets.service import DatasetService
from app.evaluation.probes import PROBE_TAG, general_probes
from app.finetune.building import WITH_SOURCES, Candidate, build, with_citation
from app.finetune.repository import JobRepository, TrainingSetRepository
from app.finetune.schemas import FINISHED_JOBS, FineTuneJobIn, TrainingSetIn
from app.models import FineTuneJob, TrainingExample, TrainingSet, utcnow
from app.prompts import render_prompt
from app.retrieval.store import VectorStore

PREVIEW_ROWS = 5
EXPORT_FORMATS = ("chat", "dpo")


@dataclass(frozen=True)
class JobSummary:
    job: FineTuneJob
    training_set_name: str


@dataclass(frozen=True)
class TrainingSetSummary:
    training_set: TrainingSet
    train_count: int
    validation_count: int
    sources: dict[str, int]
    preview: Sequence[TrainingExample]


def chat_messages(system_prompt: str, prompt: str, completion: str | None = None) -> list[dict[str, str]]:
    """One training row as chat messages, exactly as a variant will send it (system first, if any)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    messages.append({"role": "user", "content": prompt})
    if completion is not None:
        messages.append({"role": "assistant", "content": completion})
    return messages


class TrainingSetService:
    """Training sets as `reader` may read them. Rows made from ratings (corrections, top-rated answers) carry
    their comparison: a blind rater reads only the rows of comparisons they revealed, and every count and
    export is made of the rows they may read (app/core/readable.py)."""

    def __init__(self, session: AsyncSession, reader: Principal, store: VectorStore | None = None):
        self.session = session
        self.reader = reader
        # Retrieval, for training sets that carry sources (the hybrid's prompts).
        self.store = store
        self.repo = TrainingSetRepository(session, reader)

    async def build(self, data: TrainingSetIn, created_by: str) -> TrainingSet:
        """Gather the candidates, drop duplicates, split by prompt (seeded) and store it all with lineage."""
        if await self.repo.by_name(data.name) is not None:
            raise Conflict(f"a training set named {data.name!r} already exists")
        candidates: list[Candidate] = []
        if data.example_set_id is not None:
            try:
                await ExampleSetService(self.session).get(data.example_set_id)
            except NotFound:
                raise Invalid(f"example_set_id: example set {data.example_set_id} not found") from None
            candidates += await self.repo.examples(data.example_set_id)
        if data.include_corrections:
            candidates += await self.repo.corrections()
        if data.include_top_rated:
            candidates += await self.repo.top_rated(data.min_score)
        if data.knowledge_base_id is not None:
            candidates += await self._with_sources(candidates, data.knowledge_base_id, data.top_k)
        built = build(candidates, data.validation_fraction, data.seed)
        if not any(r.split == "train" for r in built.rows):
            raise Invalid("the chosen sources hold no examples to train on")
        training_set = TrainingSet(
            name=data.name,
            system_prompt=data.system_prompt,
            example_set_id=data.example_set_id,
            include_corrections=data.include_corrections,
            include_top_rated=data.include_top_rated,
            min_score=data.min_score,
            validation_fraction=data.validation_fraction,
            seed=data.seed,
            knowledge_base_id=data.knowledge_base_id,
            top_k=data.top_k,
            duplicates_dropped=built.duplicates_dropped,
            created_by=created_by,
        )
        await self.repo.add(training_set, built.rows)
        return training_set

    async def _with_sources(self, candidates: Sequence[Candidate], knowledge_base_id: int, top_k: int) -> list[Candidate]:
        """Each row again as the hybrid will be asked: the question with its retrieved sources in the RAG
        layout (`rag_user.j2`), the answer citing its closest source. Same group: same side of the split."""
        collection = await self.repo.collection_of(knowledge_base_id)
        if collection is None:
            raise Invalid(f"knowledge_base_id: knowledge base {knowledge_base_id} not found")
        if self.store is None:
            raise Invalid("knowledge_base_id: retrieval is not available in this process")
        found = []
        for c in candidates:
            contexts = [asdict(chunk) for chunk in await self.store.aquery(collection, c.prompt, top_k)]
            found.append(
                Candidate(
                    prompt=render_prompt("rag_user.j2", contexts=contexts, query=c.prompt),
                    completion=with_citation(c.completion, [str(x["text"]) for x in contexts]),
                    source_kind=c.source_kind + WITH_SOURCES,
                    source_id=c.source_id,
                    comparison_id=c.comparison_id,
                    rejected=c.rejected,
                    group=c.prompt,
                )
            )
        return found

    async def get(self, training_set_id: int) -> TrainingSet:
        training_set = await self.repo.get(training_set_id)
        if training_set is None:
            raise NotFound(f"training set {training_set_id} not found")
        return training_set

    async def summary(self, training_set_id: int) -> TrainingSetSummary:
        return (await self.summaries([await self.get(training_set_id)]))[0]

    async def summaries(self, training_sets: Sequence[TrainingSet]) -> list[TrainingSetSummary]:
        """Counts by split and source, and the first rows, of each set: of the rows the reader may read, in
        two queries whatever the number of sets."""
        ids = [t.id for t in training_sets]
        tallies = await self.repo.tallies(ids)
        previews = await self.repo.previews(ids, PREVIEW_ROWS)
        found = []
        for training_set in training_sets:
            counts = tallies.get(training_set.id, {})
            sources: dict[str, int] = {}
            for (_split, kind), n in counts.items():
                sources[kind] = sources.get(kind, 0) + n
            found.append(
                TrainingSetSummary(
                    training_set,
                    sum(n for (s, _k), n in counts.items() if s == "train"),
                    sum(n for (s, _k), n in counts.items() if s == "validation"),
                    sources,
                    previews.get(training_set.id, []),
                )
            )
        return found

    async def recent(self, *, limit: int = 50, offset: int = 0) -> list[TrainingSetSummary]:
        """The newest sets, summarised."""
        return await self.summaries(await self.repo.recent(limit, offset))

    async def rows(self, training_set_id: int, *, split: str | None = None) -> list[TrainingExample]:
        await self.get(training_set_id)
        return await self.repo.rows(training_set_id, split=split)

    async def export(self, training_set_id: int, fmt: str, split: str | None) -> tuple[str, str]:
        """JSONL: `chat` ({"messages": [...]}, what hosted fine-tuning APIs take) or `dpo` ({"prompt",
        "chosen", "rejected"}, rows that have a rejected answer only). Returns body and file name."""
        if fmt not in EXPORT_FORMATS:
            raise Invalid(f"format: one of {', '.join(EXPORT_FORMATS)}")
        if split not in (None, "train", "validation"):
            raise Invalid("split: train or validation")
        training_set = await self.get(training_set_id)
        rows = await self.repo.rows(training_set_id, split=split)
        lines = [
            json.dumps(
                {"messages": chat_messages(training_set.system_prompt, r.prompt, r.completion)}
                if fmt == "chat"
                else {
                    "prompt": chat_messages(training_set.system_prompt, r.prompt),
                    "chosen": [{"role": "assistant", "content": r.completion}],
                    "rejected": [{"role": "assistant", "content": r.rejected}],
                },
                ensure_ascii=False,
            )
            for r in rows
            if fmt == "chat" or r.rejected
        ]
        name = f"training-set-{training_set_id}-{fmt}{'-' + split if split else ''}.jsonl"
        return "".join(line + "\n" for line in lines), name


class FineTuneService:
    def __init__(self, session: AsyncSession, cipher: KeyCipher):
        self.session = session
        self.cipher = cipher
        self.repo = JobRepository(session)

    async def create(self, data: FineTuneJobIn, created_by: str, *, repoint_variant_ids: Sequence[int] = ()) -> FineTuneJob:
        """The job, queued; with `evaluate`, its before/after dataset is made now from the validation split
        (frozen with the training set) and the general probes not trained on."""
        try:
            training_set = await TrainingSetService(self.session, BACKGROUND).get(data.training_set_id)
        except NotFound:
            raise Invalid(f"training_set_id: training set {data.training_set_id} not found") from None
        if data.backend == "local":
            base_model = BUNDLED_MODEL_ID
            if data.endpoint_id is not None:
                raise Invalid("endpoint_id: local jobs train the bundled model; leave it out")
        else:
            assert data.endpoint_id is not None  # the schema insists
            try:
                endpoint = await EndpointService(self.session, self.cipher, allow_private=True).get(data.endpoint_id)
            except NotFound:
                raise Invalid(f"endpoint_id: endpoint {data.endpoint_id} not found") from None
            if endpoint.kind != "openai":
                raise Invalid("endpoint_id: hosted fine-tuning needs an OpenAI-compatible endpoint")
            base_model = data.base_model or endpoint.model
        job = FineTuneJob(
            training_set_id=training_set.id,
            backend=data.backend,
            endpoint_id=data.endpoint_id,
            base_model=base_model,
            hyperparameters=data.hyperparameters.model_dump(),
            status="queued",
            created_by=created_by,
            repoint_variant_ids=list(repoint_variant_ids),
        )
        self.session.add(job)
        await self.session.flush()
        if data.evaluate:
            job.evaluation_dataset_id = await self._evaluation_dataset(job, training_set, data)
        return job

    async def _evaluation_dataset(self, job: FineTuneJob, training_set: TrainingSet, data: FineTuneJobIn) -> int:
        # The evaluation dataset is made of every validation row, whoever starts the job; its items keep the
        # comparison each came from, so reading them is scoped as the rows are.
        repo = TrainingSetRepository(self.session, BACKGROUND)
        # The plain rows: a row with sources is the same question, asked of the hybrid (the verdict of any
        # experiment with RAG variants measures that).
        validation = [r for r in await repo.rows(training_set.id, split="validation") if not r.source_kind.endswith(WITH_SOURCES)]
        trained = {r.prompt.strip().casefold() for r in await repo.rows(training_set.id, split="train")}
        items = [ItemIn(query=r.prompt, reference=r.completion, tags=["validation"]) for r in validation]
        lineage = [r.comparison_id for r in validation]
        # A probe the model was trained on measures memory, not forgetting: left out.
        items += [
            ItemIn(query=p.query, reference=p.reference, tags=list(p.tags))
            for p in general_probes()
            if p.query.strip().casefold() not in trained
        ]
        dataset = await DatasetService(self.session, BACKGROUND).create(
            DatasetIn(
                name=f"Fine-tune #{job.id} evaluation",
                description=f"Validation split of {training_set.name!r} and the general probes: before vs after.",
                format_kind=data.format_kind,
                format_rule=data.format_rule,
                probe_tag=PROBE_TAG,
                items=items,
            ),
            lineage=lineage,
        )
        return dataset.id

    async def get(self, job_id: int) -> FineTuneJob:
        job = await self.repo.get(job_id)
        if job is None:
            raise NotFound(f"fine-tuning job {job_id} not found")
        return job

    async def recent(self, *, limit: int = 50, offset: int = 0) -> list[JobSummary]:
        """The newest jobs with the names of their training sets (one query)."""
        return [JobSummary(job, name) for job, name in await self.repo.recent_with_names(limit, offset)]

    async def summary(self, job_id: int) -> JobSummary:
        job = await self.get(job_id)
        name = await TrainingSetRepository(self.session, BACKGROUND).name_of(job.training_set_id)
        return JobSummary(job, name or "")

    async def cancel(self, job_id: int) -> FineTuneJob:
        """The worker sees it within a second and stops (a hosted job is cancelled on its API too)."""
        job = await self.get(job_id)
        if job.status in FINISHED_JOBS:
            raise Conflict(f"fine-tuning job {job_id} is already {job.status}")
        await self.repo.update(job_id, status="cancelled", finished_at=utcnow())
        await self.session.refresh(job)
        return job
