"""How deeply JSON text nests, measured on the raw text before anything parses it.

Parsers and validators recurse once per level: a body of 100,000 `[` is a RecursionError (a 500) in
`json.loads`, in pydantic validators or in jsonschema, so request bodies, JSONL lines and JSON Schemas are
held to `MAX_JSON_DEPTH` first. Pure (no web framework), so every package can use it.
"""

from __future__ import annotations

from typing import Final

MAX_JSON_DEPTH: Final = 32
TOO_DEEP: Final = f"nested deeper than {MAX_JSON_DEPTH} levels"

_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_AS_PARENTHESES = bytes.maketrans(b"[]{}", b"()()")


def too_deep(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit` (text that is not JSON may be
    judged either way: its parser refuses it anyway). Linear, in C-speed passes: a few ms a megabyte."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    # Nearly every body has too few brackets to nest that deep: two counts decide it.
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    # With escaped backslashes and quotes gone (left to right, as a parser pairs them), every string runs
    # from one quote to the next, and the brackets between odd and even quotes are text, not structure.
    structure = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(_AS_PARENTHESES, _NOT_STRUCTURE)
    brackets = b"".join(structure.split(b'"')[::2])
    # Each pass takes out the innermost pairs, one level everywhere: what survives `limit` passes is deeper.
    # A run of more openers than that is deeper at once (the usual attack, and the passes' slow case).
    run = b"(" * (limit + 1)
    for _ in range(limit):
        if not brackets or run in brackets:
            return bool(brackets)
        brackets = brackets.replace(b"()", b"")
    return b"(" in brackets
