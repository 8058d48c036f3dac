"""Keeping an API key out of everything we store, show or log, in whatever form an upstream echoes it.

Servers and proxies echo credentials back in error bodies: plainly, upper-cased, spaced out, percent-encoded,
hex-encoded, or base64-encoded (a `Basic` header, a JWT-ish blob). A plain `str.replace` catches only the
first. Each pattern here is built from the key itself, so text about anything else is left alone.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from typing import Any

MASK = "***"
# Shorter keys are redacted in their plain forms only: short encodings would match ordinary text.
MIN_ENCODED_KEY = 8
MAX_REASON_CHARS = 200
SPACING = r"[\s]*"


def _char_or_percent(char: str) -> str:
    encoded = "".join(f"%{byte:02x}" for byte in char.encode())
    return f"(?:{re.escape(char)}|{encoded})"


def _base64_interiors(secret: bytes) -> set[str]:
    """The part of base64(prefix + key + suffix) that depends on the key alone, for the three alignments
    the key can start at, in the standard and the URL-safe alphabet."""
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode()
        first = -(-8 * offset // 6)  # the first character made only of key bits
        last = 8 * (offset + len(secret)) // 6  # one past the last such character
        interior = encoded[first:last]
        forms |= {interior, interior.replace("+", "-").replace("/", "_")}
    return {f for f in forms if len(f) >= MIN_ENCODED_KEY}


@lru_cache(maxsize=256)
def secret_pattern(secret: str) -> re.Pattern[str]:
    """One case-insensitive pattern for the key plain, spaced, percent-encoded (any characters), hex and
    base64-encoded."""
    plain = SPACING.join(_char_or_percent(c) for c in secret)
    alternatives = [plain]
    if len(secret) >= MIN_ENCODED_KEY:
        raw = secret.encode()
        alternatives.append(r"[\s:]*".join(f"{byte:02x}" for byte in raw))
        alternatives += [re.escape(form) for form in sorted(_base64_interiors(raw), key=len, reverse=True)]
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


def redact(text: str, secret: str | None) -> str:
    """`text` with every form of `secret` replaced by ***."""
    if not secret or not text:
        return text
    return secret_pattern(secret).sub(MASK, text)


def short_reason(value: Any, limit: int = MAX_REASON_CHARS) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(str(value).split())
    return text[:limit] + ("..." if len(text) > limit else "")


def api_error_message(body: Any) -> str | None:
    """The human message of an API error body in the OpenAI/Anthropic shape (`{"error": {"message"}}`),
    or Ollama's and FastAPI's (`{"error": "..."}`, `{"detail": "..."}`, `{"message": "..."}`); None for
    anything else, which is never shown: an HTML page or a raw echo is not a reason."""
    if not isinstance(body, dict):
        return None
    found = body.get("error") or body.get("detail") or body.get("message")
    if isinstance(found, dict):
        found = found.get("message") or found.get("type")
    if isinstance(found, str) and found.strip():
        return short_reason(found)
    return None
