"""Checks a job spec's names and references before the job is queued (422s that list choices)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.errors import ApiError
from db import resources
from db.models import Dataset, Model
from reprogramming.backbones import check_backbone_name
from reprogramming.data import DATASETS
from reprogramming.errors import UnknownNameError
from reprogramming.spec import JobSpec


def check_references(session: Session, *, spec: JobSpec, owner_id: str) -> None:
    """Unknown backbones or datasets, and other owners' models or uploads, are 422s."""
    backbone, dataset = spec.backbone, spec.dataset
    if backbone.name is not None:
        try:
            check_backbone_name(backbone.name)
        except UnknownNameError as exc:
            raise ApiError(422, "unknown_backbone", exc.message, field="backbone.name") from None
    if backbone.artifact is not None:
        raise ApiError(
            422, "invalid_request", "use 'model_id' to build on a model of this service",
            field="backbone.artifact",
        )  # fmt: skip
    if backbone.model_id is not None and (
        resources.get_owned(session, Model, id=backbone.model_id, owner_id=owner_id) is None
    ):
        raise ApiError(
            422, "unknown_model", f"no model '{backbone.model_id}'", field="backbone.model_id"
        )
    if dataset.name is not None and dataset.name not in DATASETS:
        raise ApiError(
            422, "unknown_dataset",
            f"unknown dataset '{dataset.name}'; known: {', '.join(DATASETS.names())} "
            "(or upload one: POST /v1/datasets, then use 'upload_id')",
            field="dataset.name",
        )  # fmt: skip
    if dataset.path is not None:
        raise ApiError(
            422, "invalid_request", "upload the dataset (POST /v1/datasets) and use 'upload_id'",
            field="dataset.path",
        )  # fmt: skip
    if dataset.upload_id is not None and (
        resources.get_owned(session, Dataset, id=dataset.upload_id, owner_id=owner_id) is None
    ):
        raise ApiError(
            422, "unknown_dataset", f"no dataset '{dataset.upload_id}'", field="dataset.upload_id"
        )
