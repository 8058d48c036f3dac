"""The catalog's services for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.catalog.service import EndpointService, ExampleSetService, VariantService
from app.core.deps import SessionDep, app_state
from app.providers.gateway import ModelGateway


async def get_endpoint_service(session: SessionDep, request: Request) -> EndpointService:
    return EndpointService(session, app_state(request).cipher, allow_private=app_state(request).settings.allow_private_endpoints)


async def get_variant_service(session: SessionDep, request: Request) -> VariantService:
    return VariantService(session, app_state(request).templates)


async def get_example_set_service(session: SessionDep) -> ExampleSetService:
    return ExampleSetService(session)


EndpointsDep = Annotated[EndpointService, Depends(get_endpoint_service)]


VariantsDep = Annotated[VariantService, Depends(get_variant_service)]


ExampleSetsDep = Annotated[ExampleSetService, Depends(get_example_set_service)]


async def get_gateway(request: Request) -> ModelGateway:
    gateway: ModelGateway = app_state(request).gateway
    return gateway


GatewayDep = Annotated[ModelGateway, Depends(get_gateway)]
