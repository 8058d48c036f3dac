"""A template worker process: renders user-written templates in a sandbox, one JSON request per line.

Run as `python -m app.prompts.worker` by app.prompts.bounded, never imported by the app: it needs only
jinja2, so it starts in a fraction of a second and a runaway template can be killed with its process.
"""

from __future__ import annotations

import json
import math
import resource
import sys
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

READY = b'"ready"\n'
MAX_RENDERED = 200_000
# Deep enough for any layout (a render uses ~30 frames, a macro level 4), shallow enough that a macro calling
# itself fails in microseconds, long before the C stack is at risk.
RECURSION_LIMIT = 400
# The budget is enforced by the app killing this process; these catch what it cannot see coming (a
# `"x" * 10**10` fills memory in one step) or a render left running after the app itself died.
MEMORY_LIMIT = 768 * 1024 * 1024
CPU_GRACE_S = 2

# No attribute access to internals, no imports; values arrive as fresh JSON for every render, so what a
# template changes (`contexts.clear()`) is its own copy and gone with the request.
_sandbox = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


@lru_cache(maxsize=32)
def _compiled(text: str) -> Template:
    # Compiling costs a millisecond or more; the same variant's template renders for every RAG answer.
    return _sandbox.from_string(text)


def render_sandboxed(text: str, values: dict[str, Any]) -> str:
    """Render `text` with `values` in the sandbox; raises ValueError with a reason a user can act on."""
    parts: list[str] = []
    size = 0
    try:
        # Streamed, so a template that writes megabytes is stopped at the cap, not after it built them.
        for part in _compiled(text).generate(**values):
            size += len(part)
            if size > MAX_RENDERED:
                raise ValueError(f"the template renders more than {MAX_RENDERED:,} characters")
            parts.append(part)
    except TemplateSyntaxError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.message}") from None
    except RecursionError:
        raise ValueError(
            "the template nests too deeply (e.g. a macro that calls itself without end)"
        ) from None
    except MemoryError:
        raise ValueError("the template needs too much memory") from None
    except Exception as exc:  # whatever a template raises is the template's problem, reported to its author
        raise ValueError(str(exc) or type(exc).__name__) from None
    rendered = "".join(parts).strip()
    try:
        rendered.encode("utf-8")
    except UnicodeEncodeError:
        # e.g. "\ud800" in a string literal: the prompt could be neither sent nor stored.
        raise ValueError("the template renders text that is not valid Unicode") from None
    return rendered


def _limit_cpu(budget_s: float) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(used.ru_utime + used.ru_stime + budget_s) + CPU_GRACE_S
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(
        resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard)
    )


def serve(budget_s: float) -> None:
    """Answer requests from stdin until it closes (the app went away or retired this worker)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a worker stopped for its CPU time leaves no core file
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > MEMORY_LIMIT:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, hard))
    sys.setrecursionlimit(RECURSION_LIMIT)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(READY)
    stdout.flush()
    for line in stdin:
        request = json.loads(line)
        _limit_cpu(budget_s)
        try:
            reply: dict[str, str] = {"text": render_sandboxed(request["template"], request["values"])}
        except ValueError as exc:
            reply = {"error": str(exc)}
        stdout.write(json.dumps(reply).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__":
    serve(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
