"""The one error shape, `{"detail": ...}`, and the 4xx statuses the OpenAPI schema documents."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every 4xx: a sentence, or (422 on malformed input) one entry per problem."""

    detail: str | list[ValidationIssue]


WHY = {
    400: "The request body could not be read",
    401: "No valid bearer token",
    403: "Your role may not do this (or, for a blind rater, not yet)",
    404: "No such row, or one you may not see",
    409: "Conflicts with what is stored (a duplicate name, a row in use, work still running)",
    413: "The request body is too large",
    415: "A file of a type that cannot be read",
    422: "Invalid input: the detail says which field and why",
    503: "Not ready: the database or Chroma does not answer (the detail says which)",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these statuses, all in the one error shape."""
    return {code: {"model": ErrorOut, "description": WHY[code]} for code in codes}


# What every /api/v1 operation can answer: a bad body, no token, the wrong role, invalid input.
API_ERRORS = errors(400, 401, 403, 422)
ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/ErrorOut"}


def document_not_found(schema: dict[str, Any]) -> dict[str, Any]:
    """Every operation with a path parameter answers 404 for an id that names nothing: say so once here
    rather than on each route."""
    for path, operations in schema.get("paths", {}).items():
        if "{" not in path:
            continue
        for operation in operations.values():
            operation.setdefault("responses", {}).setdefault(
                "404",
                {"description": WHY[404], "content": {"application/json": {"schema": ERROR_SCHEMA_REF}}},
            )
    return schema


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its `$defs` written in place, for an `openapi_extra` request body (whose
    refs FastAPI does not rewrite)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                return resolve(defs[node["$ref"].removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return dict(resolve(schema))
