"""Limits on untrusted uploads, and the error that rejects a file with a clear 4xx."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IngestLimits:
    max_file_bytes: int = 25 * 1024 * 1024
    # Zip bombs: cap the expanded total, the number of entries and the compression ratio.
    max_zip_total_bytes: int = 200 * 1024 * 1024
    max_zip_entries: int = 1000
    max_zip_ratio: float = 100.0
    # PDFs: cap what their streams may decompress to, and the text they may yield.
    max_pdf_stream_bytes: int = 50 * 1024 * 1024
    max_text_chars: int = 5_000_000
    max_pdf_pages: int = 2000
    # Parsing happens in a child process with these bounds, so a hostile file cannot take the server down.
    parse_timeout_s: float = 60.0
    parse_memory_bytes: int = 2 * 1024 * 1024 * 1024


class RejectedFile(Exception):
    """A file that will not be ingested; `status_code` is the HTTP status to answer with."""

    def __init__(self, filename: str, reason: str, status_code: int = 422):
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason
        self.status_code = status_code
