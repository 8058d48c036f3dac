"""The fan-out: store a comparison with one pending output per variant, run the variants concurrently, finish each output on its own; and reading stored comparisons."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog.service import VariantService
from app.comparisons.finishing import OutputFinisher, as_stored
from app.comparisons.live import LiveComparison, LiveOutput, LiveOutputs
from app.comparisons.multiturn import with_history
from app.comparisons.repository import ComparisonRepository
from app.comparisons.schemas import FinishedOutput
from app.comparisons.specs import OutputJob, cost_usd, variant_spec
from app.core.background import KeyedTasks
from app.core.errors import Invalid
from app.core.secrets import KeyCipher
from app.models import Comparison, ComparisonSession, ComparisonTag, VariantVersion, utcnow
from app.pipelines.base import Pipeline, PipelineError
from app.providers.base import ChatMessage, ChatRequest, ChatResult, EndpointConfig, ProviderError
from app.providers.gateway import Delta, ModelGateway
from app.providers.redaction import redact

log = logging.getLogger(__name__)


INTERRUPTED = "interrupted: the server stopped before this variant finished"


@dataclass(frozen=True)
class NewComparison:
    """A stored comparison and its pending outputs (in position order), ready to run; `comparison` and
    `versions` (by id) as stored, to answer with once the run is done."""

    comparison: Comparison
    jobs: list[OutputJob]
    versions: dict[int, VariantVersion]

    @property
    def id(self) -> int:
        return self.comparison.id

    @property
    def outputs(self) -> list[tuple[int, VariantVersion]]:
        """(output id, variant version) in position order."""
        return [(job.output_id, self.versions[job.spec.version_id]) for job in self.jobs]

    def as_started(self) -> Comparison:
        """The comparison as created: every output pending."""
        return as_stored(self.comparison, self.outputs, {job.output_id: {} for job in self.jobs})


class _Stopped(Exception):
    """Someone pressed Stop: the output is stored with the text written so far."""


class ComparisonRunner:
    """Creates comparisons and runs their variants; one slow or failing variant never holds the others."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        gateway: ModelGateway,
        pipelines: dict[str, Pipeline],
        cipher: KeyCipher,
        *,
        max_answer_chars: int = 64 * 1024,
        lease_s: float = 30.0,
        checkpoint_s: float = 0.25,
    ):
        self.sessions = sessions
        self.lease_s = lease_s
        # How often running answers' text is written to their rows (so another process, or a reader that
        # reconnects there, can follow) and Stop requests from other processes are read.
        self.checkpoint_s = checkpoint_s
        self._checkpoints: asyncio.Task[None] | None = None
        # Outputs this process is answering: their leases are renewed until they are stored.
        self._owned: set[int] = set()
        self._leases: asyncio.Task[None] | None = None
        self.max_answer_chars = max_answer_chars
        self.gateway = gateway
        self.pipelines = pipelines
        self.cipher = cipher
        self.tasks = KeyedTasks[dict[int, FinishedOutput]]("comparison")
        self.finisher = OutputFinisher(sessions)
        # The text of every answer this process is writing, for live readers (app/comparisons/feed.py).
        self.live = LiveOutputs(max_answer_chars)

    async def create(
        self,
        query: str,
        variant_ids: Sequence[int] | None,
        created_by: str,
        *,
        dataset: str = "",
        tags: Sequence[str] = (),
        start_session: bool = False,
    ) -> NewComparison:
        """Store the comparison with one pending output per variant (so nothing is lost on a crash), and
        what running them takes, read before the first write so the write transaction stays short. With
        `start_session` it is the first turn of a new comparison session (app/comparisons/multiturn.py)."""
        async with self.sessions.begin() as session:
            versions = await VariantService(session).current_versions(variant_ids)
            if not versions:
                raise Invalid("there are no active variants to compare; create one first")
            turn_of = None
            if start_session:
                conversation = ComparisonSession(
                    title=query, created_by=created_by, variant_version_ids=[v.id for v in versions]
                )
                session.add(conversation)
                await session.flush()
                turn_of = (conversation.id, 1)
            return await self.store(
                session, query, created_by, versions, dataset=dataset, tags=tags, turn_of=turn_of
            )

    async def store(
        self,
        session: AsyncSession,
        query: str,
        created_by: str,
        versions: Sequence[VariantVersion],
        *,
        dataset: str = "",
        tags: Sequence[str] = (),
        turn_of: tuple[int, int] | None = None,
        histories: Mapping[int, tuple[ChatMessage, ...]] | None = None,
    ) -> NewComparison:
        """Store a comparison of these versions (in this order) in `session`'s transaction: as turn `turn_of`
        = (session id, turn) of a comparison session, each version's prompt then carrying its `histories`."""
        version_ids = [version.id for version in versions]
        comparison = Comparison(
            query=query,
            created_by=created_by,
            dataset=dataset,
            experiment_id=None,
            session_id=turn_of[0] if turn_of else None,
            turn=turn_of[1] if turn_of else 0,
            tags=[ComparisonTag(tag=t) for t in dict.fromkeys(tags)],
        )
        repo = ComparisonRepository(session)
        repo.add(comparison)
        await session.flush()
        output_ids = await repo.add_pending_outputs(comparison.id, version_ids, self._lease_until())
        pending = [(o, query, v) for o, v in zip(output_ids, version_ids, strict=True)]
        by_id = {version.id: version for version in versions}
        jobs = self._jobs(by_id, pending)
        if histories:
            jobs = [dataclasses.replace(job, history=histories.get(job.spec.version_id, ())) for job in jobs]
        return NewComparison(comparison, jobs, by_id)

    def start(self, new: NewComparison) -> asyncio.Task[dict[int, FinishedOutput]]:
        """Run in the background; the task outlives the request that started it. The fan-out belongs to this
        process: it holds the outputs' leases until they are stored."""
        if self._leases is None or self._leases.done():
            self._leases = asyncio.create_task(self._keep_leases(), name="output-leases")
        live = self.live.open(new.id, [job.output_id for job in new.jobs])
        if self._checkpoints is None or self._checkpoints.done():
            self._checkpoints = asyncio.create_task(self._checkpoint_while_running(), name="output-checkpoints")
        return self.tasks.start(new.id, lambda: self._run_live(new, live))

    async def _run_live(self, new: NewComparison, live: LiveComparison) -> dict[int, FinishedOutput]:
        try:
            return await self.run(new.jobs, live)
        finally:
            self.live.close(new.id)

    async def run_to_completion(self, new: NewComparison) -> Comparison:
        """Start the run and wait (a disconnecting client does not cancel it); the comparison as stored."""
        finished = await asyncio.shield(self.start(new))
        return as_stored(new.comparison, new.outputs, finished)

    async def run(self, jobs: Sequence[OutputJob], live: LiveComparison | None = None) -> dict[int, FinishedOutput]:
        """Run a comparison's pending outputs concurrently; what each stored, by output id. With `live`, each
        answer's text is published there as it streams."""
        owned = {job.output_id for job in jobs}
        self._owned |= owned
        try:
            finished = await asyncio.gather(
                *(self._run_one(job, live.outputs.get(job.output_id) if live else None) for job in jobs)
            )
            return {job.output_id: values for job, values in zip(jobs, finished, strict=True)}
        finally:
            self._owned -= owned

    async def shutdown(self) -> None:
        """Cancel running comparisons; their leases lapse and their pending outputs are then failed (by the
        next start, or by any live process's sweep)."""
        await self.tasks.cancel_all()
        await self.finisher.aclose()
        for task in (self._leases, self._checkpoints):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def stop(self, comparison_id: int, *, wait_s: float = 10.0) -> int:
        """Stop a standalone comparison's running answers, wherever they run: each is stored as stopped with
        the text written until then. Returns how many were asked to stop, once they are stored (or after
        `wait_s`, should the process answering one be gone: its lease then lapses)."""
        async with self.sessions.begin() as session:
            asked = await ComparisonRepository(session).request_stop(comparison_id, utcnow())
        for output_id in asked:
            if (output := self.live.output(comparison_id, output_id)) is not None:
                output.stop()
        async with asyncio.timeout(wait_s) if wait_s else contextlib.nullcontext():
            with contextlib.suppress(TimeoutError):
                while asked:
                    async with self.sessions() as session:
                        if not await ComparisonRepository(session).pending_count(comparison_id):
                            break
                    await asyncio.sleep(0.05)
        return len(asked)

    async def _checkpoint_while_running(self) -> None:
        while self.live.running():
            await asyncio.sleep(self.checkpoint_s)
            try:
                await self.checkpoint()
            except Exception:  # the next tick tries again; the final write does not depend on it
                log.debug("checkpoint failed", exc_info=True)

    async def checkpoint(self) -> None:
        """Write running answers' new text to their rows, and stop those someone asked (maybe elsewhere) to."""
        running = self.live.running()
        if not running:
            return
        dirty = [(output, output.length) for output in running if output.length > output.checkpointed]
        async with self.sessions.begin() as session:
            repo = ComparisonRepository(session)
            if dirty:
                await repo.save_partial_texts([(output.output_id, output.text[:n]) for output, n in dirty])
            stops = await repo.stop_requested([output.output_id for output in running])
        for output, length in dirty:
            output.checkpointed = length
        for output in running:
            if output.output_id in stops:
                output.stop()

    def _lease_until(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease_s)

    async def _keep_leases(self) -> None:
        """Renew the leases of the outputs this process is answering, and fail the ones nobody vouches for."""
        while True:
            await asyncio.sleep(self.lease_s / 3)
            with contextlib.suppress(Exception):
                if self._owned:
                    async with self.sessions.begin() as session:
                        await ComparisonRepository(session).renew_leases(self._owned, self._lease_until())
                await self.fail_interrupted()

    async def fail_interrupted(self) -> int:
        """Outputs still pending whose lease has lapsed belong to a process that is gone (stopped, killed):
        say so rather than hang. An output a live process is answering keeps its lease and is left alone."""
        async with self.sessions.begin() as session:
            return await ComparisonRepository(session).fail_pending_outputs(INTERRUPTED, utcnow())

    async def jobs(self, session: AsyncSession, pending: Sequence[tuple[int, str, int]]) -> list[OutputJob]:
        """Jobs for (output id, query, variant version id) triples, loading each version once."""
        versions = await VariantService(session).versions_for_run([v for _o, _q, v in pending])
        return self._jobs(versions, pending)

    def _jobs(
        self, versions: dict[int, VariantVersion], pending: Sequence[tuple[int, str, int]]
    ) -> list[OutputJob]:
        specs = {version_id: variant_spec(version, self.cipher) for version_id, version in versions.items()}
        return [OutputJob(o, q, specs[v], versions[v].endpoint) for o, q, v in pending]

    async def _run_one(self, job: OutputJob, live: LiveOutput | None) -> FinishedOutput:
        """One variant end to end; whatever happens, its output row is finished (with the values returned)."""
        values = await self.execute(job, live)
        await self.finisher.finish(job.output_id, values)
        if live is not None:
            live.finish(values)
        return values

    async def _answer(
        self, endpoint: EndpointConfig, request: ChatRequest, live: LiveOutput | None
    ) -> tuple[ChatResult | None, float | None]:
        """The model's answer, streamed into `live`, and when its first text arrived (perf_counter). None for
        the answer when someone pressed Stop: the model call is cancelled (its connection closed)."""
        first: list[float] = []

        async def streamed() -> ChatResult:
            async for event in self.gateway.stream(endpoint, request):
                if isinstance(event, Delta):
                    if not first:
                        first.append(time.perf_counter())
                    if live is not None:
                        live.append(event.text)
                    continue
                return event.result
            raise ProviderError("the model's stream ended without an answer")

        if live is None:
            return await streamed(), None
        call = asyncio.create_task(streamed())
        live.on_stop(call.cancel)
        try:
            return await call, None
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not live.stop_requested or (current is not None and current.cancelling()):
                raise
            return None, first[0] if first else None
        finally:
            live.on_stop(None)

    async def execute(self, job: OutputJob, live: LiveOutput | None = None) -> FinishedOutput:
        """Run one variant and return its output row's values (never raises for a model's failure).

        latency_ms and ttft_ms are the variant's own time from this call; time the request spent in the
        model server's queue (behind other requests, as the bundled model serves one at a time) is taken out
        of both and reported as wait_ms."""
        started = time.perf_counter()
        # error: None clears a row's error, so a late answer never sits beside an "interrupted" message.
        values: FinishedOutput = {"model": job.spec.endpoint.model, "wait_ms": None, "error": None}
        server_wait = 0.0
        try:
            pipeline = self.pipelines[job.spec.strategy]
            prepared = await pipeline.prepare(job.query, job.spec)
            messages = with_history(prepared.messages, job.history)
            values["contexts"] = prepared.contexts
            values["prompt"] = [asdict(m) for m in messages]
            request = ChatRequest(
                messages=messages,
                temperature=job.spec.temperature,
                max_tokens=job.spec.max_tokens,
                top_p=job.spec.top_p,
            )
            model_started = time.perf_counter()
            result, first_text_at = await self._answer(job.spec.endpoint, request, live)
            if result is None:
                assert live is not None  # only a live answer can be stopped
                values |= {
                    "status": "stopped",
                    "text": live.text,
                    "ttft_ms": None if first_text_at is None else round((first_text_at - started) * 1000, 1),
                }
                raise _Stopped
            server_wait = result.queue_ms or 0.0
            values |= {
                "status": "done",
                # max_tokens is a request, not a guarantee: a hostile endpoint can answer megabytes.
                "text": result.text[: self.max_answer_chars],
                "truncated": len(result.text) > self.max_answer_chars,
                "model": result.model or job.spec.endpoint.model,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "cost_usd": cost_usd(job.endpoint, result.prompt_tokens, result.completion_tokens),
                "ttft_ms": None
                if result.ttft_ms is None
                else round(max(0.0, (model_started - started) * 1000 + result.ttft_ms - server_wait), 1),
                "wait_ms": None if result.queue_ms is None else round(server_wait, 1),
            }
        except _Stopped:
            pass
        except (PipelineError, ProviderError) as exc:
            # The gateway redacts already; a pipeline's error can quote a retrieval failure: the last line.
            values |= {"status": "error", "error": redact(str(exc), job.spec.endpoint.api_key)}
        except Exception as exc:
            log.exception("variant %s failed unexpectedly", job.spec.name)
            values |= {"status": "error", "error": f"internal error: {type(exc).__name__}"}
        values["latency_ms"] = round(max(0.0, (time.perf_counter() - started) * 1000 - server_wait), 1)
        values["finished_at"] = utcnow()
        return values
