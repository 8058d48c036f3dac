"""`summarise` on hand-built aggregates: the cases the REST test cannot reach cheaply — several outputs of one
variant in a rating, mean ranks that are not quarter steps, and shown outputs that were never ranked."""

from __future__ import annotations

import json

import pytest

from app.services.leaderboard import BoardData, summarise

A, B, C = 10, 20, 30


def rating(rating_id: int, order: list[int], ranks: dict[int, int]) -> tuple[int, str, str, str]:
    return (rating_id, "r", json.dumps(order), json.dumps({str(o): rank for o, rank in ranks.items()}))


def test_games_and_position_bias_from_hand_built_rankings() -> None:
    variant_of = {1: A, 2: B, 3: C, 4: A, 5: B, 6: C, 7: A, 8: A, 9: B}
    variant_of |= {11: A, 12: A, 13: A, 14: B, 15: B, 16: B, 17: B}  # A mean rank 4/3, B 5/4
    variant_of |= {18: A, 19: A, 20: A, 21: A, 22: B, 23: B, 24: B}  # A 5/4, B 4/3
    orders = [
        rating(1, [1, 2, 3], {1: 1, 2: 2, 3: 3}),  # first shown is the unique best: won
        rating(2, [5, 4, 6], {4: 1, 5: 1, 6: 2}),  # first shown ties for best: not won
        rating(3, [99, 2, 1], {1: 1, 2: 2}),  # 99 was shown but not ranked; 2 is the first ranked: lost
        rating(4, [7, 8, 9], {7: 1, 8: 2, 9: 2}),  # A's two outputs average 1.5, beating B's 2
        rating(5, [11, 12, 13, 14, 15, 16, 17], {11: 1, 12: 1, 13: 2, 14: 1, 15: 1, 16: 1, 17: 2}),
        rating(6, [21, 18, 19, 20, 22, 23, 24], {18: 1, 19: 1, 20: 1, 21: 2, 22: 1, 23: 1, 24: 2}),
    ]
    counts = [(o, "correctness", 0, 0, 1, 1, 0) for o in variant_of]
    data = BoardData(
        counts=counts,
        orders=orders,
        output_variant=variant_of,
        legacy=[],
        names={A: ("A", "prompt"), B: ("B", "rag"), C: ("C", "finetuned")},
    )
    board = summarise(data, [], resamples=20)
    at = {s.id: i for i, s in enumerate(board.standings)}
    games = {(x, y): board.games[at[x]][at[y]] for x in at for y in at}
    wins = {(x, y): board.win_rate[at[x]][at[y]] for x in at for y in at}
    # A v B: won 1, tied 2 (half each), won 3, won 4, lost 5 (4/3 > 5/4), won 6 (5/4 < 4/3)
    assert games[A, B] == 6
    assert wins[A, B] * 6 == pytest.approx(4.5)
    assert games[A, C] == 2 and wins[A, C] == pytest.approx(1.0)
    assert games[B, C] == 2 and wins[B, C] == pytest.approx(1.0)
    assert [s.ratings for s in board.standings] == [6, 6, 2]
    # Ratings 1 and 4 won; 2 and 5 tie at the top; 3 and 6 show a lower-ranked answer first
    assert board.first_shown_wins == pytest.approx(2 / 6)
    assert board.first_shown_expected == pytest.approx((1 / 3 + 1 / 3 + 1 / 2 + 1 / 3 + 1 / 7 + 1 / 7) / 6)


def test_no_ratings_gives_an_empty_board() -> None:
    board = summarise(BoardData(counts=[], orders=[], output_variant={}, legacy=[], names={}), [])
    assert board.standings == [] and board.first_shown_wins is None
