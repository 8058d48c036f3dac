"""What a GGUF file is (`general.type`: "model" or "adapter"), read from its first bytes.

The registry checks every file before handing it to llama.cpp, which crashes the process (not an error) when
a whole model is loaded as a LoRA adapter. gguf's GGUFReader parses every tensor and the 49,152-token vocab
(about 1.7 s a file); this reads key-value pairs only until the one it wants (usually the second)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_MAGIC = b"GGUF"
# GGUF value types: fixed sizes in bytes, 8 = string, 9 = array.
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9


class NotGGUF(ValueError):
    """The file is not a GGUF file this reader understands."""


def _u32(f: BinaryIO) -> int:
    return int(struct.unpack("<I", _exactly(f, 4))[0])


def _u64(f: BinaryIO) -> int:
    return int(struct.unpack("<Q", _exactly(f, 8))[0])


def _exactly(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise NotGGUF("the file ends inside its header")
    return data


def _string(f: BinaryIO) -> str:
    return _exactly(f, _u64(f)).decode("utf-8", errors="replace")


def _skip(f: BinaryIO, value_type: int) -> None:
    if value_type in _FIXED:
        f.seek(_FIXED[value_type], 1)
    elif value_type == _STRING:
        f.seek(_u64(f), 1)
    elif value_type == _ARRAY:
        item_type, count = _u32(f), _u64(f)
        if item_type in _FIXED:
            f.seek(_FIXED[item_type] * count, 1)
        else:
            for _ in range(count):
                _skip(f, item_type)
    else:
        raise NotGGUF(f"unknown value type {value_type}")


def gguf_type(path: Path) -> str:
    """`general.type` of a GGUF v2/v3 file; "model" when the key is absent (older converters omit it)."""
    with path.open("rb") as f:
        if f.read(4) != _MAGIC:
            raise NotGGUF(f"{path.name} is not a GGUF file")
        if _u32(f) < 2:
            raise NotGGUF(f"{path.name} is GGUF version 1")
        _u64(f)  # tensor count
        for _ in range(_u64(f)):
            key, value_type = _string(f), _u32(f)
            if key == "general.type" and value_type == _STRING:
                return _string(f)
            _skip(f, value_type)
    return "model"
