"""The words of a text: function words, content words, sentences and citation markers (the pieces that key
facts, citation faithfulness and the other answer metrics read).

Content words (for citations) are lowercase words of three letters or more that are not function words or
words about citing ("source", "number"), with a final plural "s" dropped; numbers are always content words.
"""

from __future__ import annotations

import regex

# Function words: never a name on their own, never "content" when checking a citation.
_FUNCTION_WORDS = """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each either every few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just least
    less many may me might more most must my myself neither no nor not now of off on once only or other our
    ours ourselves out over own per same shall she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up upon us very via was we were
    what when where whether which while who whom whose why will with within without would yes yet you your
    yours yourself yourselves
"""
STOPWORDS = frozenset(_FUNCTION_WORDS.split())

CITATION_RE = regex.compile(r"\[(\d+(?:[ \t]*,[ \t]*\d+)*)\]")
# A marker straight after the sentence's full stop still belongs to that sentence ("... 22 days. [1]"),
# unless a source label follows it: that is the start of a copied source list.
_SENTENCE_END_RE = regex.compile(r"[.!?]+(?:[ \t]*\[\d+(?:[ \t]*,[ \t]*\d+)*\](?![ \t]*\())*(?=\s|$)|\n+")
_TOKEN_RE = regex.compile(r"\d+(?:[.,]\d+)*|\p{L}+")
# Words about the citation itself, not about the answer ("The source number is 1 [1]").
_CITING_WORDS = (
    "according cite cited cites citation citations chunk chunks context document documents number passage "
    "reference references source sources"
)
_META_WORDS = frozenset(_CITING_WORDS.split())


def strip_citations(text: str) -> str:
    """The text without citation markers such as [1] or [1, 2]."""
    return CITATION_RE.sub(" ", text)


def _stem(word: str) -> str:
    # Plural and third-person "s" only: "days" meets "day", "receives" meets "receive".
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def content_words(text: str, ignore: frozenset[str] = frozenset()) -> set[str]:
    """The content words of a text (see the module docstring), minus the numbers in `ignore`."""
    words: set[str] = set()
    for token in _TOKEN_RE.findall(text.lower()):
        if token[0].isdigit():
            number = token.replace(",", "")
            if number not in ignore:
                words.add(number)
        elif len(token) >= 3 and token not in STOPWORDS and token not in _META_WORDS:
            words.add(_stem(token))
    return words


def sentences(text: str) -> list[str]:
    """The text split into sentences at . ! ? and line breaks, each keeping the citations right after it."""
    parts, start = [], 0
    for end in _SENTENCE_END_RE.finditer(text):
        parts.append(text[start : end.end()])
        start = end.end()
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]
