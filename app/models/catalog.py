"""The catalog: endpoints, example sets, knowledge bases with their documents, variants and versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped


class Endpoint(Timestamped, Base):
    """A model connection. The key is stored encrypted and never rendered back."""

    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str] = mapped_column(String(500))
    model: Mapped[str] = mapped_column(String(200))
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    # Prices in USD per one million tokens; None = unknown, cost stays unknown.
    price_prompt_per_m: Mapped[float | None] = mapped_column(Float)
    price_completion_per_m: Mapped[float | None] = mapped_column(Float)
    timeout_s: Mapped[float] = mapped_column(Float, default=60.0)
    # How many requests an experiment keeps in flight against this endpoint at once.
    max_concurrency: Mapped[int] = mapped_column(Integer, default=4, server_default="4")
    # True for endpoints served by this app's own bundled model server.
    is_bundled: Mapped[bool] = mapped_column(default=False)
    # True when `model` is the result of a fine-tune (not a base model standing in).
    is_fine_tuned: Mapped[bool] = mapped_column(default=False)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def has_key(self) -> bool:
        return self.api_key_encrypted is not None


class ExampleSet(Timestamped, Base):
    __tablename__ = "example_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    examples: Mapped[list[Example]] = relationship(
        back_populates="example_set", order_by="Example.position", cascade="all, delete-orphan"
    )


class Example(Base):
    __tablename__ = "examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    example_set_id: Mapped[int] = mapped_column(ForeignKey("example_sets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    input: Mapped[str] = mapped_column(Text)
    output: Mapped[str] = mapped_column(Text)
    example_set: Mapped[ExampleSet] = relationship(back_populates="examples")


class KnowledgeBase(Timestamped, Base):
    """Documents live in SQL, their vectors in the Chroma collection named here."""

    __tablename__ = "knowledge_bases"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    collection_name: Mapped[str] = mapped_column(String(120), unique=True)
    embedding_model: Mapped[str] = mapped_column(String(200))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Document(Timestamped, Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("knowledge_base_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    # pending -> ready; a document is ready only once all its chunks are in Chroma.
    # deleting: its vectors are being removed; failed: ingestion gave up (error says why).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    # The extracted text is kept so ingestion can resume after a crash and re-ingest with new settings.
    text: Mapped[str] = mapped_column(Text, default="")
    media_type: Mapped[str] = mapped_column(String(20), default="text")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    ingest_job_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="SET NULL"))
    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document", order_by="Chunk.position", cascade="all, delete-orphan"
    )


class IngestJob(Timestamped, Base):
    """Progress of one batch of documents being chunked, embedded and written to Chroma."""

    __tablename__ = "ingest_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    knowledge_base_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    # queued -> running -> succeeded | failed
    status: Mapped[str] = mapped_column(String(20), default="queued")
    documents_total: Mapped[int] = mapped_column(Integer, default=0)
    documents_done: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    chunk_size: Mapped[int] = mapped_column(Integer, default=800)
    chunk_overlap: Mapped[int] = mapped_column(Integer, default=120)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Chunk(Base):
    """The SQL side of a Chroma vector: same id, so the two stores can be reconciled."""

    __tablename__ = "chunks"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)
    document: Mapped[Document] = relationship(back_populates="chunks")


class Variant(Timestamped, Base):
    """A named recipe; its configuration lives in immutable-once-used versions."""

    __tablename__ = "variants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    strategy: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    versions: Mapped[list[VariantVersion]] = relationship(
        back_populates="variant", order_by="VariantVersion.version", cascade="all, delete-orphan"
    )


class VariantVersion(Timestamped, Base):
    __tablename__ = "variant_versions"
    __table_args__ = (UniqueConstraint("variant_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    config_hash: Mapped[str] = mapped_column(String(64), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id"))
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    # RAG: the layout of sources and question (a Jinja template); "" = the built-in one.
    context_template: Mapped[str] = mapped_column(Text, default="", server_default="")
    temperature: Mapped[float] = mapped_column(Float, default=0.2)
    top_p: Mapped[float] = mapped_column(Float, default=1.0)
    max_tokens: Mapped[int] = mapped_column(Integer, default=200)
    example_set_id: Mapped[int | None] = mapped_column(ForeignKey("example_sets.id"))
    few_shot_k: Mapped[int] = mapped_column(Integer, default=0)
    # first | random | similar
    few_shot_selection: Mapped[str] = mapped_column(String(20), default="first")
    knowledge_base_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_bases.id"))
    top_k: Mapped[int] = mapped_column(Integer, default=0)
    min_score: Mapped[float] = mapped_column(Float, default=0.0)
    use_mmr: Mapped[bool] = mapped_column(default=False)
    # Recorded so results stay reproducible even if the knowledge base changes model.
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    variant: Mapped[Variant] = relationship(back_populates="versions")
    endpoint: Mapped[Endpoint] = relationship()
    example_set: Mapped[ExampleSet | None] = relationship()
    knowledge_base: Mapped[KnowledgeBase | None] = relationship()
