"""Key facts: what a correct answer must contain, read off a reference, and whether an answer states them.

A key fact is something a correct answer must contain. The rules, applied line by line in this order (each
match is blanked out so later rules do not see it again):

1. A label at the start of a line (one or two words and a colon, e.g. "Answer:", "Policy owner:") is dropped.
2. Email addresses and web links (matched case-insensitively as written).
3. Phone numbers starting with "+" or a zero ("+49 30 5550 1180", "0800 555 0199"; matched by their digits,
   so spacing does not matter), and codes such as "LL-TRV-2291" (hyphenated, with a capital and a digit).
4. Dates: ISO 2025-03-01, "1 March", "1st of March 2025", "March 1, 2025", "March 2025". An answer's date
   matches when it agrees on every part the reference gives (day, month, year).
5. Times like 09:30 or 9:30 pm (matched as 24-hour clock times).
6. Numbers: integers, decimals, percentages (40%, 40 percent) and money (EUR 500, €500, $1,200, 500 euros),
   shown as plain digits ("$1,200" -> "1200", "40%" stays "40%"). They match as whole numbers by value, so "3"
   is not found in "30" and "1,200" matches "1200". Number words (two..twenty, thirty..ninety, hundred and
   compounds like twenty-two) count as their digits; "one" counts only in answers, because in a reference it
   is too often a pronoun ("no one", "one of").
7. A bare answer is one fact, lowercase words included ("Carbon dioxide", "Nitrogen gas"): the reference's
   only line with words has, after its label, at most three words in one sentence, no verb (is, has, can:
   "It is blue" is a sentence) and nothing rules 2-6 took ("100 degrees Celsius" goes on to rule 8).
8. Names, on any other line: runs of capitalised words, possibly joined by and/of/of the/&/da/de/van/von or a
   colon ("Vacation and Paid Leave Policy", "Onboarding: Your First Week", "Leonardo da Vinci"). A lone
   capitalised word that only starts a sentence is ignored, since the capital says nothing there ("New
   employees receive ..."), unless the line has at most three words ("Answer: Northstar Health.").
Function words at either end of a bare answer or name are dropped ("The Pacific Ocean" -> "Pacific Ocean").
It is found when all its significant words (not function words) appear in the answer as whole words, in any
case and order: "carbon monoxide" does not state "Carbon dioxide", "It is carbon dioxide." does.

Facts are deduplicated and kept in the order they appear.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import regex

from app.evaluation.text import STOPWORDS, sentences

# Lowercase words that may sit inside a name between capitalised words.
_JOINERS = frozenset({"and", "of", "the", "da", "de", "di", "del", "der", "van", "von", "du", "la", "le"})

_MONTH_NAMES = "January February March April May June July August September October November December"
_MONTHS = {name: i for i, month in enumerate(_MONTH_NAMES.split(), start=1) for name in (month, month[:3])}
_MONTHS["Sept"] = 9
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"

_LABEL_RE = regex.compile(r"^[ \t]*\p{Lu}\p{L}*(?:[ \t]+\p{L}+)?[ \t]*:(?=\s|$)")
_EMAIL_RE = regex.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL_RE = regex.compile(r"https?://[^\s<>()\[\]\"']+[^\s<>()\[\]\"'.,;:!?]")
# International (+49 30 5550 1180) or national with a leading zero (0800 555 0199).
_PHONE_RE = regex.compile(r"(?<![\w+])(?:\+\d|\b0\d)[\d \-()]{5,}\d(?!\d)")
# Codes such as LL-TRV-2291 or COVID-19: hyphenated, with a capital letter and a digit.
_CODE_RE = regex.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*\p{Lu})[\p{L}\d]+(?:-[\p{L}\d]+)+(?![\w-])")
_ANY_CODE_RE = regex.compile(r"(?<![\w-])[\p{L}\d]+(?:-[\p{L}\d]+)+(?![\w-])")
# Tried in this order; the first pattern to match a span wins.
_DATE_RES = (
    regex.compile(r"\b(?P<year>\d{4})-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
    regex.compile(r"\b" + _DAY + r"[ \t]+(?:of[ \t]+)?" + _MONTH + r"(?:,?[ \t]+" + _YEAR + r")?\b"),
    regex.compile(r"\b" + _MONTH + r"[ \t]+" + _DAY + r"(?:,?[ \t]+" + _YEAR + r")?\b(?!:)"),
    regex.compile(r"\b" + _MONTH + r"[ \t]+" + _YEAR + r"\b"),
)
_TIME_RE = regex.compile(
    r"(?<![\d:])(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)(?![\d:])(?:[ \t]*(?P<half>[ap])\.?m\b\.?)?",
    flags=regex.IGNORECASE,
)
_CURRENCY = r"(?:[€$£¥]|\b(?:EUR|USD|GBP|CHF|JPY)\b)"
_NUMBER = r"(?<![\p{L}\d])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_AMOUNT_RE = regex.compile(
    rf"{_CURRENCY}[ \t]?(?P<money>{_NUMBER})"
    rf"|(?P<money>{_NUMBER})[ \t]?(?:[€$£¥]|(?:EUR|USD|GBP|CHF|JPY|euros?|dollars?|pounds?)\b)"
    rf"|(?P<percent>{_NUMBER})[ \t]?(?:%|per[ \t]?cent\b)"
    rf"|(?P<plain>{_NUMBER})"
)
_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
)
_TENS_NUMBERS = "twenty thirty forty fifty sixty seventy eighty ninety"
_UNITS = _SMALL_NUMBERS.split()[1:10]
_TENS = _TENS_NUMBERS.split()
_NUMBER_WORDS = {word: value for value, word in enumerate(_SMALL_NUMBERS.split())}
_NUMBER_WORDS.update({word: 20 + 10 * i for i, word in enumerate(_TENS)})
_NUMBER_WORD_RE = regex.compile(
    r"\b(?:(?P<hundred>(?:one|a)[ \t]+)?hundred"
    r"|(?P<tens>" + "|".join(_TENS) + r")(?:[ \t-](?P<unit>" + "|".join(_UNITS) + r"))?"
    r"|(?P<word>" + "|".join(_SMALL_NUMBERS.split()) + r"))\b",
    flags=regex.IGNORECASE,
)
_NUMBER_RE = regex.compile(_NUMBER)
_CAP = r"\p{Lu}[\p{L}\p{M}\p{N}'\u2019]*(?:-[\p{L}\p{N}]+)*"
_POSSESSIVE_RE = regex.compile(r"(?<=\p{L})['\u2019]s\b")
# "the" joins only after "of" ("Bank of the West"): "Use the SpeakUp hotline" is a verb, then a name.
_JOIN = r"(?:[ \t]+(?:of(?:[ \t]+the)?|" + "|".join(sorted(_JOINERS - {"of", "the"})) + r"))*(?:[ \t]*&)?"
_NAME_RE = regex.compile(rf"(?<![\p{{L}}\p{{N}}'\u2019]){_CAP}(?:{_JOIN}:?[ \t]+{_CAP})*")
_WORD_RE = regex.compile(r"[\p{L}\p{N}]+")
# A short line with one of these is a sentence, not a bare answer.
_VERB_WORDS = (
    "am are be been being can could did do does had has have is may might must shall should "
    "was were will would"
)
_VERBS = frozenset(_VERB_WORDS.split())
_BLANK = "#"  # what a matched span is replaced by: breaks name runs, is no word and no sentence end

DateKey = tuple[int | None, int | None, int | None]  # day, month, year; None = not given


@dataclass(frozen=True)
class Fact:
    """One key fact: how it reads, and what an answer must contain to state it."""

    text: str
    kind: str  # "number", "date", "time", "phone", "code", "link" (email or web address), "answer", "name"
    # number: Decimal; date: DateKey; time: "HH:MM"; phone: digits; code, link: lowercase;
    # answer, name: its significant words, lowercase
    key: Decimal | DateKey | str | tuple[str, ...]


@dataclass(frozen=True)
class _Stated:
    """Everything an answer states, in the same shape as `Fact.key`."""

    numbers: frozenset[Decimal]
    dates: tuple[DateKey, ...]
    times: frozenset[str]
    phones: frozenset[str]
    links: frozenset[str]
    codes: frozenset[str]
    words: frozenset[str]


Maker = Callable[[regex.Match[str]], "Fact | None"]


def _blank(text: str, start: int, end: int, fill: str = _BLANK) -> str:
    return text[:start] + fill * (end - start) + text[end:]


def _take(line: str, pattern: regex.Pattern[str], make: Maker) -> tuple[str, list[tuple[int, Fact]]]:
    found: list[tuple[int, Fact]] = []
    for match in list(pattern.finditer(line)):
        fact = make(match)
        if fact is not None:
            found.append((match.start(), fact))
            line = _blank(line, match.start(), match.end())
    return line, found


def _number(raw: str) -> Decimal:
    return Decimal(raw.replace(",", ""))


def _number_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")


def _word_number(match: regex.Match[str]) -> int:
    if match.group(0).lower().endswith("hundred"):
        return 100
    if match.group("tens"):
        unit = match.group("unit")
        return _NUMBER_WORDS[match.group("tens").lower()] + (_NUMBER_WORDS[unit.lower()] if unit else 0)
    return _NUMBER_WORDS[match.group("word").lower()]


def _date_key(match: regex.Match[str]) -> DateKey | None:
    groups = match.groupdict()
    month = int(groups["month"]) if groups["month"].isdigit() else _MONTHS[groups["month"]]
    day = int(groups["day"]) if groups.get("day") else None
    year = int(groups["year"]) if groups.get("year") else None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    return (day, month, year)


def _time_key(match: regex.Match[str]) -> str:
    hour = int(match.group("hour"))
    half = (match.group("half") or "").lower()
    if half == "p" and hour < 12:
        hour += 12
    elif half == "a" and hour == 12:
        hour = 0
    return f"{hour:02d}:{match.group('minute')}"


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _make_link(match: regex.Match[str]) -> Fact:
    return Fact(match.group(0), "link", match.group(0).lower().rstrip("/"))


def _make_phone(match: regex.Match[str]) -> Fact:
    return Fact(_collapse(match.group(0)), "phone", regex.sub(r"\D", "", match.group(0)))


def _make_code(match: regex.Match[str]) -> Fact:
    return Fact(match.group(0), "code", match.group(0).lower())


def _make_date(match: regex.Match[str]) -> Fact | None:
    key = _date_key(match)
    return None if key is None else Fact(_collapse(match.group(0)), "date", key)


def _make_time(match: regex.Match[str]) -> Fact:
    return Fact(_time_key(match), "time", _time_key(match))


def _make_amount(match: regex.Match[str]) -> Fact:
    value = _number(match.group("money") or match.group("percent") or match.group("plain"))
    return Fact(_number_text(value) + ("%" if match.group("percent") else ""), "number", value)


def _make_number_word(match: regex.Match[str]) -> Fact | None:
    # In a reference a bare "one" is too often a pronoun ("no one", "one of them").
    if match.group(0).lower() == "one":
        return None
    value = _word_number(match)
    return Fact(str(value), "number", Decimal(value))


_MAKERS: tuple[tuple[regex.Pattern[str], Maker], ...] = (
    (_EMAIL_RE, _make_link),
    (_URL_RE, _make_link),
    (_PHONE_RE, _make_phone),
    (_CODE_RE, _make_code),
    *((pattern, _make_date) for pattern in _DATE_RES),
    (_TIME_RE, _make_time),
    (_AMOUNT_RE, _make_amount),
    (_NUMBER_WORD_RE, _make_number_word),
)


def _is_function_word(word: str) -> bool:
    # "IT" or "US" in capitals is an acronym, not the pronoun.
    return word.lower() in STOPWORDS and not (len(word) > 1 and word.isupper())


def _is_edge_word(word: str) -> bool:
    return _is_function_word(word) or word.lower() in _JOINERS


def _sentence_start(line: str, position: int) -> bool:
    before = line[:position].rstrip(" \t\"'\u201c\u2018([")
    return not before or before[-1] in ".!?:;"


def _trimmed(words: list[regex.Match[str]], edge: Callable[[str], bool]) -> list[regex.Match[str]]:
    while words and edge(words[0].group(0)):
        words = words[1:]
    while words and edge(words[-1].group(0)):
        words = words[:-1]
    return words


def _names(line: str, short_line: bool) -> list[tuple[int, Fact]]:
    found: list[tuple[int, Fact]] = []
    for match in _NAME_RE.finditer(line):
        words = _trimmed(list(_WORD_RE.finditer(match.group(0))), _is_edge_word)
        if not words:
            continue
        start = match.start() + words[0].start()
        text = match.group(0)[words[0].start() : words[-1].end()]
        if len(words) == 1 and not short_line and _sentence_start(line, start):
            continue
        significant = tuple(w.group(0).lower() for w in words if not _is_function_word(w.group(0)))
        found.append((start, Fact(text, "name", significant)))
    return found


def _bare_answer(line: str, said: str) -> tuple[int, Fact] | None:
    # `said` is `line` with possessives blanked: the same length, so its spans read the original's text.
    words = list(_WORD_RE.finditer(said))
    if len(words) > 3 or len(sentences(said)) > 1 or any(w.group(0).lower() in _VERBS for w in words):
        return None
    words = _trimmed(words, _is_function_word)
    if not words:
        return None
    significant = tuple(w.group(0).lower() for w in words if not _is_function_word(w.group(0)))
    text = _collapse(line[words[0].start() : words[-1].end()])
    return words[0].start(), Fact(text, "answer", significant)


def _unlabelled(line: str) -> str:
    label = _LABEL_RE.match(line)
    # Spaces, not the blank mark, so what follows the label still starts a sentence.
    return _blank(line, 0, label.end(), " ") if label else line


def _line_facts(line: str, alone: bool) -> list[tuple[int, Fact]]:
    """`alone`: the reference has no other line with words, so this one may be a bare answer."""
    original = line = _unlabelled(line)
    short_line = len(_WORD_RE.findall(line)) <= 3
    found: list[tuple[int, Fact]] = []
    for pattern, make in _MAKERS:
        line, facts = _take(line, pattern, make)
        found.extend(facts)
    # "Larkspur's" names Larkspur; the "s" is no word of the name.
    line = _POSSESSIVE_RE.sub(lambda m: _BLANK * len(m.group(0)), line)
    bare = _bare_answer(original, line) if alone and not found else None
    found.extend([bare] if bare else _names(line, short_line))
    return sorted(found, key=lambda item: item[0])


def extract_facts(reference: str) -> list[Fact]:
    """The key facts of a reference answer, deduplicated, in reading order."""
    facts: list[Fact] = []
    seen: set[tuple[str, object]] = set()
    lines = reference.splitlines()
    alone = sum(1 for line in lines if _WORD_RE.search(_unlabelled(line))) == 1
    for line in lines:
        for _, fact in _line_facts(line, alone):
            if (fact.kind, fact.key) not in seen:
                seen.add((fact.kind, fact.key))
                facts.append(fact)
    return facts


def _stated(answer: str) -> _Stated:
    numbers = {_number(m.group(0)) for m in _NUMBER_RE.finditer(answer)}
    numbers.update(Decimal(_word_number(m)) for m in _NUMBER_WORD_RE.finditer(answer))
    dates = [_date_key(m) for pattern in _DATE_RES for m in pattern.finditer(answer)]
    links = [m.group(0).lower().rstrip("/") for m in (*_EMAIL_RE.finditer(answer), *_URL_RE.finditer(answer))]
    return _Stated(
        numbers=frozenset(numbers),
        dates=tuple(key for key in dates if key is not None),
        times=frozenset(_time_key(m) for m in _TIME_RE.finditer(answer)),
        phones=frozenset(regex.sub(r"\D", "", m.group(0)) for m in _PHONE_RE.finditer(answer)),
        links=frozenset(links),
        codes=frozenset(m.group(0).lower() for m in _ANY_CODE_RE.finditer(answer)),
        words=frozenset(w.lower() for w in _WORD_RE.findall(answer)),
    )


def _states(said: _Stated, fact: Fact) -> bool:
    if fact.kind == "number":
        return fact.key in said.numbers
    if fact.kind == "date":
        wanted = cast(DateKey, fact.key)
        return any(all(w is None or w == g for w, g in zip(wanted, got, strict=True)) for got in said.dates)
    if fact.kind == "time":
        return fact.key in said.times
    if fact.kind == "phone":
        return fact.key in said.phones
    if fact.kind == "link":
        return fact.key in said.links
    if fact.kind == "code":
        return fact.key in said.codes
    return all(word in said.words for word in cast(tuple[str, ...], fact.key))


def missing_facts(answer: str, facts: list[Fact]) -> list[Fact]:
    """The facts the answer does not state, in the order given."""
    said = _stated(answer)
    return [fact for fact in facts if not _states(said, fact)]

