"""Turn uploaded bytes into plain text: txt, Markdown, HTML, PDF, and zips of them."""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from app.ingest.limits import IngestLimits, RejectedFile

TEXT_SUFFIXES = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown"}
HTML_SUFFIXES = {".html": "html", ".htm": "html"}
KINDS = {**TEXT_SUFFIXES, **HTML_SUFFIXES, ".pdf": "pdf", ".zip": "zip"}
SUPPORTED = ", ".join(sorted(KINDS))


@dataclass(frozen=True)
class ExtractedDocument:
    filename: str
    title: str
    kind: str
    text: str


def kind_of(filename: str, data: bytes) -> str:
    """The file's kind from its suffix, confirmed by its content where a signature exists."""
    suffix = PurePosixPath(filename.lower()).suffix
    kind = KINDS.get(suffix)
    if kind is None:
        raise RejectedFile(
            filename, f"unsupported file type {suffix or '(none)'}; supported: {SUPPORTED}", 415
        )
    if kind == "pdf" and not data.startswith(b"%PDF-"):
        raise RejectedFile(filename, "not a PDF (missing %PDF- header)", 415)
    if kind == "zip" and not data.startswith(b"PK\x03\x04"):
        raise RejectedFile(filename, "not a zip archive", 415)
    if kind in ("text", "markdown", "html") and b"\x00" in data[:8192]:
        raise RejectedFile(filename, "binary content in a text file", 415)
    return kind


def decode_text(filename: str, data: bytes) -> str:
    for encoding in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")  # never fails: every byte is a character


def html_to_text(html: str) -> tuple[str, str]:
    """(title, text) of an HTML page; scripts and styles dropped, layout kept as paragraphs."""
    from inscriptis import get_text
    from inscriptis.model.config import ParserConfig

    match = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    title = re.sub(r"\s+", " ", match.group(1)).strip() if match else ""
    text = get_text(html, ParserConfig(display_links=False, display_images=False))
    return title, text


def pdf_to_text(filename: str, data: bytes, limits: IngestLimits) -> tuple[str, str]:
    """(title, text) of a PDF, refusing files whose streams decompress beyond the cap."""
    import pypdf
    from pypdf.errors import LimitReachedError, PdfReadError

    cap = limits.max_pdf_stream_bytes
    # pypdf's own guards, tightened to ours: a flate bomb stops at the cap instead of filling memory.
    guards = {
        name: cap
        for name in (
            "maximum_declared_stream_length",
            "array_based_stream_maximum_output_length",
            "jbig2_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "zlib_maximum_output_length",
            "brotli_maximum_output_length",
        )
    }
    try:
        with pypdf.apply_configuration(None, **guards):
            return _read_pdf(pypdf.PdfReader(io.BytesIO(data)), filename, limits)
    except LimitReachedError as exc:
        raise RejectedFile(filename, "a PDF stream decompresses beyond the size cap", 413) from exc
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise RejectedFile(filename, f"unreadable PDF ({type(exc).__name__})", 422) from exc


def _read_pdf(reader: Any, filename: str, limits: IngestLimits) -> tuple[str, str]:
    if reader.is_encrypted:
        raise RejectedFile(filename, "encrypted PDFs are not supported", 422)
    if len(reader.pages) > limits.max_pdf_pages:
        raise RejectedFile(filename, f"more than {limits.max_pdf_pages} pages", 413)
    parts: list[str] = []
    total = 0
    for page in reader.pages:
        text = page.extract_text() or ""
        total += len(text)
        if total > limits.max_text_chars:
            raise RejectedFile(filename, "the PDF's text decompresses beyond the size cap", 413)
        parts.append(text)
    title = str((reader.metadata or {}).get("/Title") or "").strip()
    return title, "\n\n".join(parts)


def _zip_members(filename: str, data: bytes, limits: IngestLimits) -> list[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise RejectedFile(filename, "corrupt zip archive", 422) from exc
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > limits.max_zip_entries:
        raise RejectedFile(filename, f"more than {limits.max_zip_entries} entries", 413)
    declared = sum(i.file_size for i in infos)
    if declared > limits.max_zip_total_bytes:
        raise RejectedFile(filename, "expands beyond the uncompressed size cap", 413)
    members: list[tuple[str, bytes]] = []
    total = 0
    for info in infos:
        name = posixpath.normpath(info.filename)
        if name.startswith(("/", "..")) or "__MACOSX" in name or PurePosixPath(name).name.startswith("."):
            continue  # path tricks and OS metadata are skipped, not extracted
        if PurePosixPath(name.lower()).suffix == ".zip":
            raise RejectedFile(filename, f"nested archives are not allowed ({name})", 422)
        if info.compress_size and info.file_size / info.compress_size > limits.max_zip_ratio:
            raise RejectedFile(filename, f"{name} has a suspicious compression ratio (zip bomb?)", 413)
        # Read with a hard cap: the declared sizes in a zip header can lie.
        with archive.open(info) as handle:
            content = handle.read(limits.max_file_bytes + 1)
        if len(content) > limits.max_file_bytes:
            raise RejectedFile(filename, f"{name} is larger than the per-file limit", 413)
        total += len(content)
        if total > limits.max_zip_total_bytes:
            raise RejectedFile(filename, "expands beyond the uncompressed size cap", 413)
        members.append((name, content))
    if not members:
        raise RejectedFile(filename, "the archive holds no files", 422)
    return members


def extract_documents(filename: str, data: bytes, limits: IngestLimits) -> list[ExtractedDocument]:
    """All documents in one upload (a zip gives several); raises RejectedFile for anything unsafe."""
    if len(data) > limits.max_file_bytes:
        raise RejectedFile(filename, f"larger than {limits.max_file_bytes // (1024 * 1024)} MB", 413)
    if not data.strip():
        raise RejectedFile(filename, "the file is empty", 422)
    kind = kind_of(filename, data)
    if kind == "zip":
        documents: list[ExtractedDocument] = []
        for name, content in _zip_members(filename, data, limits):
            documents.extend(extract_documents(f"{filename}/{name}", content, limits))
        return documents
    stem = PurePosixPath(filename).stem
    if kind == "pdf":
        title, text = pdf_to_text(filename, data, limits)
    elif kind == "html":
        title, text = html_to_text(decode_text(filename, data))
    else:
        text = decode_text(filename, data)
        heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE) if kind == "markdown" else None
        title = heading.group(1).strip() if heading else ""
    if len(text) > limits.max_text_chars:
        raise RejectedFile(filename, "the extracted text is larger than the cap", 413)
    if not text.strip():
        raise RejectedFile(filename, "no text could be extracted", 422)
    return [ExtractedDocument(filename=filename, title=title or stem, kind=kind, text=text)]
