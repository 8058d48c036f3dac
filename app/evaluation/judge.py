"""LLM-as-judge, the pure parts: the pairwise prompt, reading the verdict, and combining both answer orders.

Each pair (x, y) is judged twice, once as (A=x, B=y) and once swapped (A=y, B=x); a preference counts only when
the judge makes it both ways, which cancels the judge's bias towards a position.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.prompts import render_prompt

Verdict = Literal["A", "B", "tie"]

SYSTEM_TEMPLATE = "judge_system.j2"
USER_TEMPLATE = "judge_user.j2"


@dataclass(frozen=True)
class JudgeOutcome:
    outcome: int  # +1: x (shown first in the original order) is better; -1: y is better; 0: tie or no verdict
    consistent: bool  # the two orders agreed (a tie both ways is consistent)
    reason: str


def judge_messages(query: str, reference: str, first: str, second: str) -> list[dict[str, str]]:
    """Chat messages (OpenAI role/content) asking the judge to compare `first` (as A) with `second` (as B)."""
    # Both templates get every value, so an edited template may use any of them.
    values = {"query": query, "reference": reference.strip(), "answer_a": first, "answer_b": second}
    return [
        {"role": "system", "content": render_prompt(SYSTEM_TEMPLATE, **values)},
        {"role": "user", "content": render_prompt(USER_TEMPLATE, **values)},
    ]


# Reasoning models may think aloud before answering; the verdict is what follows.
_THINKING = re.compile(r"<think>.*?(?:</think>|$)", re.DOTALL | re.IGNORECASE)
_MARKUP = re.compile(r"[*_`#\"\[\]]")
_LEAD = r"^(?:(?:my|the|final|overall)\s+)*"
_TAIL = r"\b(?:\s+is)?\s*[:=\-\u2013\u2014]?\s*"
# On the first line a looser lead-in is allowed ("Answer: B", "The better answer is A").
_PREFIX = re.compile(
    _LEAD + r"(?:(?:better|best|preferred)\s+)?"
    r"(?:answer|response|verdict|decision|judge?ment|winner|choice|result|output)" + _TAIL
)
# On a later line only an explicit verdict label counts, not reasoning that happens to start with "Answer A".
_LABEL = re.compile(_LEAD + r"(?:verdict|decision|judge?ment|winner)" + _TAIL)
_TIE = re.compile(
    r"^(?:(?:it\s+is|it's)\s+)?(?:a\s+)?(?:tie|tied|draw)\b|^(?:both\s+(?:are\s+)?)?equal(?:ly)?\b"
)
# A letter counts only when the line then ends, breaks off, or says it is better: "A and B are both fine"
# names a letter without choosing it.
_LETTER = re.compile(
    r"^(?:(?:answer|assistant|response|option)\s+)?\(?([ab])"
    r"(?:\s*$|\s*[.,:;!)\-\u2013\u2014]|\s+(?:is\s+(?:(?:clearly|slightly|much)\s+)?(?:the\s+)?better|wins|because)\b)"
)


def parse_verdict(text: str) -> Verdict | None:
    """The verdict ("A", "B" or "tie") read from the reply's first line; None when there is no clear verdict.

    Tolerates markup and lead-ins ("**B**", "Verdict: B", "Answer A", "A is better", "It's a tie"). When the
    first line is unclear, the last line labelled as a verdict ("Final verdict: A") is used. A line naming both
    letters without choosing ("A and B are both fine") is unparseable, not a tie: a tie must be said.
    """
    lines = [_normalise(line) for line in _THINKING.sub("", text).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return None
    verdict = _after_label(lines, 0, _PREFIX)
    if verdict is not None:
        return verdict
    for index in range(len(lines) - 1, 0, -1):
        if _LABEL.match(lines[index]):
            return _after_label(lines, index, _LABEL)
    return None


def combine_orders(first_order: str | None, swapped_order: str | None) -> JudgeOutcome:
    """Combine the verdicts on (A=x, B=y) and on the swap (A=y, B=x); only a preference held both ways counts."""
    for verdict in (first_order, swapped_order):
        if verdict is not None and verdict not in ("A", "B", "tie"):
            raise ValueError(f"a verdict is 'A', 'B', 'tie' or None, not {verdict!r}")
    if first_order is None and swapped_order is None:
        return JudgeOutcome(0, False, "no verdict could be read in either order")
    if first_order is None:
        return JudgeOutcome(0, False, "no verdict could be read in the original order")
    if swapped_order is None:
        return JudgeOutcome(0, False, "no verdict could be read in the swapped order")
    pair = (first_order, swapped_order)
    if pair == ("A", "B"):
        return JudgeOutcome(1, True, "the first answer was preferred in both orders")
    if pair == ("B", "A"):
        return JudgeOutcome(-1, True, "the second answer was preferred in both orders")
    if pair == ("tie", "tie"):
        return JudgeOutcome(0, True, "a tie in both orders")
    if first_order == swapped_order:
        position = "first" if first_order == "A" else "second"
        return JudgeOutcome(0, False, f"position bias: the answer shown {position} was preferred both times")
    return JudgeOutcome(0, False, f"the orders disagree ({first_order}, then {swapped_order} when swapped)")


def inconsistency_rate(outcomes: Sequence[JudgeOutcome]) -> float | None:
    """Share of pairs whose two orders did not agree (including unreadable verdicts); None with no pairs."""
    if not outcomes:
        return None
    return sum(1 for o in outcomes if not o.consistent) / len(outcomes)


def _normalise(line: str) -> str:
    line = _MARKUP.sub("", line.replace("\u2019", "'")).lower()
    return " ".join(line.split())


def _after_label(lines: list[str], index: int, label: re.Pattern[str]) -> Verdict | None:
    rest = label.sub("", lines[index], count=1)
    if not rest and index + 1 < len(lines):
        # "Verdict:" alone on its line, the verdict on the next.
        rest = _PREFIX.sub("", lines[index + 1], count=1)
    return _read(rest)


def _read(rest: str) -> Verdict | None:
    if _TIE.match(rest):
        return "tie"
    letter = _LETTER.match(rest)
    if letter is None:
        return None
    return "A" if letter.group(1) == "a" else "B"
