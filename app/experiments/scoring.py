"""Automatic metrics for an experiment's finished outputs, in batches (resumable: unscored outputs only)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.evaluation.metrics import METRIC_NAMES, MetricValue, reference_similarity, score_answer
from app.experiments.repository import ExperimentRepository, ScoringRow

Embed = Callable[[list[str]], list[list[float]]]


def score_rows(
    rows: list[ScoringRow], embed: Embed, format_kind: str, format_rule: str, probe_tag: str = ""
) -> list[dict[str, object]]:
    """Metric rows for these outputs; a failed output gets every metric with the reason instead of a value,
    and a general-knowledge probe is not held to the dataset's format rule."""
    answered = [r for r in rows if r.status == "done"]
    similarities = reference_similarity([r.text for r in answered], [r.reference for r in answered], embed)
    scored: dict[int, dict[str, MetricValue]] = {}
    for row, similarity in zip(answered, similarities, strict=True):
        probe = bool(probe_tag) and probe_tag in row.tags
        scored[row.output_id] = {"similarity": similarity} | score_answer(
            row.text,
            reference=row.reference,
            contexts=row.contexts,
            expected_source=row.expected_source,
            format_kind=format_kind,
            format_rule=format_rule,
        )
        if probe and format_kind:
            scored[row.output_id]["format"] = MetricValue(
                None, f"a general-knowledge probe (tagged {probe_tag!r}): the format rule does not apply"
            )
    out: list[dict[str, object]] = []
    for row in rows:
        metrics = scored.get(row.output_id)
        for name in METRIC_NAMES:
            if metrics is None:
                value = MetricValue(None, f"the output failed: {(row.error or 'no answer')[:300]}")
            else:
                value = metrics[name]
            out.append({"output_id": row.output_id, "name": name, "value": value.value, "reason": value.reason})
    return out


class Scorer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], embed: Embed, *, batch_size: int = 64):
        self.sessions = sessions
        self.embed = embed
        self.batch_size = batch_size

    async def __call__(self, experiment_id: int) -> None:
        async with self.sessions() as session:
            experiment = await ExperimentRepository(session).get(experiment_id)
            if experiment is None:
                return
            version = experiment.dataset_version
            kind, rule, probe_tag = version.format_kind, version.format_rule, version.probe_tag
        while True:
            async with self.sessions() as session:
                rows = await ExperimentRepository(session).unscored(experiment_id, self.batch_size)
            if not rows:
                return
            # Embedding and regular expressions are CPU work: off the event loop.
            metrics = await asyncio.to_thread(score_rows, rows, self.embed, kind, rule, probe_tag)
            async with self.sessions.begin() as session:
                await ExperimentRepository(session).add_metrics(metrics)
