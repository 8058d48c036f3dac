"""Automatic answer metrics against hand-computed values, edge cases and the demo's own data."""

from __future__ import annotations

import math
import time
import urllib.request
from typing import Any

import pytest

from app.evaluation.metrics import (
    HOUSE_FORMAT_RULE,
    METRIC_LABELS,
    METRIC_NAMES,
    MetricValue,
    answer_words,
    check_format_rule,
    citation_faithfulness,
    cites_sources,
    cosine,
    format_compliance,
    key_fact_recall,
    key_facts,
    reference_similarity,
    retrieval_hit,
    score_answer,
    token_f1,
)

VACATION = (
    "Answer: New employees receive 22 vacation days in their first calendar year, prorated by start month.\n"
    "Policy: Vacation and Paid Leave Policy\n"
    "Ask: leave@larkspur.example"
)
CHUNKS: list[dict[str, Any]] = [
    {
        "text": "New employees receive 22 vacation days in their first calendar year.",
        "source": "01-vacation.md",
    },
    {"text": "Managers answer every request within 3 working days.", "source": "01-vacation.md"},
]


# --- token F1 -------------------------------------------------------------------------------------------


def test_token_f1_hand_computed() -> None:
    # answer -> [cat, sat, on, mat], reference -> [cat, sat, down]; overlap 2.
    # precision 2/4, recall 2/3 -> F1 = 2 * (1/2 * 2/3) / (1/2 + 2/3) = 4/7 = 0.5714
    assert token_f1("The cat sat on the mat.", "A cat sat down").value == pytest.approx(4 / 7)
    # multiset: answer [yes, yes, yes], reference [yes, no]; overlap min(3, 1) = 1.
    # precision 1/3, recall 1/2 -> F1 = 2 * (1/6) / (5/6) = 0.4
    assert token_f1("yes yes yes", "yes no").value == pytest.approx(0.4)
    # answer [22, days], reference [new, employees, receive, 22, vacation, days]; overlap 2.
    # precision 2/2, recall 2/6 -> F1 = 2 * (1/3) / (4/3) = 0.5
    assert token_f1("22 days", "New employees receive 22 vacation days").value == pytest.approx(0.5)


def test_token_f1_normalises_case_punctuation_articles_and_citations() -> None:
    assert token_f1("PARIS!", "paris").value == 1.0
    assert token_f1("The Paris", "an paris.").value == 1.0
    # The marker is not content: without stripping, [1] -> "1" would make precision 1/2 (F1 0.667).
    assert token_f1("Paris [1].", "Paris").value == 1.0


def test_token_f1_edges() -> None:
    assert token_f1("anything", "") == MetricValue(None, "no reference answer")
    assert token_f1("anything", "  \n") == MetricValue(None, "no reference answer")
    assert token_f1("", "Paris") == MetricValue(0.0, "the answer is empty")
    assert token_f1("Lyon", "Paris") == MetricValue(0.0)
    only_article = token_f1("the", "The")
    assert only_article.value is None and only_article.reason


# --- key facts ------------------------------------------------------------------------------------------


def test_key_facts_of_the_demo_references() -> None:
    assert key_facts(VACATION) == ["22", "Vacation and Paid Leave Policy", "leave@larkspur.example"]
    assert key_facts("Paris") == ["Paris"]
    assert key_facts("56") == ["56"]
    assert key_facts("100 degrees Celsius") == ["100", "Celsius"]
    assert key_facts("The Pacific Ocean") == ["Pacific Ocean"]
    assert key_facts("Leonardo da Vinci") == ["Leonardo da Vinci"]
    assert key_facts("Answer: 28 days after ten years of service.") == ["28", "10"]
    assert key_facts("Seven") == ["7"]


def test_key_facts_skip_labels_and_sentence_initial_words() -> None:
    facts = key_facts(VACATION)
    assert "Answer" not in facts and "New" not in facts and "Policy" not in facts and "Ask" not in facts
    assert key_facts("Managers answer within 3 working days.") == ["3"]
    # Mid-sentence capitals are names; "Use" only starts the sentence, "the" joins no name here.
    assert key_facts("Please register in Leavebook at Larkspur.") == ["Leavebook", "Larkspur"]
    assert key_facts("Use the SpeakUp hotline.") == ["SpeakUp"]


def test_key_facts_numbers_money_percentages() -> None:
    assert key_facts("It costs $1,200 or €500, 40% of 2.5 units, EUR 2,000 and 30 euros.") == [
        "1200",
        "500",
        "40%",
        "2.5",
        "2000",
        "30",
    ]


def test_key_facts_dates_times_emails_phones_and_codes() -> None:
    reference = (
        "On 2025-03-01, by 1 March, in March 2025 at 09:30 mail hr@example.com or call +49 30 5550 1180."
    )
    assert key_facts(reference) == [
        "2025-03-01",
        "1 March",
        "March 2025",
        "09:30",
        "hr@example.com",
        "+49 30 5550 1180",
    ]
    assert key_facts("The policy number is LL-TRV-2291.") == ["LL-TRV-2291"]
    assert key_facts("Fill in form B12 today.") == ["B12"]  # a digit inside a word is no number


def test_key_facts_are_deduplicated_in_order() -> None:
    assert key_facts("Take 22 days; 22 days in Paris, then Paris again.") == ["22", "Paris"]
    assert key_facts("yes, that is fine") == []


def test_key_fact_recall_demo_answers() -> None:
    # 3 facts; the answer states 22 and the policy name, not the email -> 2/3.
    partial = key_fact_recall("New staff get 22 days, see the vacation and paid leave policy.", VACATION)
    assert partial == MetricValue(2 / 3, "missing: leave@larkspur.example")
    assert key_fact_recall(VACATION, VACATION) == MetricValue(1.0)
    nothing = key_fact_recall("I don't know.", VACATION)
    assert nothing == MetricValue(0.0, "missing: 22, Vacation and Paid Leave Policy, leave@larkspur.example")


def test_key_fact_recall_matches_whole_numbers_and_number_words() -> None:
    assert key_fact_recall("Within 30 days.", "Within 3 days.") == MetricValue(0.0, "missing: 3")
    assert key_fact_recall("You get twenty-two days.", "22 days") == MetricValue(1.0)
    # facts 28 and 10; "ten" counts as 10, 28 is missing -> 1/2.
    assert key_fact_recall("After ten years.", "Answer: 28 days after 10 years.") == MetricValue(
        0.5, "missing: 28"
    )
    assert key_fact_recall("It is 1200 dollars.", "$1,200") == MetricValue(1.0)
    # A citation marker is not a number the answer states.
    assert key_fact_recall("See [22].", "22") == MetricValue(0.0, "missing: 22")


def test_key_fact_recall_names_dates_and_no_facts() -> None:
    assert key_fact_recall("It is PARIS.", "Paris").value == 1.0
    # every significant word of the name is needed: "paid" and "leave" are missing.
    assert key_fact_recall("the vacation policy", "Policy: Vacation and Paid Leave Policy") == MetricValue(
        0.0, "missing: Vacation and Paid Leave Policy"
    )
    assert key_fact_recall("by March 31st", "Answer: by 31 March.").value == 1.0
    assert key_fact_recall("by 31 May", "Answer: by 31 March.") == MetricValue(0.0, "missing: 31 March")
    # The answer may add a year the reference leaves open, not drop one it gives.
    assert key_fact_recall("by 31 March 2026", "Answer: by 31 March.").value == 1.0
    assert key_fact_recall("by 31 March", "Answer: by 31 March 2026.").value == 0.0
    assert key_fact_recall("Come at 2:30 pm.", "Answer: at 14:30.").value == 1.0
    assert key_fact_recall("Call 0800 5550199", "Call +49 800 555 0199").value == 0.0
    assert key_fact_recall("Call +49 800 5550199", "Call +49 800 555 0199").value == 1.0
    assert key_fact_recall("anything", "yes, that is fine") == MetricValue(
        None, "the reference has no key facts (numbers, dates, names)"
    )


# --- format ---------------------------------------------------------------------------------------------


def test_check_format_rule_messages() -> None:
    assert check_format_rule("", "") is None
    assert check_format_rule("", "ignored") is None
    assert check_format_rule("regex", HOUSE_FORMAT_RULE) is None
    assert check_format_rule("json_schema", '{"type": "object"}') is None
    assert check_format_rule("regex", "(a") == "not a valid regular expression: missing ) at position 2"
    assert check_format_rule("regex", "  ") == "the format rule is empty"
    assert check_format_rule("json_schema", '{"type": ') == (
        "the JSON Schema is not valid JSON: Expecting value at line 1, column 10"
    )
    assert check_format_rule("json_schema", '{"type": "nope"}') == (
        "not a valid JSON Schema: 'nope' is not valid under any of the given schemas"
    )
    assert check_format_rule("json_schema", "[1]") == "a JSON Schema must be a JSON object (or true/false)"
    unknown = check_format_rule("json_schema", '{"$schema": "http://example.com/mine"}')
    assert unknown == "unknown $schema 'http://example.com/mine'; leave it out to use draft 2020-12"
    assert check_format_rule("xml", "<a/>") == "unknown kind of format rule 'xml'; use regex or json_schema"


def test_house_format_rule() -> None:
    assert format_compliance(VACATION, "regex", HOUSE_FORMAT_RULE) == MetricValue(1.0)
    assert format_compliance(f"\n  {VACATION}  \n\n", "regex", HOUSE_FORMAT_RULE).value == 1.0
    assert format_compliance(VACATION.replace("\n", "\r\n"), "regex", HOUSE_FORMAT_RULE).value == 1.0
    assert format_compliance(VACATION + "\nThanks!", "regex", HOUSE_FORMAT_RULE).value == 0.0
    assert format_compliance(VACATION.replace("leave@", "leave at "), "regex", HOUSE_FORMAT_RULE).value == 0.0
    swapped = "Policy: Vacation and Paid Leave Policy\nAnswer: 22 days.\nAsk: leave@larkspur.example"
    assert format_compliance(swapped, "regex", HOUSE_FORMAT_RULE).value == 0.0
    assert format_compliance("Answer:\nPolicy: X\nAsk: a@b.c", "regex", HOUSE_FORMAT_RULE).value == 0.0


def test_regex_rule_searches_with_multiline() -> None:
    assert format_compliance("about 12 days", "regex", r"\d+") == MetricValue(1.0)
    assert format_compliance("line one\nPolicy: x", "regex", r"^Policy:") == MetricValue(1.0)
    missed = format_compliance("no digits", "regex", r"\d+")
    assert missed == MetricValue(0.0, "the answer does not match the format rule")


def test_regex_rule_timeout() -> None:
    # `regex` already defuses the classic (a+)+$; (a|aa)+$ still backtracks exponentially.
    started = time.monotonic()
    result = format_compliance("a" * 40 + "b", "regex", r"(a|aa)+$")
    assert result == MetricValue(None, "the format rule took longer than 0.5 s on this answer")
    assert time.monotonic() - started < 5


def test_no_rule_and_broken_rule() -> None:
    assert format_compliance("x", "", "") == MetricValue(None, "the dataset defines no format rule")
    assert format_compliance("x", "regex", "") == MetricValue(None, "the dataset defines no format rule")
    broken = format_compliance("x", "regex", "(a")
    assert broken.value is None and broken.reason.startswith(
        "the format rule is not a valid regular expression"
    )


SCHEMA = '{"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}}'


def test_json_schema_rule() -> None:
    assert format_compliance('{"name": "bob"}', "json_schema", SCHEMA) == MetricValue(1.0)
    assert format_compliance('```json\n{"name": "bob"}\n```', "json_schema", SCHEMA) == MetricValue(1.0)
    assert format_compliance('  ```\n{"name": "bob"}\n```  ', "json_schema", SCHEMA) == MetricValue(1.0)
    assert format_compliance("{}", "json_schema", SCHEMA) == MetricValue(0.0, "'name' is a required property")
    assert format_compliance('{"name": "Bob"}', "json_schema", SCHEMA) == MetricValue(
        0.0, "'Bob' does not match '^[a-z]+$' (at $.name)"
    )
    long_list = format_compliance("[" + ", ".join(["1"] * 500) + "]", "json_schema", SCHEMA)
    assert long_list.value == 0.0 and len(long_list.reason) == 200 and long_list.reason.endswith("\u2026")
    assert format_compliance("Bob", "json_schema", SCHEMA) == MetricValue(
        0.0, "not JSON: Expecting value at line 1, column 1"
    )


def test_json_schema_rule_never_fetches_and_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[object] = []
    monkeypatch.setattr(urllib.request, "urlopen", lambda *args, **kwargs: fetched.append(args))
    remote = format_compliance("{}", "json_schema", '{"$ref": "https://example.invalid/schema.json"}')
    assert fetched == []
    assert remote.value is None
    assert remote.reason.startswith("the format rule refers to a schema that cannot be loaded")
    slow = '{"properties": {"name": {"pattern": "(a|aa)+$"}}}'
    assert format_compliance('{"name": "' + "a" * 40 + 'b"}', "json_schema", slow) == MetricValue(
        None, "the format rule took longer than 0.5 s on this answer"
    )


# --- citations ------------------------------------------------------------------------------------------


def test_citation_faithfulness_hand_computed() -> None:
    # sentence 1 content {new, employee, receive, 22, vacation, day}: 6/6 in chunk 1;
    # sentence 2 {manager, answer, 3, working, day}: 5/5 in chunk 2 -> 2/2 faithful.
    good = "New employees receive 22 vacation days [1]. Managers answer within 3 working days [2]."
    assert citation_faithfulness(good, CHUNKS) == MetricValue(1.0)
    # chunk 2 shares only "day" with {new, employee, receive, 22, vacation, day}: 1/6 < 1/2.
    crossed = citation_faithfulness("New employees receive 22 vacation days [2].", CHUNKS)
    assert crossed == MetricValue(0.0, "not backed by the cited chunk: [2]")


def test_citation_faithfulness_half_the_content_words_is_enough() -> None:
    # {new, employee, like, parking}: 2/4 in chunk 1 -> faithful; add "free": 2/5 -> not.
    assert citation_faithfulness("New employees like parking [1].", CHUNKS).value == 1.0
    assert citation_faithfulness("New employees like free parking [1].", CHUNKS).value == 0.0


def test_citation_faithfulness_several_markers_and_out_of_range() -> None:
    answer = "New employees receive 22 vacation days [1][2]. Managers answer within 3 working days [1, 2]. See [3]."
    # 5 citations: [1] yes, [2] no (1/6); [1] no ({manager, answer, 3, working, day} shares only "day"),
    # [2] yes; [3] out of range -> 2/5 = 0.4
    assert citation_faithfulness(answer, CHUNKS) == MetricValue(
        0.4, "out of range: [3] (2 chunks retrieved); not backed by the cited chunk: [2], [1]"
    )
    assert citation_faithfulness("New employees receive 22 vacation days [0].", CHUNKS).value == 0.0


def test_citation_after_the_full_stop_belongs_to_the_sentence() -> None:
    assert citation_faithfulness("New employees receive 22 vacation days. [1]", CHUNKS).value == 1.0


def test_copied_source_list_scores_zero() -> None:
    labels_only = "[1] (01-vacation.md - Allowance) [2] (01-vacation.md - Requesting leave)"
    assert citation_faithfulness(labels_only, CHUNKS).value == 0.0
    verbatim = (
        "[1] (01-vacation.md - Allowance) New employees receive 22 vacation days in their first calendar year. "
        "[2] (01-vacation.md - Requesting leave) Managers answer every request within 3 working days."
    )
    assert citation_faithfulness(verbatim, CHUNKS).value == 0.0
    # A real answer, then the copied list: the first [1] is faithful, the copied one is not -> 1/2.
    mixed = (
        "New employees receive 22 vacation days [1]. "
        "[1] (01-vacation.md - Allowance) New employees receive 22 vacation days in their first calendar year."
    )
    assert citation_faithfulness(mixed, CHUNKS) == MetricValue(0.5, "not backed by the cited chunk: [1]")
    assert citation_faithfulness("[1] [2]", CHUNKS).value == 0.0


def test_citing_the_source_itself_is_not_a_fact() -> None:
    # Every word of the sentence is in this chunk, but it only talks about the source.
    chunk = [{"text": "Policy number 1 is the source of truth.", "source": "a.md"}]
    assert citation_faithfulness("The source number is 1 [1]", chunk).value == 0.0


def test_citation_edges() -> None:
    assert citation_faithfulness("x [1]", []) == MetricValue(None, "no retrieved chunks to cite")
    assert citation_faithfulness("No citation here.", CHUNKS) == MetricValue(
        None, "the answer cites no source"
    )


def test_cites_sources() -> None:
    assert cites_sources("Twenty-two days [1].", CHUNKS) == MetricValue(1.0)
    assert cites_sources("Twenty-two days [3].", CHUNKS) == MetricValue(
        0.0, "only out-of-range citations: [3]"
    )
    assert cites_sources("Twenty-two days.", CHUNKS) == MetricValue(0.0, "the answer cites no source")
    assert cites_sources("Twenty-two days [1].", []) == MetricValue(None, "no retrieved chunks to cite")


# --- retrieval, words, similarity -----------------------------------------------------------------------


def test_retrieval_hit() -> None:
    chunks = [{"text": "", "source": "docs/02-sick-leave.md"}, {"text": "", "source": "./01-Vacation.md"}]
    assert retrieval_hit(chunks, "01-vacation.md") == MetricValue(1.0)
    assert retrieval_hit(chunks, "policies/01-VACATION.md") == MetricValue(1.0)
    assert retrieval_hit(chunks[:1], "01-vacation.md") == MetricValue(0.0, "retrieved: docs/02-sick-leave.md")
    many = [{"text": "", "source": f"{n}.md"} for n in (1, 2, 2, 3, 4)]
    assert retrieval_hit(many, "9.md") == MetricValue(0.0, "retrieved: 1.md, 2.md, 3.md and 1 more")
    assert retrieval_hit(chunks, "") == MetricValue(None, "the item names no expected source")
    assert retrieval_hit([], "01-vacation.md") == MetricValue(None, "no retrieved chunks")


def test_answer_words() -> None:
    assert answer_words("New employees get 22 days [1].") == MetricValue(5.0)
    assert answer_words(VACATION) == MetricValue(24.0)  # 16 + 6 + 2 whitespace-separated words
    assert answer_words("") == MetricValue(0.0)
    assert answer_words(" \u2014 [1] \u2013 ") == MetricValue(0.0)


def test_cosine() -> None:
    assert cosine([1, 0], [1, 1]).value == pytest.approx(1 / math.sqrt(2))
    assert cosine([3, 4], [4, 3]).value == pytest.approx(24 / 25)  # 12 + 12 over 5 * 5
    assert cosine([1, 2, 3], [-1, -2, -3]).value == pytest.approx(-1.0)
    assert cosine([1e300, 1e300], [1e300, 1e300]).value == pytest.approx(1.0)
    assert cosine([1e-320], [1e-320]).value == pytest.approx(1.0)
    zero = cosine([0, 0], [1, 1])
    assert zero.value is None and "zeros" in zero.reason
    assert cosine([], []).value is None
    assert cosine([math.nan, 1], [1, 1]).value is None
    with pytest.raises(ValueError, match="shapes"):
        cosine([1, 2], [1, 2, 3])


def test_reference_similarity_embeds_once_and_dedupes() -> None:
    calls: list[list[str]] = []
    vectors = {"Paris": [1.0, 0.0], "Lyon": [3.0, 4.0]}

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(texts)
        return [vectors[t] for t in texts]

    values = reference_similarity(["Paris", "", "Paris", " Lyon "], ["Paris", "Paris", "", "Paris"], embed)
    assert calls == [["Paris", "Lyon"]]
    # Lyon . Paris = 3 over |Lyon| 5 * |Paris| 1 = 0.6
    assert values[:3] == [
        MetricValue(1.0),
        MetricValue(0.0, "the answer is empty"),
        MetricValue(None, "no reference answer"),
    ]
    assert values[3].value == pytest.approx(0.6)


def test_reference_similarity_edges() -> None:
    def never(texts: list[str]) -> list[list[float]]:
        raise AssertionError("nothing to embed")

    assert reference_similarity([], [], never) == []
    assert reference_similarity([""], ["Paris"], never) == [MetricValue(0.0, "the answer is empty")]
    with pytest.raises(ValueError):
        reference_similarity(["a"], [], never)
    with pytest.raises(ValueError, match="returned 1 vectors for 2 texts"):
        reference_similarity(["a"], ["b"], lambda texts: [[1.0]])


# --- the whole set --------------------------------------------------------------------------------------


def test_score_answer_keys_and_demo_values() -> None:
    scores = score_answer(
        VACATION,
        reference=VACATION,
        contexts=CHUNKS,
        expected_source="01-vacation.md",
        format_kind="regex",
        format_rule=HOUSE_FORMAT_RULE,
    )
    assert list(scores) == list(METRIC_NAMES[1:])
    assert scores["token_f1"] == MetricValue(1.0)
    assert scores["key_facts"] == MetricValue(1.0)
    assert scores["format"] == MetricValue(1.0)
    assert scores["citation_faithfulness"] == MetricValue(None, "the answer cites no source")
    assert scores["cites_sources"] == MetricValue(0.0, "the answer cites no source")
    assert scores["retrieval_hit"] == MetricValue(1.0)
    assert scores["answer_words"] == MetricValue(24.0)


def test_metric_names_and_labels() -> None:
    assert METRIC_NAMES == (
        "similarity",
        "token_f1",
        "key_facts",
        "format",
        "citation_faithfulness",
        "cites_sources",
        "retrieval_hit",
        "answer_words",
    )
    assert [METRIC_LABELS[name] for name in METRIC_NAMES] == [
        "Similarity to reference",
        "Token F1",
        "Key facts",
        "Format",
        "Citation faithfulness",
        "Cites a source",
        "Retrieval hit",
        "Words",
    ]


ODD_TEXTS = [
    "",
    " ",
    "\n\n",
    "[1]",
    "[0] [99] [1, 2]",
    "```json\n```",
    "The",
    "日本語の答え",
    "a" * 5000,
    "1,2,3.",
]


@pytest.mark.parametrize("answer", ODD_TEXTS)
@pytest.mark.parametrize("reference", ["", "The", "Paris", VACATION])
def test_no_metric_returns_nan(answer: str, reference: str) -> None:
    scores = score_answer(
        answer,
        reference=reference,
        contexts=[*CHUNKS, {"text": "", "source": ""}],
        expected_source="01-vacation.md",
        format_kind="json_schema",
        format_rule=SCHEMA,
    )
    scores["similarity"] = cosine([1.0, 0.0], [0.0, 0.0])
    for name, metric in scores.items():
        assert metric.value is None or math.isfinite(metric.value), name
        assert metric.value is not None or metric.reason, name


def test_metric_value_rejects_nan_and_silent_none() -> None:
    with pytest.raises(ValueError):
        MetricValue(math.nan)
    with pytest.raises(ValueError):
        MetricValue(None)
