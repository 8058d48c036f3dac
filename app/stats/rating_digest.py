"""What the leaderboard needs from one rating, worked out once when the rating is written.

A rating ranks outputs; the leaderboard compares variants. The digest holds the rating's ranking over variants
(an output-level ranking where several outputs of one variant share their mean rank, renumbered densely) as a
short canonical text, so 100k ratings group into a few dozen patterns in SQL, and whether the answer shown
first was the unique best (position bias). Pure: the write path, the migration that backfills old ratings and
the bench all use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


@dataclass(frozen=True)
class RatingDigest:
    variant_ranks: str  # "3:1,5:2,7:2": variant id : dense rank (1 = best), by variant id
    # Was the answer shown first the single best? None when there was no single best among two or more ranked
    # answers shown: a tie at the top says nothing about position, and would make chance look like bias.
    first_shown_best: bool | None
    ranked_shown: int  # how many of the answers shown were ranked


def digest_rating(
    display_order: Sequence[int], ranking: Mapping[int, float], variant_of: Mapping[int, int]
) -> RatingDigest:
    """`ranking` is {output id: rank}, 1 = best, equal ranks tie; outputs of unknown variants are left out."""
    by_variant: dict[int, list[float]] = {}
    for output_id, rank in ranking.items():
        if (variant := variant_of.get(output_id)) is not None:
            by_variant.setdefault(variant, []).append(float(rank))
    means = {variant: sum(ranks) / len(ranks) for variant, ranks in by_variant.items()}
    distinct = sorted(set(means.values()))
    variant_ranks = ",".join(f"{v}:{distinct.index(means[v]) + 1}" for v in sorted(means))
    seen = [float(ranking[o]) for o in display_order if o in ranking]
    if len(seen) < 2 or seen.count(min(seen)) > 1:
        return RatingDigest(variant_ranks, None, len(seen))
    return RatingDigest(variant_ranks, seen[0] == min(seen), len(seen))


def parse_variant_ranks(text: str) -> dict[int, int]:
    """The inverse of `RatingDigest.variant_ranks`."""
    pairs = (item.split(":") for item in text.split(",") if item)
    return {int(variant): int(rank) for variant, rank in pairs}


def dense_ranks(values: Mapping[K, float], *, higher_is_better: bool) -> dict[K, int]:
    """1 = best; equal values share a rank and the next distinct value gets the next number. Also how ratings
    without a ranking (and those stored before rankings existed) rank their answers: by mean score."""
    distinct = sorted(set(values.values()), reverse=higher_is_better)
    return {key: distinct.index(value) + 1 for key, value in values.items()}
