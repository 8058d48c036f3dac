"""LLM-as-judge: the rendered prompt, reading verdicts, and combining the two answer orders."""

from __future__ import annotations

import pytest

from app.evaluation.judge import (
    JudgeOutcome,
    combine_orders,
    inconsistency_rate,
    judge_messages,
    parse_verdict,
)
from app.stats.paired import compare_outcomes


def test_judge_messages_without_reference() -> None:
    messages = judge_messages("What is 2+2?", "", "4", "five")
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "exactly one of A, B or tie on the first line" in system
    assert "reference" not in system.lower()
    assert user == (
        "Question:\nWhat is 2+2?\n\n"
        "[Answer A]\n4\n[End of answer A]\n\n"
        "[Answer B]\nfive\n[End of answer B]\n\n"
        "Which answer is better? Reply A, B or tie on the first line."
    )


def test_judge_messages_with_reference_keeps_the_order_given() -> None:
    messages = judge_messages("Capital of France?", "  Paris  ", "Lyon", "Paris")
    system, user = messages[0]["content"], messages[1]["content"]
    assert "reference answer" in system
    assert user == (
        "Question:\nCapital of France?\n\n"
        "[Reference answer]\nParis\n[End of reference answer]\n\n"
        "[Answer A]\nLyon\n[End of answer A]\n\n"
        "[Answer B]\nParis\n[End of answer B]\n\n"
        "Which answer is better? Reply A, B or tie on the first line."
    )
    swapped = judge_messages("Capital of France?", "Paris", "Paris", "Lyon")[1]["content"]
    assert swapped.index("[Answer A]\nParis") < swapped.index("[Answer B]\nLyon")


def test_judge_messages_blank_reference_is_no_reference() -> None:
    assert judge_messages("q", " \n ", "x", "y") == judge_messages("q", "", "x", "y")


def test_judge_messages_do_not_interpret_answers_as_templates() -> None:
    user = judge_messages("q", "", "{{ answer_b }}", "{% if x %}y{% endif %}")[1]["content"]
    assert "[Answer A]\n{{ answer_b }}\n" in user
    assert "[Answer B]\n{% if x %}y{% endif %}\n" in user


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A", "A"),
        ("B", "B"),
        ("a", "A"),
        ("tie", "tie"),
        ("Tie", "tie"),
        ("TIE.", "tie"),
        ("Answer A", "A"),
        ("Answer B is better.", "B"),
        ("**B**", "B"),
        ("**Answer A**", "A"),
        ("[[A]]", "A"),
        ("(B)", "B"),
        ("Verdict: B", "B"),
        ("**Verdict:** A", "A"),
        ("Final verdict: tie", "tie"),
        ("Verdict - Answer B", "B"),
        ("A is better", "A"),
        ("A is clearly better than B.", "A"),
        ("B wins", "B"),
        ("A, because B gets the date wrong.", "A"),
        ("B. It cites the source.", "B"),
        ("A\nB is missing the units.", "A"),
        ("The better answer is B", "B"),
        ("It's a tie", "tie"),
        ("It\u2019s a tie.", "tie"),
        ("a tie", "tie"),
        ("Both are equally good", "tie"),
        ("Equal", "tie"),
        ("\n\n  B  \n", "B"),
        ("Verdict:\nA", "A"),
        ("<think>A looks shorter, B is right</think>\nB", "B"),
        ("Let me compare them.\nA is vague; B is precise.\nFinal verdict: B", "B"),
        # No clear verdict: unparseable, which combine_orders counts as an inconsistent tie.
        ("", None),
        ("   \n ", None),
        ("A and B are both fine", None),
        ("A/B", None),
        ("Both answers are good.", None),
        ("Neither", None),
        ("Answers A and B differ.", None),
        ("I cannot decide.", None),
        ("Let me compare them.\nAnswer A is more detailed.", None),  # reasoning, not a labelled verdict
        ("C", None),
        ("<think>B, clearly", None),  # still thinking
    ],
)
def test_parse_verdict(text: str, expected: str | None) -> None:
    assert parse_verdict(text) == expected


@pytest.mark.parametrize(
    ("first", "swapped", "outcome", "consistent"),
    [
        ("A", "B", 1, True),  # x preferred both ways
        ("B", "A", -1, True),  # y preferred both ways
        ("tie", "tie", 0, True),
        ("A", "A", 0, False),  # the answer shown first won both times: position bias
        ("B", "B", 0, False),
        ("A", "tie", 0, False),
        ("tie", "B", 0, False),
        ("B", "tie", 0, False),
        ("tie", "A", 0, False),
        (None, "B", 0, False),
        ("A", None, 0, False),
        (None, "tie", 0, False),
        ("tie", None, 0, False),
        (None, None, 0, False),
    ],
)
def test_combine_orders(first: str | None, swapped: str | None, outcome: int, consistent: bool) -> None:
    result = combine_orders(first, swapped)
    assert (result.outcome, result.consistent) == (outcome, consistent)
    assert result.reason


def test_combine_orders_reasons() -> None:
    assert "position bias" in combine_orders("A", "A").reason
    assert "first" in combine_orders("A", "A").reason
    assert "second" in combine_orders("B", "B").reason
    assert "swapped order" in combine_orders("A", None).reason
    assert "original order" in combine_orders(None, "A").reason
    assert "either order" in combine_orders(None, None).reason


def test_combine_orders_rejects_unknown_verdicts() -> None:
    with pytest.raises(ValueError):
        combine_orders("a", "B")  # parse_verdict's output, not raw text, is expected


def test_inconsistency_rate() -> None:
    outcomes = [combine_orders(f, s) for f, s in [("A", "B"), ("A", "A"), (None, "B"), ("tie", "tie")]]
    assert inconsistency_rate(outcomes) == pytest.approx(0.5)
    assert inconsistency_rate([JudgeOutcome(1, True, "")]) == 0.0
    assert inconsistency_rate([]) is None


def test_judge_outcomes_feed_the_paired_comparison() -> None:
    replies = [("A", "B")] * 8 + [("B", "A")] * 2 + [("A", "A")] * 2
    outcomes = [combine_orders(parse_verdict(f), parse_verdict(s)) for f, s in replies]
    result = compare_outcomes([o.outcome for o in outcomes])
    assert (result.wins, result.ties, result.losses) == (8, 2, 2)
    assert result.p_value == pytest.approx(0.109375)
    assert inconsistency_rate(outcomes) == pytest.approx(2 / 12)
