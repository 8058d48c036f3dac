"""What running one output takes: its job (the variant version as a pipeline sees it), and what it cost."""

from __future__ import annotations

from dataclasses import dataclass

from app.catalog.service import endpoint_config
from app.core.secrets import KeyCipher
from app.models import Endpoint, VariantVersion
from app.pipelines.base import ExamplePair, VariantSpec
from app.providers.base import ChatMessage


def cost_usd(endpoint: Endpoint, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """Cost from reported usage and the endpoint's prices per 1M tokens; unknown stays None."""
    if prompt_tokens is None or completion_tokens is None:
        return None
    if endpoint.price_prompt_per_m is None or endpoint.price_completion_per_m is None:
        return None
    return round(
        (prompt_tokens * endpoint.price_prompt_per_m + completion_tokens * endpoint.price_completion_per_m)
        / 1_000_000,
        8,
    )



@dataclass(frozen=True)
class OutputJob:
    """One pending output and everything needed to produce it."""

    output_id: int
    query: str
    spec: VariantSpec
    endpoint: Endpoint
    # The variant's own earlier turns, when the comparison is a turn of a comparison session.
    history: tuple[ChatMessage, ...] = ()


def variant_spec(version: VariantVersion, cipher: KeyCipher) -> VariantSpec:
    """What a pipeline needs of a variant version, its endpoint's key decrypted."""
    examples = tuple(
        ExamplePair(e.input, e.output)
        for e in (version.example_set.examples if version.example_set else [])
    )
    return VariantSpec(
        variant_id=version.variant_id,
        version_id=version.id,
        name=version.variant.name,
        strategy=version.variant.strategy,
        endpoint=endpoint_config(version.endpoint, cipher),
        system_prompt=version.system_prompt,
        context_template=version.context_template,
        temperature=version.temperature,
        top_p=version.top_p,
        max_tokens=version.max_tokens,
        examples=examples,
        few_shot_k=version.few_shot_k,
        few_shot_selection=version.few_shot_selection,
        collection=version.knowledge_base.collection_name if version.knowledge_base else None,
        top_k=version.top_k,
        min_score=version.min_score,
        use_mmr=version.use_mmr,
    )
