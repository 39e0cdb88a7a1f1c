"""What this service can reprogram, with what, and how: backbones, datasets, methods."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter

from api import schemas
from api.deps import OwnerDep, SessionDep, SettingsDep
from api.errors import responses
from db.models import Dataset
from db.repository import OwnedRepository
from services import datasets as dataset_service

router = APIRouter(prefix="/v1", tags=["catalog"], responses=responses(401, 503))


@cache
def _backbones() -> list[schemas.CatalogEntry]:
    from reprogramming.backbones import list_backbones

    return [
        schemas.CatalogEntry(
            name=b.name,
            description=f"from {b.source}",
            available_offline=b.available_offline,
            input_size=b.input_size,
        )
        for b in list_backbones()
    ]


@router.get("/backbones", response_model=schemas.Catalog)
def backbones(owner: OwnerDep) -> schemas.Catalog:
    """Named backbones, each saying whether its pretrained weights are usable offline here."""
    return schemas.Catalog(data=_backbones())


@router.get("/methods", response_model=schemas.Catalog)
def methods(owner: OwnerDep) -> schemas.Catalog:
    """Reprogramming methods (`method.kind`)."""
    from reprogramming.methods import list_methods

    return schemas.Catalog(data=[schemas.CatalogEntry.model_validate(m) for m in list_methods()])


@router.get("/datasets", response_model=schemas.Catalog)
def datasets(owner: OwnerDep, session: SessionDep, settings: SettingsDep) -> schemas.Catalog:
    """Built-in datasets (usable offline or not) and the caller's uploads (use their id)."""
    from reprogramming.data import list_datasets

    builtin = [
        schemas.CatalogEntry.model_validate(d) for d in list_datasets(data_dir=settings.data_dir)
    ]
    uploads, _ = OwnedRepository(session, Dataset, owner_id=owner.id).page(limit=200, cursor=None)
    uploaded = [
        schemas.CatalogEntry(
            name=d.id,
            description=f"upload '{d.name}': {len(d.classes)} classes, {d.num_images} images",
            available_offline=True,
        )
        for d in uploads
    ]
    return schemas.Catalog(data=builtin + uploaded)


@router.get("/datasets/{dataset_id}", response_model=schemas.Dataset, responses=responses(404))
def get_dataset(dataset_id: str, owner: OwnerDep, session: SessionDep) -> schemas.Dataset:
    """One uploaded dataset."""
    return schemas.Dataset.model_validate(
        dataset_service.get(session, owner_id=owner.id, dataset_id=dataset_id)
    )
