"""The dataset service for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.accounts.auth import Reader
from app.core.deps import SessionDep
from app.datasets.service import DatasetService


async def get_dataset_service(session: SessionDep, reader: Reader) -> DatasetService:
    return DatasetService(session, reader)


DatasetsDep = Annotated[DatasetService, Depends(get_dataset_service)]
