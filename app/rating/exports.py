"""Exports of ratings: CSV and JSONL for analysis, preference pairs (DPO) and chat fine-tuning data."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.filters import Filters
from app.core.spreadsheet import safe_cell
from app.models import Comparison, Output, Rating
from app.rating.repository import ratings_for_export
from app.rating.service import LABELS


@dataclass(frozen=True)
class RatedOutput:
    output: Output
    label: str
    position: int | None  # 1-based position shown; None if the rating did not record it
    rank: int | None
    scores: dict[str, int]

    @property
    def overall(self) -> float | None:
        return sum(self.scores.values()) / len(self.scores) if self.scores else None


def rated_outputs(rating: Rating) -> list[RatedOutput]:
    """The outputs this rating scored or ranked, in the order the rater saw them."""
    outputs = {o.id: o for o in rating.comparison.outputs}
    scores: dict[int, dict[str, int]] = {}
    for score in rating.scores:
        scores.setdefault(score.output_id, {})[score.dimension] = score.score
    ranking = {int(o): int(r) for o, r in (rating.ranking or {}).items()}
    if not ranking:  # ratings from before rankings: best mean score first
        means = {o: sum(s.values()) / len(s) for o, s in scores.items()}
        distinct = sorted(set(means.values()), reverse=True)
        ranking = {o: distinct.index(m) + 1 for o, m in means.items()}
    rated = set(scores) | set(ranking)
    shown = [o for o in rating.display_order or [] if o in rated and o in outputs]
    order = shown + sorted(o for o in rated - set(shown) if o in outputs)
    return [
        RatedOutput(outputs[o], LABELS[i], i + 1 if o in shown else None, ranking.get(o), scores.get(o, {}))
        for i, o in enumerate(order)
    ]


def _tags(comparison: Comparison) -> list[str]:
    return [t.tag for t in comparison.tags]


def _when(rating: Rating) -> str:
    return (rating.updated_at or rating.created_at).isoformat()


def ratings_csv(ratings: Sequence[Rating]) -> str:
    """One row per rated output; a score_<dimension> column for every dimension in the data."""
    dimensions = sorted({s.dimension for r in ratings for s in r.scores})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["rating_id", "comparison_id", "dataset", "tags", "query", "rater", "shown_position", "label",
         "output_id", "variant_id", "variant", "strategy", "rank"]
        + [f"score_{d}" for d in dimensions]
        + ["comment", "corrected_answer", "rated_at"]
    )  # fmt: skip
    for rating in ratings:
        comparison = rating.comparison
        for item in rated_outputs(rating):
            variant = item.output.variant_version.variant
            row = [
                rating.id, comparison.id, comparison.dataset, ";".join(_tags(comparison)), comparison.query,
                rating.rater, item.position or "", item.label, item.output.id, variant.id, variant.name,
                variant.strategy, item.rank or "",
            ] + [item.scores.get(d, "") for d in dimensions] + [rating.comment, rating.corrected_answer, _when(rating)]  # fmt: skip
            writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def _lines(objects: Iterable[Mapping[str, object]]) -> str:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


def ratings_jsonl(ratings: Sequence[Rating]) -> str:
    """One object per rating, its outputs nested in the order shown."""
    return _lines(
        {
            "rating_id": rating.id,
            "comparison_id": rating.comparison.id,
            "dataset": rating.comparison.dataset,
            "tags": _tags(rating.comparison),
            "query": rating.comparison.query,
            "rater": rating.rater,
            "comment": rating.comment,
            "corrected_answer": rating.corrected_answer,
            "rated_at": _when(rating),
            "outputs": [
                {
                    "output_id": item.output.id,
                    "label": item.label,
                    "shown_position": item.position,
                    "variant_id": item.output.variant_version.variant.id,
                    "variant": item.output.variant_version.variant.name,
                    "strategy": item.output.variant_version.variant.strategy,
                    "text": item.output.text,
                    "rank": item.rank,
                    "scores": item.scores,
                }
                for item in rated_outputs(rating)
            ],
        }
        for rating in ratings
    )


def preference_pairs(ratings: Sequence[Rating]) -> list[dict[str, str]]:
    """DPO pairs: every strictly better-ranked answer over a worse one (ties give none), and a rater's
    corrected answer over every answer they were shown that differs from it."""
    pairs = []
    for rating in ratings:
        query = rating.comparison.query
        items = [i for i in rated_outputs(rating) if i.output.status == "done"]
        for better in items:
            for worse in items:
                if better.rank is not None and worse.rank is not None and better.rank < worse.rank:
                    pairs.append((query, better.output.text, worse.output.text))
        if corrected := rating.corrected_answer.strip():
            pairs += [(query, corrected, i.output.text) for i in items]
    return [
        {"input": q, "preferred_output": good, "non_preferred_output": bad}
        for q, good, bad in pairs
        if good.strip() != bad.strip()
    ]


def chat_examples(ratings: Sequence[Rating], min_score: float = 4.0) -> list[Mapping[str, object]]:
    """At most one example per comparison: the latest corrected answer, else the answer with the best mean
    rank across raters if its mean score reaches `min_score`."""
    by_comparison: dict[int, list[Rating]] = {}
    for rating in ratings:
        by_comparison.setdefault(rating.comparison_id, []).append(rating)
    examples: list[Mapping[str, object]] = []
    for group in by_comparison.values():
        comparison = group[0].comparison
        corrected = [r for r in group if r.corrected_answer.strip()]
        answer = None
        if corrected:
            answer = max(
                corrected, key=lambda r: (r.updated_at or r.created_at, r.id)
            ).corrected_answer.strip()
        else:
            answer = _top_rated(group, min_score)
        if answer:
            messages = [
                {"role": "user", "content": comparison.query},
                {"role": "assistant", "content": answer},
            ]
            examples.append({"messages": messages})
    return examples


def _top_rated(group: Sequence[Rating], min_score: float) -> str | None:
    ranks: dict[int, list[int]] = {}
    overall: dict[int, list[float]] = {}
    texts: dict[int, str] = {}
    for rating in group:
        for item in rated_outputs(rating):
            if item.output.status != "done" or not item.output.text.strip():
                continue
            texts[item.output.id] = item.output.text.strip()
            if item.rank is not None:
                ranks.setdefault(item.output.id, []).append(item.rank)
            if item.overall is not None:
                overall.setdefault(item.output.id, []).append(item.overall)
    if not ranks:
        return None
    best = min(ranks, key=lambda o: (sum(ranks[o]) / len(ranks[o]), o))
    scores = overall.get(best, [])
    if not scores or sum(scores) / len(scores) < min_score:
        return None
    return texts[best]


def dpo_jsonl(ratings: Sequence[Rating]) -> str:
    return _lines(preference_pairs(ratings))


def chat_jsonl(ratings: Sequence[Rating], min_score: float = 4.0) -> str:
    return _lines(chat_examples(ratings, min_score))


# Each download by name: ratings (they only need the ratings) and the least mean score of a chat answer.
EXPORTS: dict[str, Callable[[Sequence[Rating], float], str]] = {
    "ratings.csv": lambda ratings, _min_score: ratings_csv(ratings),
    "ratings.jsonl": lambda ratings, _min_score: ratings_jsonl(ratings),
    "dpo.jsonl": lambda ratings, _min_score: dpo_jsonl(ratings),
    "chat.jsonl": chat_jsonl,
}


class ExportService:
    """Rating exports as `reader` may read them. The routes refuse raters (exports are for admins and
    viewers); the readable statement would scope a blind reader's all the same."""

    def __init__(self, session: AsyncSession, reader: Principal):
        self.session = session
        self.reader = reader

    async def body(self, kind: str, filters: Filters, min_score: float) -> str:
        """The text of export `kind` over the ratings `filters` let through."""
        return EXPORTS[kind](await ratings_for_export(self.session, filters.seen_by(self.reader)), min_score)
