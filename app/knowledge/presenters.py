"""Knowledge bases and ingest jobs as the API and pages show them."""

from __future__ import annotations

from datetime import UTC

from app.knowledge.schemas import IngestJobOut, KnowledgeBaseOut
from app.knowledge.service import KnowledgeBaseSummary
from app.models import IngestJob, utcnow


def job_out(job: IngestJob) -> IngestJobOut:
    """Progress with a throughput figure (chunks per second since the job started)."""
    out = IngestJobOut.model_validate(job)
    if job.started_at is not None and job.chunks_done:
        end = job.finished_at or utcnow()
        started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
        seconds = max((end - started).total_seconds(), 1e-3)
        out.chunks_per_s = round(job.chunks_done / seconds, 1)
    return out


def knowledge_base_out(summary: KnowledgeBaseSummary) -> KnowledgeBaseOut:
    kb = summary.kb
    return KnowledgeBaseOut(
        id=kb.id,
        name=kb.name,
        description=kb.description,
        embedding_model=kb.embedding_model,
        documents=summary.documents,
        chunks=summary.chunks,
        created_at=kb.created_at,
    )
