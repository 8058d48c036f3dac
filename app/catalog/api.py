"""REST: endpoints, variants and example sets (create, list, show, edit, archive)."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.accounts.auth import ApiAdmin, ApiUnblinded, ApiUser
from app.catalog.deps import EndpointsDep, ExampleSetsDep, GatewayDep, VariantsDep
from app.catalog.presenters import example_set_out, model_calls_out, variant_out
from app.catalog.schemas import (
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    ExampleSetIn,
    ExampleSetOut,
    ExampleSetPatch,
    ModelCallsOut,
    VariantIn,
    VariantOut,
    VariantPatch,
)
from app.core.api_errors import API_ERRORS, errors
from app.core.types import Id

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.get("/endpoints", response_model=list[EndpointOut], name="api_list_endpoints")
async def list_endpoints(
    _user: ApiUser, service: EndpointsDep, include_archived: bool = False
) -> list[EndpointOut]:
    return [EndpointOut.model_validate(e) for e in await service.list(include_archived=include_archived)]


@router.post("/endpoints", response_model=EndpointOut, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_endpoint(body: EndpointIn, _user: ApiAdmin, service: EndpointsDep) -> EndpointOut:
    return EndpointOut.model_validate(await service.create(body))


@router.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def get_endpoint(endpoint_id: Id, _user: ApiUser, service: EndpointsDep) -> EndpointOut:
    return EndpointOut.model_validate(await service.get(endpoint_id))


@router.patch("/endpoints/{endpoint_id}", response_model=EndpointOut, responses=errors(409))
async def update_endpoint(
    endpoint_id: Id, body: EndpointPatch, _user: ApiAdmin, service: EndpointsDep
) -> EndpointOut:
    """Edit an endpoint. Changing `base_url` removes the stored key unless `api_key` is sent too (`notice`
    says so)."""
    update = await service.update(endpoint_id, body)
    return EndpointOut.model_validate(update.endpoint).model_copy(update={"notice": update.notice})


@router.delete("/endpoints/{endpoint_id}", response_model=EndpointOut)
async def archive_endpoint(endpoint_id: Id, _user: ApiAdmin, service: EndpointsDep) -> EndpointOut:
    return EndpointOut.model_validate(await service.archive(endpoint_id))


@router.get("/model-calls", response_model=list[ModelCallsOut])
async def model_calls(_user: ApiUnblinded, gateway: GatewayDep) -> list[ModelCallsOut]:
    """Per endpoint (base URL and model), what this process's model gateway saw since it started: calls,
    errors (the latest, redacted), and p50/p95 time in the gateway over the latest 200 calls. Admins and
    viewers."""
    return [model_calls_out(s) for s in sorted(gateway.stats.values(), key=lambda s: (s.base_url, s.model))]


@router.get("/variants", response_model=list[VariantOut])
async def list_variants(
    _user: ApiUser, service: VariantsDep, include_archived: bool = False
) -> list[VariantOut]:
    return [variant_out(v) for v in await service.list(include_archived=include_archived)]


@router.post("/variants", response_model=VariantOut, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_variant(body: VariantIn, _user: ApiAdmin, service: VariantsDep) -> VariantOut:
    return variant_out(await service.create(body))


@router.get("/variants/{variant_id}", response_model=VariantOut)
async def get_variant(variant_id: Id, _user: ApiUser, service: VariantsDep) -> VariantOut:
    return variant_out(await service.get(variant_id))


@router.patch("/variants/{variant_id}", response_model=VariantOut, responses=errors(409))
async def update_variant(
    variant_id: Id, body: VariantPatch, _user: ApiAdmin, service: VariantsDep
) -> VariantOut:
    return variant_out(await service.update(variant_id, body))


@router.delete("/variants/{variant_id}", response_model=VariantOut)
async def archive_variant(variant_id: Id, _user: ApiAdmin, service: VariantsDep) -> VariantOut:
    await service.archive(variant_id)
    return variant_out(await service.get(variant_id))


@router.get("/example-sets", response_model=list[ExampleSetOut])
async def list_example_sets(
    _user: ApiUser, service: ExampleSetsDep, include_archived: bool = False
) -> list[ExampleSetOut]:
    return [
        ExampleSetOut(
            id=s.id, name=s.name, description=s.description, example_count=n, archived_at=s.archived_at
        )
        for s, n in await service.list(include_archived=include_archived)
    ]


@router.post("/example-sets", response_model=ExampleSetOut, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_example_set(body: ExampleSetIn, _user: ApiAdmin, service: ExampleSetsDep) -> ExampleSetOut:
    return example_set_out(await service.create(body))


@router.get("/example-sets/{set_id}", response_model=ExampleSetOut)
async def get_example_set(set_id: Id, _user: ApiUser, service: ExampleSetsDep) -> ExampleSetOut:
    return example_set_out(await service.get(set_id))


@router.patch("/example-sets/{set_id}", response_model=ExampleSetOut, responses=errors(409))
async def update_example_set(
    set_id: Id, body: ExampleSetPatch, _user: ApiAdmin, service: ExampleSetsDep
) -> ExampleSetOut:
    return example_set_out(await service.update(set_id, body))


@router.delete("/example-sets/{set_id}", response_model=ExampleSetOut)
async def archive_example_set(set_id: Id, _user: ApiAdmin, service: ExampleSetsDep) -> ExampleSetOut:
    await service.archive(set_id)
    return example_set_out(await service.get(set_id))
