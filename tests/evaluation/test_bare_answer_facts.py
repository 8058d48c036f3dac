"""A bare answer ("Carbon dioxide") is one key fact as a whole, its lowercase words included (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

from app.evaluation.facts import extract_facts
from app.evaluation.metrics import MetricValue, key_fact_recall, key_facts

PROBES = Path(__file__).resolve().parents[2] / "app" / "evaluation" / "general_probes.jsonl"


def test_a_bare_answer_is_one_fact_with_its_lowercase_words() -> None:
    assert key_facts("Nitrogen gas") == ["Nitrogen gas"]
    assert key_facts("Carbon dioxide") == ["Carbon dioxide"]
    assert key_facts("carbon dioxide") == ["carbon dioxide"]
    assert key_facts("Answer: carbon   dioxide.") == ["carbon dioxide"]
    assert key_facts("Earth's inner core") == ["Earth's inner core"]
    [fact] = extract_facts("The Carbon dioxide")
    assert (fact.text, fact.kind, fact.key) == ("Carbon dioxide", "answer", ("carbon", "dioxide"))


def test_the_other_half_of_a_bare_answer_counts() -> None:
    assert key_fact_recall("carbon monoxide", "Carbon dioxide") == MetricValue(0.0, "missing: Carbon dioxide")
    assert key_fact_recall("Carbon.", "Carbon dioxide").value == 0.0
    assert key_fact_recall("It is carbon dioxide.", "Carbon dioxide") == MetricValue(1.0)
    assert key_fact_recall("  CARBON\n dioxide!", "Carbon dioxide").value == 1.0
    assert key_fact_recall("Plants absorb carbon dioxide [1].", "carbon dioxide").value == 1.0
    assert key_fact_recall("Mostly nitrogen gas, about 78%.", "Nitrogen gas").value == 1.0
    assert key_fact_recall("Nitrogen.", "Nitrogen gas").value == 0.0


def test_the_demo_probe_no_longer_takes_carbon_monoxide() -> None:
    probes = [json.loads(line) for line in PROBES.read_text().splitlines() if line.strip()]
    [reference] = [p["reference"] for p in probes if p["query"].startswith("What gas do plants absorb")]
    assert key_fact_recall("Carbon monoxide.", reference).value == 0.0
    assert key_fact_recall("They absorb carbon dioxide (CO2).", reference).value == 1.0


def test_one_word_and_number_answers_still_work() -> None:
    assert key_facts("Paris") == ["Paris"]
    assert key_fact_recall("It is PARIS.", "Paris").value == 1.0
    assert key_fact_recall("Lyon", "Paris") == MetricValue(0.0, "missing: Paris")
    assert key_facts("56") == ["56"]
    assert key_fact_recall("The answer is 56.", "56").value == 1.0
    assert key_fact_recall("It is 65.", "56").value == 0.0
    assert key_facts("Seven") == ["7"]
    assert key_fact_recall("seven continents", "Seven").value == 1.0
    assert key_facts("The Pacific Ocean") == ["Pacific Ocean"]
    assert key_fact_recall("the pacific ocean", "The Pacific Ocean").value == 1.0
    assert key_facts("Leonardo da Vinci") == ["Leonardo da Vinci"]


def test_what_is_not_a_bare_answer_keeps_the_old_rules() -> None:
    # A number or another fact in the line: the rules for numbers and names, as before.
    assert key_facts("100 degrees Celsius") == ["100", "Celsius"]
    # A verb makes a sentence, and a sentence's lowercase words are no fact.
    assert key_facts("It is blue.") == []
    assert key_facts("Yes, that is fine") == []
    # More than three words, or more than one line with words.
    assert key_facts("Managers answer within 3 working days.") == ["3"]
    assert key_facts("Answer: Northstar Health.\nPolicy: Benefits: Health and Pension") == [
        "Northstar Health",
        "Benefits: Health and Pension",
    ]
    assert key_facts("Answer: carbon dioxide\nAsk: plants@larkspur.example") == ["plants@larkspur.example"]
    # Two sentences are no bare answer either; only the name is left.
    assert key_facts("Yes. Paris") == ["Paris"]
    # Function words alone are nothing to look for.
    assert key_facts("Yes") == []
