"""Prompt construction per strategy, without a network or a model."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import asdict

import pytest

from app.pipelines.base import ExamplePair, PipelineError, VariantSpec
from app.pipelines.few_shot import FewShotPipeline
from app.pipelines.fine_tuned import FineTunedPipeline
from app.pipelines.rag import RagFineTunedPipeline, RagPipeline
from app.prompts.bounded import TemplateRenderer
from app.providers.base import EndpointConfig
from app.retrieval.store import RetrievedChunk

ENDPOINT = EndpointConfig(kind="openai", base_url="http://127.0.0.1:9/v1", model="m")
EXAMPLES = tuple(ExamplePair(f"question {i}", f"Answer: {i}") for i in range(6))


def spec(strategy: str, **kw: object) -> VariantSpec:
    return VariantSpec(variant_id=1, version_id=1, name="v", strategy=strategy, endpoint=ENDPOINT, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def templates() -> AsyncIterator[TemplateRenderer]:
    renderer = TemplateRenderer(budget_s=0.5)
    yield renderer
    await renderer.aclose()


class FakeStore:
    """Stands in for Chroma in pure prompt tests; the real store is tested against real Chroma."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    async def aquery(
        self, collection: str, text: str, top_k: int, *, min_score: float = 0.0, mmr: bool = False
    ) -> list[RetrievedChunk]:
        self.calls.append((collection, text, top_k))
        return [
            RetrievedChunk(
                "c1", "New employees receive 22 vacation days.", "01-vacation.md", 2, "Allowance", 0.71
            ),
            RetrievedChunk("c2", "Meals are capped at EUR 45.", "05-expenses.md", 0, "", 0.33),
        ][:top_k]


async def test_few_shot_sends_examples_as_turns() -> None:
    prepared = await FewShotPipeline(None).prepare(
        "How many days?", spec("few_shot", system_prompt="Be brief.", examples=EXAMPLES, few_shot_k=2)
    )
    roles = [m.role for m in prepared.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert prepared.messages[1].content == "question 0"
    assert prepared.messages[2].content == "Answer: 0"
    assert prepared.messages[-1].content == "How many days?"
    assert prepared.contexts == []


async def test_random_selection_is_reproducible_per_query() -> None:
    pipeline = FewShotPipeline(None)
    s = spec("few_shot", examples=EXAMPLES, few_shot_k=3, few_shot_selection="random")
    first = await pipeline.select("q", s)
    assert first == await pipeline.select("q", s)
    assert len(set(first)) == 3


async def test_rag_numbers_sources_and_keeps_evidence(templates: TemplateRenderer) -> None:
    store = FakeStore()
    prepared = await RagPipeline(store, templates).prepare("vacation days?", spec("rag", collection="kb-x", top_k=2))  # type: ignore[arg-type]
    assert store.calls == [("kb-x", "vacation days?", 2)]
    assert prepared.messages[0].role == "system"
    user = prepared.messages[-1].content
    assert "[1] (01-vacation.md - Allowance) New employees receive 22 vacation days." in user
    assert "[2] (05-expenses.md)" in user
    assert "Question: vacation days?\n" in user
    assert user.rstrip().endswith("say you don't know.")
    assert [c["score"] for c in prepared.contexts] == [0.71, 0.33]


async def test_rag_without_knowledge_base_is_an_error(templates: TemplateRenderer) -> None:
    with pytest.raises(PipelineError):
        await RagPipeline(FakeStore(), templates).prepare("q", spec("rag", collection=None, top_k=3))  # type: ignore[arg-type]


async def test_fine_tuned_sends_the_query_alone_and_hybrid_adds_context(templates: TemplateRenderer) -> None:
    tuned = await FineTunedPipeline().prepare("q?", spec("fine_tuned"))
    assert [(m.role, m.content) for m in tuned.messages] == [("user", "q?")]
    hybrid = await RagFineTunedPipeline(FakeStore(), templates).prepare(
        "q?", spec("rag_fine_tuned", collection="k", top_k=1)
    )  # type: ignore[arg-type]
    assert [m.role for m in hybrid.messages] == ["user"]  # no default system prompt for the tuned model
    assert "[1] (01-vacation.md" in hybrid.messages[0].content


async def test_a_variants_context_template_lays_out_the_sources_in_a_sandbox(templates: TemplateRenderer) -> None:
    template = "{% for c in contexts %}Fact {{ loop.index }}: {{ c.text }}\n{% endfor %}Q: {{ query }}"
    prepared = await RagPipeline(FakeStore(), templates).prepare(
        "vacation days?", spec("rag", collection="kb-x", top_k=2, context_template=template)  # type: ignore[arg-type]
    )
    assert prepared.messages[-1].content == (
        "Fact 1: New employees receive 22 vacation days.\nFact 2: Meals are capped at EUR 45.\nQ: vacation days?"
    )
    # The sandbox refuses reaching into Python internals; the run fails with the reason, not a 500.
    escape = "{{ query.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(PipelineError, match="context template failed"):
        await RagPipeline(FakeStore(), templates).prepare(
            "q", spec("rag", collection="kb-x", top_k=1, context_template=escape)  # type: ignore[arg-type]
        )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{% for c in contexts %}{{ c.text }}", "line 1"),  # unclosed block
        ("{{ nothing_here }}", "undefined"),
        ("{{ query.__class__.__mro__ }}", "unsafe"),
        ("{% for c in contexts %}[{{ loop.index }}] {{ c.text }}{% endfor %}\n{{ query }}", None),
    ],
)
async def test_context_templates_are_checked_before_they_are_saved(
    templates: TemplateRenderer, template: str, problem: str | None
) -> None:
    from app.prompts.bounded import user_template_problem

    found = await user_template_problem(template, templates)
    assert (found is None) if problem is None else (found is not None and problem in found.lower())


async def test_a_context_template_cannot_touch_the_evidence_nor_hold_up_the_answer(templates: TemplateRenderer) -> None:
    store = FakeStore()
    expected = [asdict(c) for c in await store.aquery("kb-x", "q", 2)]
    clearing = spec("rag", collection="kb-x", top_k=2, context_template="{{ contexts.clear() }}{{ contexts|length }}")
    prepared = await RagPipeline(store, templates).prepare("vacation days?", clearing)  # type: ignore[arg-type]
    assert prepared.messages[-1].content == "None0"
    assert prepared.contexts == expected  # the evidence stored with the answer is what was retrieved
    slow = '{% if query != "How many days?" %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}'
    started = time.perf_counter()
    with pytest.raises(PipelineError, match=r"context template failed: the template took longer than 0\.5 s"):
        await RagPipeline(store, templates).prepare("q", spec("rag", collection="kb-x", top_k=2, context_template=slow))  # type: ignore[arg-type]
    assert time.perf_counter() - started < 1.5
    recursive = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"
    with pytest.raises(PipelineError, match="nests too deeply"):
        await RagPipeline(store, templates).prepare("q", spec("rag", collection="kb-x", top_k=2, context_template=recursive))  # type: ignore[arg-type]
