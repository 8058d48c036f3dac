"""HTML pages for the catalog: variants, endpoints and example sets (list, create, edit, archive)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.accounts.auth import UiAdmin, UiUser
from app.catalog.deps import EndpointsDep, ExampleSetsDep, VariantsDep
from app.catalog.imports import parse_examples_jsonl
from app.catalog.presenters import example_set_out, examples_jsonl, variant_out
from app.catalog.schemas import (
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    ExampleSetIn,
    ExampleSetPatch,
    VariantIn,
    VariantOut,
    VariantPatch,
)
from app.catalog.service import KEY_CLEARED
from app.core.errors import DomainError
from app.core.types import Id
from app.core.web import (
    blank_to_none,
    form_error_page,
    form_values,
    redirect_to,
    render,
)
from app.knowledge.deps import KnowledgeDep
from app.leaderboard.deps import LeaderboardDep
from app.pipelines.base import Strategy
from app.prompts import template_source

router = APIRouter()
VARIANT_FIELDS = (
    "name",
    "strategy",
    "description",
    "endpoint_id",
    "system_prompt",
    "context_template",
    "temperature",
    "top_p",
    "max_tokens",
    "example_set_id",
    "few_shot_k",
    "few_shot_selection",
    "knowledge_base_id",
    "top_k",
    "min_score",
)
ENDPOINT_FIELDS = (
    "name",
    "kind",
    "base_url",
    "model",
    "price_prompt_per_m",
    "price_completion_per_m",
    "timeout_s",
    "max_concurrency",
)


async def _variant_form(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """Variant fields; an unticked checkbox is absent from a form, so MMR is off unless sent."""
    values = blank_to_none(
        await form_values(request, fields), "endpoint_id", "example_set_id", "knowledge_base_id"
    )
    values["use_mmr"] = "use_mmr" in await request.form()
    if values.get("min_score") is None:
        values.pop("min_score", None)
    return values


# --- variants ----------------------------------------------------------------------------------


class VariantChoices:
    """What the variant form offers to pick from, read only when a form is shown."""

    def __init__(self, endpoints: EndpointsDep, example_sets: ExampleSetsDep, knowledge: KnowledgeDep):
        self.endpoints, self.example_sets, self.knowledge = endpoints, example_sets, knowledge

    async def __call__(self) -> dict[str, Any]:
        return {
            "endpoints": await self.endpoints.list(),
            "example_sets": [s for s, _n in await self.example_sets.list()],
            "knowledge_bases": await self.knowledge.active(),
            "strategies": list(Strategy),
            "default_context_template": template_source("rag_user.j2"),
        }


async def variant_choices(
    endpoints: EndpointsDep, example_sets: ExampleSetsDep, knowledge: KnowledgeDep
) -> VariantChoices:
    return VariantChoices(endpoints, example_sets, knowledge)


VariantChoicesDep = Annotated[VariantChoices, Depends(variant_choices)]


def _saved_message(items: list[VariantOut], saved: int | None, was: int | None) -> str | None:
    """After an edit: which version the user now has, and why a new one was made."""
    variant = next((v for v in items if v.id == saved), None)
    if variant is None or was is None:
        return None
    if variant.version != was:
        return (
            f"Saved {variant.name} as version {variant.version}: version {was} stays as it was, "
            "because stored answers point at it."
        )
    return f"Saved {variant.name} (version {variant.version})."


@router.get("/variants", name="variants_page", response_class=HTMLResponse)
async def variants_page(
    request: Request,
    _user: UiUser,
    variants: VariantsDep,
    board: LeaderboardDep,
    saved: Annotated[Id | None, Query()] = None,
    was: Annotated[Id | None, Query()] = None,
) -> HTMLResponse:
    metrics = {m.variant_id: m for m in await board.retrieval()}
    items = [variant_out(v) for v in await variants.list()]
    context = {"variants": items, "metrics": metrics, "message": _saved_message(items, saved, was)}
    return render(request, "pages/variants.html", context)


@router.get("/variants/new", name="new_variant_page", response_class=HTMLResponse)
async def new_variant_page(
    request: Request,
    _user: UiUser,
    choices: VariantChoicesDep,
) -> HTMLResponse:
    values = {
        "strategy": "few_shot",
        "temperature": 0.2,
        "top_p": 1.0,
        "max_tokens": 200,
        "few_shot_k": 3,
        "top_k": 3,
    }
    context = {"values": values, "variant": None} | await choices()
    return render(request, "pages/variant_form.html", context)


@router.post("/variants", name="create_variant_ui", response_model=None)
async def create_variant(
    request: Request,
    _user: UiAdmin,
    variants: VariantsDep,
    choices: VariantChoicesDep,
) -> Response:
    values = await _variant_form(request, VARIANT_FIELDS)
    try:
        await variants.create(VariantIn.model_validate(values))
    except (ValidationError, DomainError) as exc:
        context = {"values": values, "variant": None} | await choices()
        return form_error_page(request, "pages/variant_form.html", exc, context)
    return redirect_to(request, "variants_page")


@router.get("/variants/{variant_id}/edit", name="edit_variant_page", response_class=HTMLResponse)
async def edit_variant_page(
    request: Request,
    variant_id: Id,
    _user: UiUser,
    variants: VariantsDep,
    choices: VariantChoicesDep,
) -> HTMLResponse:
    variant = variant_out(await variants.get(variant_id))
    values = variant.config | {
        "name": variant.name,
        "strategy": variant.strategy,
        "description": variant.description,
    }
    context = {"values": values, "variant": variant} | await choices()
    return render(request, "pages/variant_form.html", context)


@router.post("/variants/{variant_id}", name="update_variant_ui", response_model=None)
async def update_variant(
    request: Request,
    variant_id: Id,
    _user: UiAdmin,
    variants: VariantsDep,
    choices: VariantChoicesDep,
) -> Response:
    before = variant_out(await variants.get(variant_id))
    fields = tuple(f for f in VARIANT_FIELDS if f != "strategy")  # a variant's strategy is fixed
    values = await _variant_form(request, fields)
    try:
        after = variant_out(await variants.update(variant_id, VariantPatch.model_validate(values)))
    except (ValidationError, DomainError) as exc:
        context = {"values": values | {"strategy": before.strategy}, "variant": before}
        context |= await choices()
        return form_error_page(request, "pages/variant_form.html", exc, context)
    url = request.url_for("variants_page").include_query_params(saved=after.id, was=before.version)
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


@router.post("/variants/{variant_id}/archive", name="archive_variant_ui", response_model=None)
async def archive_variant(
    request: Request, variant_id: Id, _user: UiAdmin, variants: VariantsDep
) -> Response:
    await variants.archive(variant_id)
    return redirect_to(request, "variants_page")


# --- endpoints ---------------------------------------------------------------------------------


async def _used_by(variants: VariantsDep, key: str) -> dict[int, list[str]]:
    """Active variant names per referenced id (endpoint or example set), to warn before archiving."""
    used: dict[int, list[str]] = {}
    for variant in (variant_out(v) for v in await variants.list()):
        ref = variant.endpoint["id"] if key == "endpoint_id" else variant.config.get(key)
        if ref is not None:
            used.setdefault(ref, []).append(variant.name)
    return used


@router.get("/endpoints", name="endpoints_page", response_class=HTMLResponse)
async def endpoints_page(
    request: Request,
    _user: UiUser,
    endpoints: EndpointsDep,
    variants: VariantsDep,
    key_cleared: Annotated[Id | None, Query()] = None,
) -> HTMLResponse:
    items = [EndpointOut.model_validate(e) for e in await endpoints.list()]
    cleared = next((e.name for e in items if e.id == key_cleared), None)
    message = f"{cleared}: {KEY_CLEARED}." if cleared else None
    context = {"endpoints": items, "used_by": await _used_by(variants, "endpoint_id"), "message": message}
    return render(request, "pages/endpoints.html", context)


@router.get("/endpoints/new", name="new_endpoint_page", response_class=HTMLResponse)
async def new_endpoint_page(request: Request, _user: UiUser) -> HTMLResponse:
    return render(
        request, "pages/endpoint_form.html", {"values": {"kind": "openai", "timeout_s": 60, "max_concurrency": 4}, "endpoint": None}
    )


@router.post("/endpoints", name="create_endpoint_ui", response_model=None)
async def create_endpoint(request: Request, _user: UiAdmin, endpoints: EndpointsDep) -> Response:
    form = await request.form()
    values = blank_to_none(
        await form_values(request, ENDPOINT_FIELDS), "price_prompt_per_m", "price_completion_per_m"
    )
    try:
        data = EndpointIn.model_validate(
            values
            | {"api_key": str(form.get("api_key", "")) or None, "is_fine_tuned": "is_fine_tuned" in form}
        )
        await endpoints.create(data)
    except (ValidationError, DomainError) as exc:
        # The key the user typed is never echoed back into the page.
        return form_error_page(request, "pages/endpoint_form.html", exc, {"values": values, "endpoint": None})
    return redirect_to(request, "endpoints_page")


@router.get("/endpoints/{endpoint_id}/edit", name="edit_endpoint_page", response_class=HTMLResponse)
async def edit_endpoint_page(
    request: Request, endpoint_id: Id, _user: UiUser, endpoints: EndpointsDep
) -> HTMLResponse:
    endpoint = EndpointOut.model_validate(await endpoints.get(endpoint_id))
    return render(
        request, "pages/endpoint_form.html", {"values": endpoint.model_dump(), "endpoint": endpoint}
    )


@router.post("/endpoints/{endpoint_id}", name="update_endpoint_ui", response_model=None)
async def update_endpoint(
    request: Request, endpoint_id: Id, _user: UiAdmin, endpoints: EndpointsDep
) -> Response:
    form = await request.form()
    values = blank_to_none(
        await form_values(request, ENDPOINT_FIELDS), "price_prompt_per_m", "price_completion_per_m"
    )
    key = str(form.get("api_key", ""))
    # An unticked checkbox is absent from the form: absent means "not a fine-tune".
    patch: dict[str, Any] = dict(values) | {"is_fine_tuned": "is_fine_tuned" in form}
    if form.get("remove_key"):
        patch["api_key"] = ""
    elif key:
        patch["api_key"] = key  # blank = keep the stored key
    try:
        update = await endpoints.update(endpoint_id, EndpointPatch.model_validate(patch))
    except (ValidationError, DomainError) as exc:
        endpoint = EndpointOut.model_validate(await endpoints.get(endpoint_id))
        return form_error_page(
            request, "pages/endpoint_form.html", exc, {"values": values, "endpoint": endpoint}
        )
    if update.key_cleared:
        return redirect_to(request, "endpoints_page", query_params={"key_cleared": endpoint_id})
    return redirect_to(request, "endpoints_page")


@router.post("/endpoints/{endpoint_id}/archive", name="archive_endpoint_ui", response_model=None)
async def archive_endpoint(
    request: Request, endpoint_id: Id, _user: UiAdmin, endpoints: EndpointsDep
) -> Response:
    await endpoints.archive(endpoint_id)
    return redirect_to(request, "endpoints_page")


# --- example sets ------------------------------------------------------------------------------


@router.get("/example-sets", name="example_sets_page", response_class=HTMLResponse)
async def example_sets_page(
    request: Request, _user: UiUser, example_sets: ExampleSetsDep, variants: VariantsDep
) -> HTMLResponse:
    context = {
        "example_sets": await example_sets.list(),
        "used_by": await _used_by(variants, "example_set_id"),
    }
    return render(request, "pages/example_sets.html", context)


@router.get("/example-sets/new", name="new_example_set_page", response_class=HTMLResponse)
async def new_example_set_page(request: Request, _user: UiUser) -> HTMLResponse:
    return render(request, "pages/example_set_form.html", {"values": {}, "example_set": None})


@router.post("/example-sets", name="create_example_set_ui", response_model=None)
async def create_example_set(request: Request, _user: UiAdmin, example_sets: ExampleSetsDep) -> Response:
    values = await form_values(request, ("name", "description", "examples"))
    try:
        examples = parse_examples_jsonl(values.get("examples", ""))
        await example_sets.create(
            ExampleSetIn(
                name=values.get("name", ""), description=values.get("description", ""), examples=examples
            )
        )
    except (ValidationError, DomainError) as exc:
        return form_error_page(
            request, "pages/example_set_form.html", exc, {"values": values, "example_set": None}
        )
    return redirect_to(request, "example_sets_page")


@router.get("/example-sets/{set_id}/edit", name="edit_example_set_page", response_class=HTMLResponse)
async def edit_example_set_page(
    request: Request, set_id: Id, _user: UiUser, example_sets: ExampleSetsDep
) -> HTMLResponse:
    example_set = example_set_out(await example_sets.get(set_id))
    values = {
        "name": example_set.name,
        "description": example_set.description,
        "examples": examples_jsonl(example_set),
    }
    return render(request, "pages/example_set_form.html", {"values": values, "example_set": example_set})


@router.post("/example-sets/{set_id}", name="update_example_set_ui", response_model=None)
async def update_example_set(
    request: Request, set_id: Id, _user: UiAdmin, example_sets: ExampleSetsDep
) -> Response:
    values = await form_values(request, ("name", "description", "examples"))
    try:
        examples = parse_examples_jsonl(values.get("examples", ""))
        await example_sets.update(
            set_id,
            ExampleSetPatch(
                name=values.get("name"), description=values.get("description"), examples=examples
            ),
        )
    except (ValidationError, DomainError) as exc:
        example_set = example_set_out(await example_sets.get(set_id))
        return form_error_page(
            request, "pages/example_set_form.html", exc, {"values": values, "example_set": example_set}
        )
    return redirect_to(request, "example_sets_page")


@router.post("/example-sets/{set_id}/archive", name="archive_example_set_ui", response_model=None)
async def archive_example_set(
    request: Request, set_id: Id, _user: UiAdmin, example_sets: ExampleSetsDep
) -> Response:
    await example_sets.archive(set_id)
    return redirect_to(request, "example_sets_page")
