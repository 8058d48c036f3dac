"""The bounded renderer: user templates render in worker processes, in a time budget, on copies."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator

import pytest

from app.prompts.bounded import SAMPLE_QUERY, TemplateRenderer, user_template_problem
from app.prompts.worker import MAX_RENDERED

BUDGET_S = 0.5
# Saves fine (the save-time check asks the sample question), then spins for minutes on any other question.
SLOW = (
    '{% if query != "' + SAMPLE_QUERY + '" %}'
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    "{% endif %}{{ query }}"
)
RECURSIVE = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"
CONTEXTS = [
    {
        "chunk_id": "c1",
        "text": "New staff get 22 days.",
        "source": "leave.md",
        "position": 0,
        "heading": "",
        "score": 0.7,
    }
]


@pytest.fixture
async def renderer() -> AsyncIterator[TemplateRenderer]:
    templates = TemplateRenderer(budget_s=BUDGET_S)
    yield templates
    await templates.aclose()


async def test_a_runaway_template_is_stopped_within_the_budget_and_the_next_render_works(
    renderer: TemplateRenderer,
) -> None:
    assert await renderer.problem(SLOW) is None  # the hole: the sample question does not loop
    assert await renderer.render("{{ query }}", query="warm") == "warm"  # the worker's start is not timed
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"took longer than 0\.5 s"):
        await renderer.render(SLOW, contexts=CONTEXTS, query="How many weeks?")
    assert time.perf_counter() - started < BUDGET_S + 0.4
    assert await renderer.render("{{ query }}", query="after") == "after"  # a fresh worker


async def test_the_event_loop_keeps_ticking_while_a_template_runs(renderer: TemplateRenderer) -> None:
    await renderer.render("{{ query }}", query="warm")
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        with pytest.raises(ValueError, match="took longer"):
            await renderer.render(SLOW, contexts=CONTEXTS, query="How many weeks?")
    finally:
        ticker.cancel()
    assert len(gaps) > 20 and max(gaps) < 0.1


async def test_a_template_changes_only_its_own_copy_of_what_it_is_given(renderer: TemplateRenderer) -> None:
    contexts = copy.deepcopy(CONTEXTS)
    clearing = "{{ contexts.clear() }}{{ contexts | length }}"
    assert await renderer.render(clearing, contexts=contexts, query="q") == "None0"
    assert contexts == CONTEXTS
    # Nothing a render changes survives into the next one: every render gets fresh copies.
    grow = "{{ contexts.append(query) or '' }}{{ contexts | length }}"
    assert [await renderer.render(grow, contexts=contexts, query="q") for _ in range(3)] == ["2", "2", "2"]
    assert contexts == CONTEXTS


async def test_a_recursive_macro_is_a_clear_error_and_the_worker_lives_on(renderer: TemplateRenderer) -> None:
    with pytest.raises(ValueError, match="nests too deeply"):
        await renderer.render(RECURSIVE, contexts=CONTEXTS, query="q")
    assert (
        await renderer.problem(RECURSIVE)
        == "the template nests too deeply (e.g. a macro that calls itself without end)"
    )
    nested = "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{% else %}done{% endif %}{% endmacro %}{{ f(20) }}"
    assert await renderer.render(nested) == "done"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (
            "{% for i in range(100000) %}{% for j in range(100) %}xxxxxxxx{% endfor %}{% endfor %}",
            f"more than {MAX_RENDERED:,}",
        ),
        ('{{ ("x" * 10000000000) | length }}', "too much memory"),
        ("{{ query.__class__.__mro__ }}", "unsafe"),
        ("{{ 1 / 0 }}", "division by zero"),
        ('{{ "\\ud800" }}', "not valid Unicode"),
        ("{% for c in contexts %}", "line 1"),
    ],
)
async def test_what_a_template_cannot_do_is_said_plainly(
    renderer: TemplateRenderer, template: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        await renderer.render(template, contexts=CONTEXTS, query="q")
    assert await renderer.render("{{ contexts[0].source }}", contexts=CONTEXTS) == "leave.md"


async def test_a_worker_that_died_between_renders_is_replaced(renderer: TemplateRenderer) -> None:
    await renderer.render("{{ query }}", query="warm")
    for worker in list(renderer._workers):
        worker.process.kill()
        worker.process.wait()
    assert await renderer.render("{{ query }}", query="again") == "again"


async def test_closing_kills_the_workers_and_refuses_later_renders() -> None:
    renderer = TemplateRenderer(budget_s=BUDGET_S, workers=2)
    await asyncio.gather(*(renderer.render("{{ query }}", query=str(i)) for i in range(4)))
    processes = [w.process for w in renderer._workers]
    assert processes
    slow = asyncio.create_task(renderer.render(SLOW, query="How many weeks?"))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    await renderer.aclose()
    assert time.perf_counter() - started < BUDGET_S
    assert all(p.returncode is not None for p in processes)
    with pytest.raises(RuntimeError):
        await slow
    with pytest.raises(RuntimeError, match="closed"):
        await renderer.render("{{ query }}", query="late")


async def test_the_save_time_check_without_the_apps_renderer_uses_a_worker_of_its_own() -> None:
    assert (
        await user_template_problem("{% for c in contexts %}[{{ loop.index }}] {{ c.text }}{% endfor %}")
        is None
    )
    assert "nests too deeply" in (await user_template_problem(RECURSIVE) or "")
