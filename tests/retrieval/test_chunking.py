from __future__ import annotations

import pytest

from app.retrieval.chunking import chunk_text

DOC = """# Vacation policy

Policy owner: Mira Holt

## Allowance

New employees receive 22 vacation days. From the third year it is 25 days.

## Carry-over

Up to 5 unused days carry over to March 31. Days beyond that lapse.
"""


def test_chunks_follow_headings_and_keep_paragraphs_whole() -> None:
    chunks = chunk_text(DOC, size=200, overlap=0)
    assert [c.heading for c in chunks] == ["Vacation policy", "Allowance", "Carry-over"]
    assert chunks[1].text == "New employees receive 22 vacation days. From the third year it is 25 days."
    assert [c.position for c in chunks] == [0, 1, 2]


def test_long_paragraphs_split_on_sentences_with_overlap() -> None:
    sentences = [f"Fact number {i} is that the value equals {i * 7}." for i in range(40)]
    chunks = chunk_text(" ".join(sentences), size=300, overlap=80)
    assert len(chunks) > 4
    assert all(len(c.text) <= 300 for c in chunks)
    for sentence in sentences:  # no sentence is cut in half
        assert any(sentence in c.text for c in chunks)
    # consecutive chunks share a trailing sentence
    assert chunks[0].text.split(". ")[-1] in chunks[1].text


def test_run_on_text_is_cut_at_spaces() -> None:
    chunks = chunk_text("word " * 500, size=120, overlap=0)
    assert all(len(c.text) <= 120 for c in chunks)
    assert sum(c.text.count("word") for c in chunks) == 500


@pytest.mark.parametrize(("size", "overlap"), [(10, 0), (100, 100), (100, -1)])
def test_bad_settings_are_rejected(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_text("text", size=size, overlap=overlap)
