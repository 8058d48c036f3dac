"""The garbage collector and a long-running server: what is loaded once is moved out of its way."""

from __future__ import annotations

import gc

_collected = False


def freeze_loaded_objects() -> None:
    """Collect once, then move every object alive now (modules, models, the app itself) into the collector's
    permanent generation. A full collection walks every tracked object: with torch, chromadb and the app
    loaded (about 250,000 objects) each one stopped the event loop for 150-300 ms, a few times a second
    under load — latency spikes that cost an experiment a tenth of its throughput. Call it after loading
    something large that stays loaded; the objects frozen are never freed, so never after per-request work.

    The collection runs at a process's first start only (it takes 170 ms): an app started again in the same
    process (the tests start one per test) only freezes, and its shutdown hands everything back anyway."""
    global _collected
    if not _collected:
        gc.collect()
        _collected = True
    gc.freeze()


def release_frozen_objects() -> None:
    """Hand frozen objects back to the collector (on shutdown): an app built and stopped many times in one
    process, as the tests do, must not keep every copy."""
    gc.unfreeze()
