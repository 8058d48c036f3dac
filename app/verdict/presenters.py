"""The verdict as its pages show it (the API answers the evidence dataclasses as they are)."""

from __future__ import annotations

from app.verdict.evidence import VariantInfo, Verdict


def variant_pairs(verdict: Verdict) -> list[tuple[VariantInfo, VariantInfo]]:
    """Every pair of the experiment's variants, in order, for the links to their paired comparison."""
    variants = [v.variant for v in verdict.variants]
    return [(x, y) for i, x in enumerate(variants) for y in variants[i + 1 :]]
