"""HTML pages for the catalog: variants, endpoints and example sets (list, create, edit, archive)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.deps import (
    CsrfChecked,
    EndpointsDep,
    ExampleSetsDep,
    JudgementsDep,
    KnowledgeDep,
    UiUser,
    VariantsDep,
)
from app.errors import DomainError, Invalid
from app.presenters import example_set_out, variant_out
from app.routes.ui_support import blank_to_none, error_status, form_errors, render
from app.schemas import (
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    ExampleIn,
    ExampleSetIn,
    ExampleSetOut,
    ExampleSetPatch,
    VariantIn,
    VariantPatch,
)

router = APIRouter()
VARIANT_FIELDS = (
    "name",
    "strategy",
    "description",
    "endpoint_id",
    "system_prompt",
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
)


def _redirect(request: Request, name: str, **params: Any) -> RedirectResponse:
    return RedirectResponse(request.url_for(name, **params), status_code=status.HTTP_303_SEE_OTHER)


async def _form(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    form = await request.form()
    return {f: str(form[f]) for f in fields if f in form}


async def _variant_form(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """Variant fields; an unticked checkbox is absent from a form, so MMR is off unless sent."""
    values = blank_to_none(await _form(request, fields), "endpoint_id", "example_set_id", "knowledge_base_id")
    values["use_mmr"] = "use_mmr" in await request.form()
    if values.get("min_score") is None:
        values.pop("min_score", None)
    return values


# --- variants ----------------------------------------------------------------------------------


async def _variant_choices(
    endpoints: EndpointsDep, example_sets: ExampleSetsDep, knowledge: KnowledgeDep
) -> dict[str, Any]:
    return {
        "endpoints": await endpoints.list(),
        "example_sets": [s for s, _n in await example_sets.list()],
        "knowledge_bases": await knowledge.active(),
        "strategies": ["few_shot", "rag", "fine_tuned", "rag_fine_tuned"],
    }


@router.get("/variants", name="variants_page", response_class=HTMLResponse)
async def variants_page(
    request: Request, _user: UiUser, variants: VariantsDep, judgements: JudgementsDep
) -> HTMLResponse:
    metrics = {m.variant_id: m for m in await judgements.metrics()}
    context = {"variants": [variant_out(v) for v in await variants.list()], "metrics": metrics}
    return render(request, "pages/variants.html", context)


@router.get("/variants/new", name="new_variant_page", response_class=HTMLResponse)
async def new_variant_page(
    request: Request,
    _user: UiUser,
    endpoints: EndpointsDep,
    example_sets: ExampleSetsDep,
    knowledge: KnowledgeDep,
) -> HTMLResponse:
    values = {
        "strategy": "few_shot",
        "temperature": 0.2,
        "top_p": 1.0,
        "max_tokens": 200,
        "few_shot_k": 3,
        "top_k": 3,
    }
    context = {"values": values, "variant": None} | await _variant_choices(endpoints, example_sets, knowledge)
    return render(request, "pages/variant_form.html", context)


@router.post("/variants", name="create_variant_ui", response_model=None)
async def create_variant(
    request: Request,
    _user: UiUser,
    _csrf: CsrfChecked,
    variants: VariantsDep,
    endpoints: EndpointsDep,
    example_sets: ExampleSetsDep,
    knowledge: KnowledgeDep,
) -> Response:
    values = await _variant_form(request, VARIANT_FIELDS)
    try:
        await variants.create(VariantIn.model_validate(values))
    except (ValidationError, DomainError) as exc:
        context = {"values": values, "variant": None, "errors": form_errors(exc)}
        context |= await _variant_choices(endpoints, example_sets, knowledge)
        return render(request, "pages/variant_form.html", context, status_code=error_status(exc))
    return _redirect(request, "variants_page")


@router.get("/variants/{variant_id}/edit", name="edit_variant_page", response_class=HTMLResponse)
async def edit_variant_page(
    request: Request,
    variant_id: int,
    _user: UiUser,
    variants: VariantsDep,
    endpoints: EndpointsDep,
    example_sets: ExampleSetsDep,
    knowledge: KnowledgeDep,
) -> HTMLResponse:
    variant = variant_out(await variants.get(variant_id))
    values = variant.config | {
        "name": variant.name,
        "strategy": variant.strategy,
        "description": variant.description,
    }
    context = {"values": values, "variant": variant} | await _variant_choices(
        endpoints, example_sets, knowledge
    )
    return render(request, "pages/variant_form.html", context)


@router.post("/variants/{variant_id}", name="update_variant_ui", response_model=None)
async def update_variant(
    request: Request,
    variant_id: int,
    _user: UiUser,
    _csrf: CsrfChecked,
    variants: VariantsDep,
    endpoints: EndpointsDep,
    example_sets: ExampleSetsDep,
    knowledge: KnowledgeDep,
) -> Response:
    before = variant_out(await variants.get(variant_id))
    fields = tuple(f for f in VARIANT_FIELDS if f != "strategy")  # a variant's strategy is fixed
    values = await _variant_form(request, fields)
    try:
        after = variant_out(await variants.update(variant_id, VariantPatch.model_validate(values)))
    except (ValidationError, DomainError) as exc:
        context = {
            "values": values | {"strategy": before.strategy},
            "variant": before,
            "errors": form_errors(exc),
        }
        context |= await _variant_choices(endpoints, example_sets, knowledge)
        return render(request, "pages/variant_form.html", context, status_code=error_status(exc))
    if after.version != before.version:
        message = f"Saved as version {after.version}: version {before.version} stays as it was, because outputs use it."
    else:
        message = f"Saved (version {after.version})."
    return render(
        request,
        "pages/variants.html",
        {"variants": [variant_out(v) for v in await variants.list()], "message": message},
    )


@router.post("/variants/{variant_id}/archive", name="archive_variant_ui", response_model=None)
async def archive_variant(
    request: Request, variant_id: int, _user: UiUser, _csrf: CsrfChecked, variants: VariantsDep
) -> Response:
    await variants.archive(variant_id)
    return _redirect(request, "variants_page")


# --- endpoints ---------------------------------------------------------------------------------


@router.get("/endpoints", name="endpoints_page", response_class=HTMLResponse)
async def endpoints_page(request: Request, _user: UiUser, endpoints: EndpointsDep) -> HTMLResponse:
    items = [EndpointOut.model_validate(e) for e in await endpoints.list()]
    return render(request, "pages/endpoints.html", {"endpoints": items})


@router.get("/endpoints/new", name="new_endpoint_page", response_class=HTMLResponse)
async def new_endpoint_page(request: Request, _user: UiUser) -> HTMLResponse:
    return render(
        request, "pages/endpoint_form.html", {"values": {"kind": "openai", "timeout_s": 60}, "endpoint": None}
    )


@router.post("/endpoints", name="create_endpoint_ui", response_model=None)
async def create_endpoint(
    request: Request, _user: UiUser, _csrf: CsrfChecked, endpoints: EndpointsDep
) -> Response:
    form = await request.form()
    values = blank_to_none(
        await _form(request, ENDPOINT_FIELDS), "price_prompt_per_m", "price_completion_per_m"
    )
    try:
        data = EndpointIn.model_validate(values | {"api_key": str(form.get("api_key", "")) or None})
        await endpoints.create(data)
    except (ValidationError, DomainError) as exc:
        # The key the user typed is never echoed back into the page.
        context = {"values": values, "endpoint": None, "errors": form_errors(exc)}
        return render(request, "pages/endpoint_form.html", context, status_code=error_status(exc))
    return _redirect(request, "endpoints_page")


@router.get("/endpoints/{endpoint_id}/edit", name="edit_endpoint_page", response_class=HTMLResponse)
async def edit_endpoint_page(
    request: Request, endpoint_id: int, _user: UiUser, endpoints: EndpointsDep
) -> HTMLResponse:
    endpoint = EndpointOut.model_validate(await endpoints.get(endpoint_id))
    return render(
        request, "pages/endpoint_form.html", {"values": endpoint.model_dump(), "endpoint": endpoint}
    )


@router.post("/endpoints/{endpoint_id}", name="update_endpoint_ui", response_model=None)
async def update_endpoint(
    request: Request, endpoint_id: int, _user: UiUser, _csrf: CsrfChecked, endpoints: EndpointsDep
) -> Response:
    form = await request.form()
    values = blank_to_none(
        await _form(request, ENDPOINT_FIELDS), "price_prompt_per_m", "price_completion_per_m"
    )
    key = str(form.get("api_key", ""))
    patch: dict[str, Any] = dict(values)
    if form.get("remove_key"):
        patch["api_key"] = ""
    elif key:
        patch["api_key"] = key  # blank = keep the stored key
    try:
        await endpoints.update(endpoint_id, EndpointPatch.model_validate(patch))
    except (ValidationError, DomainError) as exc:
        endpoint = EndpointOut.model_validate(await endpoints.get(endpoint_id))
        context = {"values": values, "endpoint": endpoint, "errors": form_errors(exc)}
        return render(request, "pages/endpoint_form.html", context, status_code=error_status(exc))
    return _redirect(request, "endpoints_page")


@router.post("/endpoints/{endpoint_id}/archive", name="archive_endpoint_ui", response_model=None)
async def archive_endpoint(
    request: Request, endpoint_id: int, _user: UiUser, _csrf: CsrfChecked, endpoints: EndpointsDep
) -> Response:
    await endpoints.archive(endpoint_id)
    return _redirect(request, "endpoints_page")


# --- example sets ------------------------------------------------------------------------------


def parse_examples_jsonl(text: str) -> list[ExampleIn]:
    """One {"input", "output"} object per line; errors name the line."""
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(ExampleIn.model_validate(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise Invalid(f"line {number}: not valid JSON ({exc.msg})") from exc
        except ValidationError as exc:
            raise DomainError(f'line {number}: needs non-empty "input" and "output" strings') from exc
    return examples


def examples_jsonl(example_set: ExampleSetOut | None) -> str:
    if example_set is None or not example_set.examples:
        return ""
    return "\n".join(
        json.dumps({"input": e.input, "output": e.output}, ensure_ascii=False) for e in example_set.examples
    )


@router.get("/example-sets", name="example_sets_page", response_class=HTMLResponse)
async def example_sets_page(request: Request, _user: UiUser, example_sets: ExampleSetsDep) -> HTMLResponse:
    return render(request, "pages/example_sets.html", {"example_sets": await example_sets.list()})


@router.get("/example-sets/new", name="new_example_set_page", response_class=HTMLResponse)
async def new_example_set_page(request: Request, _user: UiUser) -> HTMLResponse:
    return render(request, "pages/example_set_form.html", {"values": {}, "example_set": None})


@router.post("/example-sets", name="create_example_set_ui", response_model=None)
async def create_example_set(
    request: Request, _user: UiUser, _csrf: CsrfChecked, example_sets: ExampleSetsDep
) -> Response:
    values = await _form(request, ("name", "description", "examples"))
    try:
        examples = parse_examples_jsonl(values.get("examples", ""))
        await example_sets.create(
            ExampleSetIn(
                name=values.get("name", ""), description=values.get("description", ""), examples=examples
            )
        )
    except (ValidationError, DomainError) as exc:
        context = {"values": values, "example_set": None, "errors": form_errors(exc)}
        return render(request, "pages/example_set_form.html", context, status_code=error_status(exc))
    return _redirect(request, "example_sets_page")


@router.get("/example-sets/{set_id}/edit", name="edit_example_set_page", response_class=HTMLResponse)
async def edit_example_set_page(
    request: Request, set_id: int, _user: UiUser, example_sets: ExampleSetsDep
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
    request: Request, set_id: int, _user: UiUser, _csrf: CsrfChecked, example_sets: ExampleSetsDep
) -> Response:
    values = await _form(request, ("name", "description", "examples"))
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
        context = {"values": values, "example_set": example_set, "errors": form_errors(exc)}
        return render(request, "pages/example_set_form.html", context, status_code=error_status(exc))
    return _redirect(request, "example_sets_page")


@router.post("/example-sets/{set_id}/archive", name="archive_example_set_ui", response_model=None)
async def archive_example_set(
    request: Request, set_id: int, _user: UiUser, _csrf: CsrfChecked, example_sets: ExampleSetsDep
) -> Response:
    await example_sets.archive(set_id)
    return _redirect(request, "example_sets_page")
