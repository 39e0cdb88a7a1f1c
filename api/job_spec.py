"""The job spec as the service takes it: the engine's spec without what only a local run can use.

A local run may name an artifact directory or a dataset path on its own disk; the service
cannot read its clients' disks, so those fields are left out of the OpenAPI document. Sent
anyway, they get a 422 that says what to use instead (services.jobs.check_references).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from reprogramming import spec


class BackboneSpec(spec.BackboneSpec):
    """Which pretrained classifier to reprogram: a registry name, or a model of this service."""

    model_config = ConfigDict(title="BackboneSpec")

    artifact: SkipJsonSchema[str | None] = Field(default=None)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> BackboneSpec:
        if self.artifact is None and bool(self.name) == bool(self.model_id):
            raise ValueError("give exactly one of 'name' or 'model_id'")
        return self


class DatasetSpec(spec.DatasetSpec):
    """Which images to learn from (a built-in name or an upload), and how to split them."""

    model_config = ConfigDict(title="DatasetSpec")

    path: SkipJsonSchema[str | None] = Field(default=None)

    @model_validator(mode="after")
    def _exactly_one_source(self) -> DatasetSpec:
        if self.path is None and bool(self.name) == bool(self.upload_id):
            raise ValueError("give exactly one of 'name' or 'upload_id'")
        return self


class JobSpec(spec.JobSpec):
    """A whole reprogramming job: backbone, dataset, method and hyperparameters."""

    model_config = ConfigDict(title="JobSpec")

    backbone: BackboneSpec
    dataset: DatasetSpec
