"""Blind rating: neutral labels in an order shuffled per rater, one editable rating per rater, rubric scores, rankings with ties; the rubric; the blind rule."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, Invalid, NotFound
from app.models import Comparison, Rating, RatingScore, RubricDimension, utcnow
from app.rating.repository import RatingRepository, RubricRepository, adjust_tallies, lock_comparison
from app.rating.schemas import RatingIn
from app.stats.rating_digest import dense_ranks, digest_rating


@dataclass(frozen=True)
class Dimension:
    key: str
    label: str
    description: str = ""


DEFAULT_RUBRIC = (
    Dimension("correctness", "Correctness", "Is every claim true and supported by the sources or the facts?"),
    Dimension("helpfulness", "Helpfulness", "Does it answer the question asked, completely and usefully?"),
    Dimension("format", "Format", "Is it clear, well organised and the right length for the question?"),
)


MAX_DIMENSIONS = 8


class RubricService:
    def __init__(self, session: AsyncSession):
        self.repo = RubricRepository(session)

    async def dimensions(self) -> list[Dimension]:
        """The configured rubric; the default until an admin saves one."""
        stored = await self.repo.ordered()
        if not stored:
            return list(DEFAULT_RUBRIC)
        return [Dimension(d.key, d.label, d.description) for d in stored]

    async def replace(self, dimensions: list[Dimension]) -> list[Dimension]:
        """Save a new rubric. Earlier ratings keep their scores; the leaderboard reports every dimension seen."""
        if not 1 <= len(dimensions) <= MAX_DIMENSIONS:
            raise Invalid(f"a rubric has 1 to {MAX_DIMENSIONS} dimensions")
        keys = [d.key for d in dimensions]
        if len(set(keys)) != len(keys):
            raise Invalid("dimension keys must be unique")
        await self.repo.replace(
            [
                RubricDimension(key=d.key, label=d.label, description=d.description, position=i)
                for i, d in enumerate(dimensions)
            ]
        )
        return dimensions


LABELS = "ABCDEFGHIJKL"


@dataclass(frozen=True)
class BlindItem:
    label: str
    output_id: int
    text: str


@dataclass(frozen=True)
class BlindView:
    comparison: Comparison
    rubric: list[Dimension]
    items: list[BlindItem]
    rating: Rating | None


def labelled(order: list[int]) -> dict[int, str]:
    """Output id -> the label it is shown under (A for the first shown, and so on)."""
    return {output_id: LABELS[i] for i, output_id in enumerate(order)}


class RatingService:
    def __init__(self, session: AsyncSession, shuffle_key: bytes):
        self.session = session
        self.repo = RatingRepository(session)
        self.shuffle_key = shuffle_key

    async def _comparison(self, comparison_id: int) -> Comparison:
        comparison = await self.repo.get_for_rating(comparison_id)
        if comparison is None:
            raise NotFound(f"comparison {comparison_id} not found")
        return comparison

    def shown_order(self, comparison: Comparison, rater: str, rating: Rating | None) -> list[int]:
        """The order this rater sees: the stored one once rated, else a shuffle keyed by a server secret, so it
        is stable across reloads, differs between raters, and cannot be worked out from the ids. The shuffle
        is of every output, answered or not, then narrowed to the answers: the labels a rater watched the
        answers stream under stay theirs (unless one before it failed)."""
        rateable = {o.id for o in comparison.outputs if o.status == "done"}
        if rating is not None and sorted(rating.display_order or []) == sorted(rateable):
            return list(rating.display_order)
        return [output_id for output_id in self._shuffled(comparison, rater) if output_id in rateable]

    def _shuffled(self, comparison: Comparison, rater: str) -> list[int]:
        # The turns of a session share one shuffle of the variants' positions: A is the same variant in every
        # turn, so a rater follows each conversation (and who A is stays hidden until all turns are rated).
        order = sorted(o.id for o in comparison.outputs)
        key = f"session-{comparison.session_id}" if comparison.session_id is not None else str(comparison.id)
        seed = hashlib.sha256(self.shuffle_key + f":{key}:{rater}".encode()).digest()
        random.Random(seed).shuffle(order)
        return order

    async def watch(self, comparison_id: int, rater: str) -> tuple[Comparison, dict[int, str]]:
        """A comparison to watch blind while it is answered: its outputs' labels (output id -> label) in the
        order this rater will rate them."""
        comparison = await self._comparison(comparison_id)
        return comparison, labelled(self._shuffled(comparison, rater))

    async def blind_view(self, comparison_id: int, rater: str) -> BlindView:
        comparison = await self._comparison(comparison_id)
        if any(o.status == "pending" for o in comparison.outputs):
            raise Conflict("the variants are still answering: rate once every answer is in")
        rating = await self.repo.rating_by(comparison_id, rater)
        order = self.shown_order(comparison, rater, rating)
        if not order:
            raise Conflict("there is nothing to rate: every variant failed on this comparison")
        texts = {o.id: o.text for o in comparison.outputs}
        items = [
            BlindItem(label, output_id, texts[output_id]) for output_id, label in labelled(order).items()
        ]
        return BlindView(comparison, await RubricService(self.session).dimensions(), items, rating)

    async def still_answering(self, comparison_id: int) -> bool:
        """Whether some variant of the comparison has not answered yet."""
        comparison = await self.repo.get_for_rating(comparison_id)
        return comparison is not None and any(o.status == "pending" for o in comparison.outputs)

    async def earlier_questions(self, comparison: Comparison) -> list[str]:
        """For a turn of a comparison session, the questions asked before it (what the rater judges it in)."""
        if comparison.session_id is None:
            return []
        return await self.repo.earlier_questions(comparison.session_id, comparison.turn)

    async def unrated_turns(self, comparison: Comparison, rater: str) -> int:
        """For a turn of a comparison session, how many of its turns `rater` has yet to rate (who wrote what
        waits for them all: app/core/readable.py); 0 for any other comparison, or one they asked."""
        if comparison.session_id is None or comparison.created_by == rater:
            return 0
        return await self.repo.unrated_turns(comparison.session_id, rater)

    async def mine(self, comparison_id: int, rater: str) -> tuple[Comparison, Rating]:
        comparison = await self._comparison(comparison_id)
        rating = await self.repo.rating_by(comparison_id, rater)
        if rating is None:
            raise NotFound(f"you have not rated comparison {comparison_id} yet")
        return comparison, rating

    async def submit(self, comparison_id: int, rater: str, data: RatingIn) -> Submitted:
        """Check the rating covers every shown answer on every rubric dimension, then create or edit it.
        `lock_comparison` comes first: a second submission by the same rater (another tab) waits for this one
        and then edits what it stored, so two first submissions end as one rating."""
        await lock_comparison(self.session, comparison_id)
        view = await self.blind_view(comparison_id, rater)
        by_label = {item.label: item.output_id for item in view.items}
        scores = _checked_scores(data, by_label, [d.key for d in view.rubric])
        ranks = _checked_ranking(data, scores)
        wanted = {by_label[label]: dims for label, dims in scores.items()}
        rating = view.rating or Rating(comparison_id=comparison_id, rater=rater, scores=[])
        if view.rating is not None:
            rating.updated_at = utcnow()  # stays empty on a rating never edited: the API answers 201 then
        rating.comment = data.comment.strip()
        rating.corrected_answer = data.corrected_answer.strip()
        rating.display_order = [item.output_id for item in view.items]
        ranked = {by_label[label]: rank for label, rank in ranks.items()}
        rating.ranking = {str(output_id): rank for output_id, rank in ranked.items()}
        variant_of = {o.id: o.variant_version.variant_id for o in view.comparison.outputs}
        digest = digest_rating(rating.display_order, ranked, variant_of)
        rating.variant_ranks, rating.first_shown_best = digest.variant_ranks, digest.first_shown_best
        rating.ranked_shown = digest.ranked_shown
        before = score_map(rating)
        if view.rating is None:
            self.repo.add(rating)
            await self.session.flush()
            await self.repo.add_scores(rating.id, wanted)
        else:
            _replace_scores(rating, wanted)
        changes = _tally_changes(_flat(before), _flat(wanted))
        await adjust_tallies(self.session, comparison_id, variant_of, changes)
        await self.session.flush()
        return Submitted(view.comparison, rating, wanted)


@dataclass(frozen=True)
class Submitted:
    """A stored rating, its comparison, and its scores as {output id: {dimension: score}}."""

    comparison: Comparison
    rating: Rating
    scores: dict[int, dict[str, int]]


def score_map(rating: Rating) -> dict[int, dict[str, int]]:
    """A loaded rating's scores as {output id: {dimension: score}}."""
    scores: dict[int, dict[str, int]] = {}
    for score in rating.scores:
        scores.setdefault(score.output_id, {})[score.dimension] = score.score
    return scores


def _flat(scores: dict[int, dict[str, int]]) -> dict[tuple[int, str], int]:
    return {(output_id, dimension): v for output_id, dims in scores.items() for dimension, v in dims.items()}


def _checked_scores(
    data: RatingIn, by_label: dict[str, int], dimensions: list[str]
) -> dict[str, dict[str, int]]:
    if unknown := sorted(set(data.scores) - set(by_label)):
        raise Invalid(f"no answer is labelled {', '.join(unknown)}; the answers are {', '.join(by_label)}")
    if missing := [label for label in by_label if label not in data.scores]:
        raise Invalid(
            f"score every answer: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"
        )
    for label, given in data.scores.items():
        if extra := sorted(set(given) - set(dimensions)):
            raise Invalid(f"{label}: {', '.join(extra)} is not on the rubric ({', '.join(dimensions)})")
        if lacking := [d for d in dimensions if d not in given]:
            raise Invalid(f"{label}: score {', '.join(lacking)} too")
    return {label: data.scores[label] for label in by_label}


def _checked_ranking(data: RatingIn, scores: dict[str, dict[str, int]]) -> dict[str, int]:
    """A full ranking over the shown answers (ties allowed), renumbered 1, 2, 3 without gaps."""
    if data.ranking is None:
        means = {label: sum(dims.values()) / len(dims) for label, dims in scores.items()}
        return dense_ranks(means, higher_is_better=True)
    if set(data.ranking) != set(scores):
        missing = sorted(set(scores) - set(data.ranking))
        extra = sorted(set(data.ranking) - set(scores))
        detail = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}"
        raise Invalid(f"the ranking must place every answer exactly once ({detail})")
    return dense_ranks({k: float(v) for k, v in data.ranking.items()}, higher_is_better=False)


def _tally_changes(
    before: dict[tuple[int, str], int], after: dict[tuple[int, str], int]
) -> dict[tuple[int, str], list[int]]:
    """Per (output, dimension): -1 under the score taken back, +1 under the score given (1-5)."""
    changes: dict[tuple[int, str], list[int]] = {}
    for sign, scores in ((-1, before), (1, after)):
        for key, score in scores.items():
            changes.setdefault(key, [0] * 5)[score - 1] += sign
    return changes


def _replace_scores(rating: Rating, wanted: dict[int, dict[str, int]]) -> None:
    """Edit scores in place: deleting and re-inserting the same (output, dimension) would trip the unique key."""
    existing = {(s.output_id, s.dimension): s for s in rating.scores}
    for output_id, dims in wanted.items():
        for dimension, value in dims.items():
            if (found := existing.pop((output_id, dimension), None)) is not None:
                found.score = value
            else:
                rating.scores.append(RatingScore(output_id=output_id, dimension=dimension, score=value))
    for stale in existing.values():
        rating.scores.remove(stale)
