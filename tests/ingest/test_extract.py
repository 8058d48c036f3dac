"""Text extraction from each supported type, and every bad-input limit."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest

from app.ingest.extract import extract_documents
from app.ingest.limits import IngestLimits, RejectedFile

LIMITS = IngestLimits()


def make_pdf(text: str, *, title: str = "Handbook") -> bytes:
    """A minimal valid one-page PDF with a Helvetica text line per paragraph."""
    lines = " ".join(f"({line}) Tj T*" for line in text.split("\n"))
    content = f"BT /F1 12 Tf 14 TL 72 720 Td {lines} ET".encode()
    return _pdf_with_content(zlib.compress(content), b"/Filter /FlateDecode", title)


def _pdf_with_content(stream: bytes, filter_entry: bytes, title: str = "Handbook") -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length "
        + str(len(stream)).encode()
        + b" "
        + filter_entry
        + b" >>\nstream\n"
        + stream
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (" + title.encode() + b") >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_plain_text_and_markdown() -> None:
    [txt] = extract_documents("notes.txt", b"Meals are capped at EUR 45 per day.", LIMITS)
    assert txt.kind == "text" and txt.title == "notes" and "EUR 45" in txt.text
    [md] = extract_documents("vacation.md", b"# Vacation policy\n\nNew employees get 22 days.", LIMITS)
    assert md.kind == "markdown" and md.title == "Vacation policy"


def test_html_drops_scripts_and_keeps_text() -> None:
    html = b"""<html><head><title>Travel policy</title><style>p{color:red}</style>
    <script>alert('x')</script></head><body><h1>Travel</h1><p>Book trains for trips under 600 km.</p>
    <p>Flights need approval from <b>finance</b>.</p></body></html>"""
    [doc] = extract_documents("travel.html", html, LIMITS)
    assert doc.title == "Travel policy"
    assert "Book trains for trips under 600 km." in doc.text
    assert "Flights need approval from finance." in doc.text
    assert "alert" not in doc.text and "color" not in doc.text


def test_pdf_text_and_title() -> None:
    [doc] = extract_documents(
        "handbook.pdf", make_pdf("Parental leave is 16 weeks.\nContact hr@larkspur.example"), LIMITS
    )
    assert doc.kind == "pdf" and doc.title == "Handbook"
    assert "Parental leave is 16 weeks." in doc.text


def test_zip_of_several_files() -> None:
    data = make_zip({"a.md": b"# A\n\nAlpha fact.", "docs/b.txt": b"Beta fact.", "__MACOSX/._a.md": b"junk"})
    docs = extract_documents("bundle.zip", data, LIMITS)
    assert [d.filename for d in docs] == ["bundle.zip/a.md", "bundle.zip/docs/b.txt"]


@pytest.mark.parametrize(
    ("filename", "data", "status", "fragment"),
    [
        ("empty.txt", b"", 422, "empty"),
        ("blank.md", b"   \n\n ", 422, "empty"),
        ("tool.exe", b"MZ\x90\x00", 415, "unsupported"),
        ("fake.pdf", b"hello, not a pdf", 415, "not a PDF"),
        ("fake.zip", b"not a zip", 415, "not a zip"),
        ("bin.txt", b"abc\x00\x01\x02", 415, "binary"),
        ("broken.pdf", b"%PDF-1.4\ngarbage", 422, "PDF"),
    ],
)
def test_bad_files_are_rejected(filename: str, data: bytes, status: int, fragment: str) -> None:
    with pytest.raises(RejectedFile) as caught:
        extract_documents(filename, data, LIMITS)
    assert caught.value.status_code == status
    assert fragment in caught.value.reason


def test_oversized_file_is_413() -> None:
    with pytest.raises(RejectedFile) as caught:
        extract_documents("big.txt", b"a" * 2048, IngestLimits(max_file_bytes=1024))
    assert caught.value.status_code == 413


def test_zip_bomb_by_ratio_is_rejected() -> None:
    bomb = make_zip({"zeros.txt": b"0" * 5_000_000})
    with pytest.raises(RejectedFile) as caught:
        extract_documents("bomb.zip", bomb, LIMITS)
    assert caught.value.status_code == 413 and "ratio" in caught.value.reason


def test_zip_total_and_entry_caps() -> None:
    many = make_zip({f"f{i}.txt": b"x" for i in range(20)}, zipfile.ZIP_STORED)
    with pytest.raises(RejectedFile, match="entries"):
        extract_documents("many.zip", many, IngestLimits(max_zip_entries=10))
    large = make_zip({f"f{i}.txt": b"y" * 1000 for i in range(5)}, zipfile.ZIP_STORED)
    with pytest.raises(RejectedFile, match="uncompressed"):
        extract_documents("large.zip", large, IngestLimits(max_zip_total_bytes=3000))


def test_nested_archives_are_refused() -> None:
    inner = make_zip({"a.txt": b"a"})
    with pytest.raises(RejectedFile, match="nested"):
        extract_documents("outer.zip", make_zip({"inner.zip": inner}, zipfile.ZIP_STORED), LIMITS)


def test_pdf_flate_bomb_is_refused() -> None:
    # 20 MB of zeros compress to about 20 KB: under the upload limit, far over a 1 MB stream cap.
    bomb = _pdf_with_content(zlib.compress(b"0" * 20_000_000, 9), b"/Filter /FlateDecode")
    assert len(bomb) < 100_000
    with pytest.raises(RejectedFile) as caught:
        extract_documents("bomb.pdf", bomb, IngestLimits(max_pdf_stream_bytes=1_000_000))
    assert caught.value.status_code == 413


def test_the_sandbox_contains_a_parser_that_runs_out_of_memory() -> None:
    from app.ingest.sandbox import extract_safely

    # A 300 MB flate bomb with the stream cap lifted: decompressing it needs more than the child's 200 MB
    # of address space, so the child dies, the server does not, and the caller gets a clear 422.
    bomb = _pdf_with_content(zlib.compress(b"0" * 300_000_000, 9), b"/Filter /FlateDecode")
    limits = IngestLimits(max_pdf_stream_bytes=1_000_000_000, parse_memory_bytes=200 * 1024 * 1024)
    with pytest.raises(RejectedFile) as caught:
        extract_safely("bomb.pdf", bomb, limits)
    assert caught.value.status_code == 422 and "memory" in caught.value.reason
    [doc] = extract_safely("ok.pdf", make_pdf("Some text."), IngestLimits())
    assert "Some text." in doc.text
