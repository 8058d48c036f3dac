"""Rating digests and `summarise` on hand-built data: several outputs of one variant in a rating, mean ranks
that are not quarter steps, shown outputs that were never ranked, and grouped tallies."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from app.leaderboard.service import BoardData, summarise
from app.stats.agreement import alpha_from_counts
from app.stats.rating_digest import RatingDigest, dense_ranks, digest_rating, parse_variant_ranks

A, B, C = 10, 20, 30
VARIANT_OF = {1: A, 2: B, 3: C, 4: A, 5: B, 6: C, 7: A, 8: A, 9: B}
VARIANT_OF |= {11: A, 12: A, 13: A, 14: B, 15: B, 16: B, 17: B}  # A mean rank 4/3, B 5/4
VARIANT_OF |= {18: A, 19: A, 20: A, 21: A, 22: B, 23: B, 24: B}  # A 5/4, B 4/3

# (display order, {output: rank}) and the digest each must give
RATINGS = [
    (([1, 2, 3], {1: 1, 2: 2, 3: 3}), RatingDigest("10:1,20:2,30:3", True, 3)),
    (([5, 4, 6], {4: 1, 5: 1, 6: 2}), RatingDigest("10:1,20:1,30:2", None, 3)),  # a tie at the top
    (([99, 2, 1], {1: 1, 2: 2}), RatingDigest("10:1,20:2", False, 2)),  # 99 shown, never ranked
    (([7, 8, 9], {7: 1, 8: 2, 9: 2}), RatingDigest("10:1,20:2", True, 3)),  # A's two outputs average 1.5
    (
        ([11, 12, 13, 14, 15, 16, 17], {11: 1, 12: 1, 13: 2, 14: 1, 15: 1, 16: 1, 17: 2}),
        RatingDigest("10:2,20:1", None, 7),  # five answers tie at the top
    ),
    (
        ([21, 18, 19, 20, 22, 23, 24], {18: 1, 19: 1, 20: 1, 21: 2, 22: 1, 23: 1, 24: 2}),
        RatingDigest("10:1,20:2", None, 7),  # three tie at the top
    ),
]


@pytest.mark.parametrize(("given", "expected"), RATINGS)
def test_digest_of_one_rating(given: tuple[list[int], dict[int, int]], expected: RatingDigest) -> None:
    order, ranking = given
    assert digest_rating(order, ranking, VARIANT_OF) == expected
    assert parse_variant_ranks(expected.variant_ranks) == {
        int(v): int(r) for v, r in (pair.split(":") for pair in expected.variant_ranks.split(","))
    }


def test_a_single_ranked_answer_says_nothing_about_position() -> None:
    assert digest_rating([1], {1: 1}, VARIANT_OF) == RatingDigest("10:1", None, 1)
    assert dense_ranks({1: 4.5, 2: 3.0, 3: 4.5}, higher_is_better=True) == {1: 1, 2: 2, 3: 1}


def test_summarise_counts_games_and_position_bias_from_digests() -> None:
    digests = Counter(
        (d.variant_ranks, d.first_shown_best, d.ranked_shown, "r")
        for d in (digest_rating(*given, VARIANT_OF) for given, _ in RATINGS)
    )
    tallies = [(v, "correctness", 0, 0, 1, 1, 0, 2) for v in (A, B, C)]
    data = BoardData(
        tallies=tallies,
        digests=[(*key, n) for key, n in digests.items()],
        names={A: ("A", "prompt"), B: ("B", "rag"), C: ("C", "finetuned")},
        # each rating about a comparison of its own
        comparisons=[(digest_rating(*given, VARIANT_OF).variant_ranks, 1) for given, _ in RATINGS],
    )
    board = summarise(data, [], resamples=20)
    at = {s.id: i for i, s in enumerate(board.standings)}
    games = {(x, y): board.games[at[x]][at[y]] for x in at for y in at}
    wins = {(x, y): board.win_rate[at[x]][at[y]] for x in at for y in at}
    # A v B: won 1, tied 2 (half), won 3, won 4, lost 5 (4/3 behind 5/4), won 6 (5/4 ahead of 4/3)
    assert games[A, B] == 6
    assert wins[A, B] * 6 == pytest.approx(4.5)
    assert games[A, C] == 2 and wins[A, C] == pytest.approx(1.0)
    assert games[B, C] == 2 and wins[B, C] == pytest.approx(1.0)
    assert [s.ratings for s in board.standings] == [6, 6, 2]
    assert board.ratings == 6 and board.raters == 1
    # Ratings 2, 5 and 6 have no single best; of 1, 3 and 4, the first shown was the best in 1 and 4
    assert board.first_shown_wins == pytest.approx(2 / 3)
    assert board.first_shown_expected == pytest.approx((1 / 3 + 1 / 2 + 1 / 3) / 3)
    # Each variant: two outputs scored 3 and 4 by one rater each
    assert board.standings[0].means["correctness"].mean == pytest.approx(3.5)
    assert board.standings[0].means["correctness"].n == 4


def test_alpha_over_grouped_units_equals_alpha_over_every_unit() -> None:
    rows = np.array([[0, 0, 1, 1, 0], [0, 2, 0, 0, 0], [1, 0, 0, 1, 1], [0, 0, 0, 0, 1]], dtype=float)
    weights = np.array([3, 1, 2, 5], dtype=float)
    expanded = np.repeat(rows, weights.astype(int), axis=0)
    values = np.arange(1.0, 6.0)
    grouped = alpha_from_counts(rows, values, "ordinal", weights=weights)
    assert grouped is not None
    assert grouped == pytest.approx(alpha_from_counts(expanded, values, "ordinal"))


def test_no_ratings_gives_an_empty_board() -> None:
    board = summarise(BoardData(tallies=[], digests=[], names={}), [])
    assert board.standings == [] and board.first_shown_wins is None


def test_the_strength_interval_resamples_comparisons_with_all_their_ratings() -> None:
    """Six raters who agree on one comparison are one draw, not six: the interval is wider than for six
    comparisons rated once each, and the estimate is the same."""
    a_first, b_first = f"{A}:1,{B}:2", f"{B}:1,{A}:2"
    digests = [(a_first, None, 2, "r", 6), (b_first, None, 2, "r", 4)]
    names = {A: ("A", "prompt"), B: ("B", "rag")}
    one_each = BoardData([], digests, names, comparisons=[(a_first, 6), (b_first, 4)])
    together = BoardData([], digests, names, comparisons=[("|".join([a_first] * 6), 1), (b_first, 4)])
    spread, clustered = (summarise(data, [], resamples=1000).standings for data in (one_each, together))
    width = {s.id: s.strength_upper - s.strength_lower for s in spread}
    assert {s.id: s.strength for s in clustered} == pytest.approx({s.id: s.strength for s in spread})
    assert all(s.strength_upper - s.strength_lower > width[s.id] for s in clustered)
