"""The blind rule, in one place: a rater learns nothing about a comparison's variants or its other ratings
until they have rated it (or asked the question themselves). Admins and viewers see everything."""

from __future__ import annotations

from app.core.auth import Principal


def blind_to(principal: Principal, *, created_by: str, has_rated: bool) -> bool:
    """Whether `principal` must not yet see which variant wrote what in a comparison, nor its ratings."""
    return principal.role == "rater" and created_by != principal.name and not has_rated
