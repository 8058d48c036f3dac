"""Variants and example sets as the API and pages show them."""

from __future__ import annotations

import json

from app.catalog.schemas import ExampleOut, ExampleSetOut, ModelCallsOut, VariantOut
from app.catalog.service import current_version, stand_in_notice, version_config
from app.models import ExampleSet, Variant
from app.providers.gateway import EndpointStats


def variant_out(variant: Variant) -> VariantOut:
    version = current_version(variant)
    endpoint = version.endpoint
    return VariantOut(
        id=variant.id,
        name=variant.name,
        strategy=variant.strategy,
        description=variant.description,
        version=version.version,
        version_id=version.id,
        config_hash=version.config_hash,
        config=version_config(version),
        endpoint={"id": endpoint.id, "name": endpoint.name, "kind": endpoint.kind, "model": endpoint.model},
        notice=stand_in_notice(variant),
        archived_at=variant.archived_at,
    )


def example_set_out(example_set: ExampleSet) -> ExampleSetOut:
    return ExampleSetOut(
        id=example_set.id,
        name=example_set.name,
        description=example_set.description,
        example_count=len(example_set.examples),
        archived_at=example_set.archived_at,
        examples=[ExampleOut.model_validate(e) for e in example_set.examples],
    )


def examples_jsonl(example_set: ExampleSetOut | None) -> str:
    """The examples as the JSONL the form edits."""
    if example_set is None or not example_set.examples:
        return ""
    return "\n".join(
        json.dumps({"input": e.input, "output": e.output}, ensure_ascii=False) for e in example_set.examples
    )


def model_calls_out(stats: EndpointStats) -> ModelCallsOut:
    return ModelCallsOut(
        base_url=stats.base_url,
        model=stats.model,
        calls=stats.calls,
        errors=stats.errors,
        p50_ms=stats.percentile_ms(50),
        p95_ms=stats.percentile_ms(95),
        last_error=stats.last_error,
    )
