"""Format rules: is a rule usable, and does an answer follow it.

A regex passes if it is found anywhere in the stripped answer, with MULTILINE on, so ^...$ demands one whole
line and \\A...\\Z the whole answer; it gets 0.5 s per answer. A JSON Schema validates the answer parsed as JSON
(a ```json fence around it is allowed); a $ref is never fetched.

A JSON Schema is refused when it cannot be compiled, nests deeper than `MAX_JSON_DEPTH` (as text, or as a chain
of schemas applied one inside another), or refers to itself without end: a $ref cycle that comes back to a
schema without stepping into the answer (through properties, items and the like) would apply that schema to
the same value for ever. A tree type that recurses through `properties` ends with the data, and is accepted.
Rules saved before these checks are checked the same way when an answer is scored, and a schema that still
recurses too deeply for one answer gives "cannot be checked", never a RecursionError.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

import referencing
import referencing.exceptions
import referencing.jsonschema
import regex
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.validators import extend, validator_for
from jsonschema_specifications import REGISTRY as SPECIFICATIONS

from app.core.nesting import MAX_JSON_DEPTH, TOO_DEEP, too_deep

if TYPE_CHECKING:
    from referencing._core import Resolver

FORMAT_KINDS: Final = ("regex", "json_schema")
# A user's pattern can backtrack for ever ("(a|aa)+$"); no answer is worth more than this.
FORMAT_TIMEOUT_SECONDS: Final = 0.5
NO_RULE: Final = "the dataset defines no format rule"
TIMED_OUT: Final = f"the format rule took longer than {FORMAT_TIMEOUT_SECONDS:g} s on this answer"
TOO_RECURSIVE: Final = "the format rule recurses too deeply to check this answer"

# (value, reason): a score, or None with the reason it could not be scored.
Outcome = tuple[float | None, str]

_FENCE_RE = regex.compile(r"\A```(?:json)?[ \t]*\n?(?P<body>.*?)\n?[ \t]*```\Z", flags=regex.DOTALL | regex.I)

# Keywords that apply their schemas to the same value (a cycle through only these never ends) ...
_IN_PLACE_ONE: tuple[str, ...] = ("not", "if", "then", "else", "extends")
_IN_PLACE_MANY: tuple[str, ...] = ("allOf", "anyOf", "oneOf", "extends", "type", "disallow")
_IN_PLACE_MAP: tuple[str, ...] = ("dependentSchemas", "dependencies")
_REFS: tuple[str, ...] = ("$ref", "$dynamicRef", "$recursiveRef")
# ... and keywords that apply them to a part of it (a property, an item, a key): recursion ends with the data.
_INTO_ONE: tuple[str, ...] = (
    "items",
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_INTO_MANY: tuple[str, ...] = ("items", "prefixItems")
_INTO_MAP: tuple[str, ...] = ("properties", "patternProperties")

TOO_MANY_INSIDE: Final = (
    f"it applies more than {MAX_JSON_DEPTH} schemas one inside another to one value (through $ref, allOf, ...)"
)
# A schema reached from its parent: (schema, resolver for its $refs, where it is, for messages).
_Node = tuple[Any, "Resolver[Any]", str]


def _json_problem(error: ValueError) -> str:
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at line {error.lineno}, column {error.colno}"
    return str(error)


def _pointer(label: str, *parts: object) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/".join((label, *escaped))


def _specification(validator: Any) -> referencing.Specification[Any]:
    dialect = validator.ID_OF(validator.META_SCHEMA) or "urn:unknown-dialect"
    return referencing.jsonschema.specification_with(dialect, default=referencing.Specification.OPAQUE)


def _children(node: _Node, validator: Any) -> tuple[list[_Node], list[_Node]]:
    """The schemas this one applies to the same value, and those it applies to parts of the value."""
    schema, resolver, label = node
    spec = _specification(validator)
    known = validator.VALIDATORS
    in_place: list[_Node] = []
    inside: list[_Node] = []

    def keyed(keyword: str, value: Any, into: list[_Node], *parts: object) -> None:
        if isinstance(value, dict | bool):
            # As the validator does: a subschema with its own $id moves the base its $refs resolve against.
            sub = resolver.in_subresource(spec.create_resource(value)) if isinstance(value, dict) else resolver
            into.append((value, sub, _pointer(label, keyword, *parts)))

    for keyword, value in schema.items():
        applied = keyword in known or (keyword in ("then", "else") and "if" in known)
        if not applied:
            continue
        if keyword in _REFS and isinstance(value, str):
            target = "#" if keyword == "$recursiveRef" else value
            resolved = resolver.lookup(target)
            in_place.append((resolved.contents, resolved.resolver, value))
        for names, into in ((_IN_PLACE_ONE, in_place), (_INTO_ONE, inside)):
            if keyword in names:
                keyed(keyword, value, into)
        for names, into in ((_IN_PLACE_MANY, in_place), (_INTO_MANY, inside)):
            if keyword in names and isinstance(value, list):
                for index, item in enumerate(value):
                    keyed(keyword, item, into, index)
        for names, into in ((_IN_PLACE_MAP, in_place), (_INTO_MAP, inside)):
            if keyword in names and isinstance(value, dict):
                for key, item in value.items():
                    keyed(keyword, item, into, key)
    return in_place, inside


def _recursion_problem(schema: Any, validator: Any) -> str | None:
    """Why validating with this schema could recurse without end (or too deep), or None. A loop, not
    recursion, so the check itself cannot overflow."""
    resolver = SPECIFICATIONS.combine(referencing.Registry()).resolver_with_root(
        _specification(validator).create_resource(schema)
    )
    done: dict[int, int] = {}  # id -> the longest chain of schemas applied to one value from it
    pending: list[_Node] = [(schema, resolver, "#")]
    while pending:
        start = pending.pop()
        if id(start[0]) in done or not isinstance(start[0], dict):
            continue
        in_place, inside = _children(start, validator)
        pending.extend(inside)
        path: list[_Node] = [start]
        frames: list[tuple[list[_Node], Iterator[_Node]]] = [(in_place, iter(in_place))]
        while frames:
            children, remaining = frames[-1]
            child = next(remaining, None)
            if child is None:
                frames.pop()
                node = path.pop()
                done[id(node[0])] = 1 + max((done.get(id(c[0]), 0) for c in children), default=0)
                continue
            contents = child[0]
            if not isinstance(contents, dict | bool):
                return f"{child[2]!r} is not a schema (it points at {json.dumps(contents)[:40]})"
            on_path = [id(n[0]) for n in path]
            if id(contents) in on_path:
                loop = [n[2] for n in path[on_path.index(id(contents)) :]] + [child[2]]
                return (
                    f"it refers to itself without end ({' -> '.join(loop)}): a schema that leads back to "
                    "itself must first step into the answer, through properties, items or the like"
                )
            if id(contents) in done or isinstance(contents, bool):
                continue
            if len(path) >= MAX_JSON_DEPTH:
                return TOO_MANY_INSIDE
            in_place, inside = _children(child, validator)
            pending.extend(inside)
            path.append(child)
            frames.append((in_place, iter(in_place)))
    return TOO_MANY_INSIDE if max(done.values(), default=0) > MAX_JSON_DEPTH else None


@lru_cache(maxsize=64)
def schema_problem(rule: str) -> str | None:
    """None if the JSON Schema text can be used as a format rule, else what is wrong with it."""
    if too_deep(rule):
        return f"the JSON Schema is {TOO_DEEP}"
    try:
        schema = json.loads(rule)
    except ValueError as error:
        return f"the JSON Schema is not valid JSON: {_json_problem(error)}"
    if not isinstance(schema, dict | bool):
        return "a JSON Schema must be a JSON object (or true/false)"
    if isinstance(schema, dict) and "$schema" in schema:
        dialect = schema["$schema"]
        if not isinstance(dialect, str) or validator_for(schema, default=None) is None:
            return f"unknown $schema {dialect!r}; leave it out to use draft 2020-12"
    validator = validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as error:
        return f"not a valid JSON Schema: {error.message}"
    try:
        problem = _recursion_problem(schema, validator)
    except (referencing.exceptions.Unresolvable, ValueError) as unresolvable:
        # ValueError: a $ref that is not even a URI ("http://[").
        return f"the format rule refers to a schema that cannot be loaded: {unresolvable}"
    return None if problem is None else f"the JSON Schema cannot be used: {problem}"


def check_format_rule(kind: str, rule: str) -> str | None:
    """None if the format rule can be used, else what is wrong with it in plain words."""
    if not kind:
        return None
    if kind not in FORMAT_KINDS:
        return f"unknown kind of format rule {kind!r}; use regex or json_schema"
    if not rule.strip():
        return "the format rule is empty"
    if kind == "regex":
        try:
            regex.compile(rule, flags=regex.MULTILINE)
        except regex.error as error:
            return f"not a valid regular expression: {error}"
        return None
    return schema_problem(rule)


def _timed_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not regex.search(
        pattern, instance, timeout=FORMAT_TIMEOUT_SECONDS
    ):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _timed_pattern_properties(
    validator: Any, properties: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if regex.search(pattern, key, timeout=FORMAT_TIMEOUT_SECONDS):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def regex_compliance(answer: str, rule: str) -> Outcome:
    """1.0 if the pattern is found in the stripped answer, else 0.0; None if it cannot be run."""
    try:
        found = regex.search(rule, answer.strip(), flags=regex.MULTILINE, timeout=FORMAT_TIMEOUT_SECONDS)
    except regex.error as error:
        return None, f"the format rule is not a valid regular expression: {error}"
    except TimeoutError:
        return None, TIMED_OUT
    return (1.0, "") if found else (0.0, "the answer does not match the format rule")


def schema_compliance(answer: str, rule: str) -> Outcome:
    """1.0 if the answer, parsed as JSON, validates against the schema, else 0.0 with the first failure."""
    problem = schema_problem(rule)
    if problem:
        return None, problem
    schema = json.loads(rule)
    text = answer.strip()
    fence = _FENCE_RE.match(text)
    if fence:
        text = fence.group("body").strip()
    try:
        instance = json.loads(text)
    except ValueError as error:
        return 0.0, f"not JSON: {_json_problem(error)}"
    except RecursionError:
        return 0.0, f"the answer's JSON is {TOO_DEEP}"
    # Validation recurses once per level or more: an answer nested this deep fails the rule outright.
    if too_deep(text):
        return 0.0, f"the answer's JSON is {TOO_DEEP}"
    # Python's `re` has no timeout, so "pattern" keywords run through `regex`; and a $ref is never fetched
    # from the network (the default registry would).
    checked = extend(
        validator_for(schema, default=Draft202012Validator),
        {"pattern": _timed_pattern, "patternProperties": _timed_pattern_properties},
    )
    try:
        failure = best_match(checked(schema, registry=referencing.Registry()).iter_errors(instance))
    except TimeoutError:
        return None, TIMED_OUT
    except RecursionError:
        return None, TOO_RECURSIVE
    except referencing.exceptions.Unresolvable as unresolvable:
        return None, f"the format rule refers to a schema that cannot be loaded: {unresolvable}"
    except regex.error as bad_pattern:
        return None, f"the format rule has an invalid pattern: {bad_pattern}"
    if failure is None:
        return 1.0, ""
    # The message quotes the offending value, which can be the whole answer.
    message = failure.message if len(failure.message) <= 200 else failure.message[:199] + "\u2026"
    where = f" (at {failure.json_path})" if failure.path else ""
    return 0.0, f"{message}{where}"


def compliance(answer: str, kind: str, rule: str) -> Outcome:
    """1.0 if the answer follows the format rule (regex or JSON Schema), else 0.0; None if there is none."""
    if not kind or not rule.strip():
        return None, NO_RULE
    if kind == "regex":
        return regex_compliance(answer, rule)
    if kind == "json_schema":
        return schema_compliance(answer, rule)
    return None, f"unknown kind of format rule {kind!r}"
