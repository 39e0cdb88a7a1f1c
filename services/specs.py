"""The job spec as the service takes it: the engine's spec, less what only a local run can use,
plus what only the service needs (the resources a job asks for, which pick its queue).

A local run may name an artifact directory or a dataset path on its own disk; the service
cannot read its clients' disks, so those fields are left out of the OpenAPI document. Sent
anyway, they get a 422 that says what to use instead (services.jobs.check_references).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
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
    """Which images to learn from (a built-in name, an upload, or an archive in the owner's
    object store), and how to split them."""

    model_config = ConfigDict(
        title="DatasetSpec",
        json_schema_extra={
            "examples": [
                {"name": "fashion_mnist", "max_per_class": 500, "seed": 0},
                {"upload_id": "ds_0a1b2c3d4e5f6a7b8c9d", "image_size": 224},
                {"uri": "s3://my-bucket/sets/flowers.tar.gz",
                 "credentials_id": "cred_0a1b2c3d4e5f6a7b8c9d"},
            ]
        },
    )  # fmt: skip

    path: SkipJsonSchema[str | None] = Field(default=None)
    uri: str | None = Field(
        default=None, max_length=2000, examples=["s3://my-bucket/sets/flowers.tar.gz"],
        description="An image-folder archive (zip, tar, tar.gz) in an S3-compatible store, read "
        "with the owner's credential 'credentials_id'; the same rules as an upload apply.",
    )  # fmt: skip
    credentials_id: str | None = Field(
        default=None, max_length=40,
        description="The owner's credential (POST /v1/credentials) that reads 'uri'.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _exactly_one_source(self) -> DatasetSpec:
        given = [bool(self.name), bool(self.upload_id), bool(self.uri)]
        if self.path is None and sum(given) != 1:
            raise ValueError("give exactly one of 'name', 'upload_id' or 'uri'")
        if self.credentials_id is not None and self.uri is None:
            raise ValueError("'credentials_id' goes with a dataset 'uri'")
        return self


class ResourcesSpec(BaseModel):
    """What a worker must have to run the job; the job waits for one that has it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"accelerator": "cuda", "min_memory_gb": 16}]},
    )

    accelerator: Literal["any", "cpu", "cuda"] = Field(
        default="any",
        description="any: the first free worker (the default); cpu or cuda: a worker of that "
        "kind only (each kind has a queue of its own).",
    )
    min_memory_gb: float | None = Field(
        default=None, gt=0, le=100_000,
        description="The device memory the job needs (a GPU's own, or a CPU worker's RAM).",
    )  # fmt: skip


class AutoMethodSpec(BaseModel):
    """Let the service choose: a sweep over method kinds, label mappings and learning rates
    (services.sweeps.auto_spec); the best trial's model is promoted."""

    model_config = ConfigDict(
        extra="forbid", strict=True,
        json_schema_extra={"examples": [{"kind": "auto", "trials": 8, "parallelism": 2}]},
    )  # fmt: skip

    kind: Literal["auto"] = "auto"
    trials: int = Field(default=8, ge=1, le=100)
    parallelism: int = Field(default=2, ge=1, le=16)


class JobSpec(spec.JobSpec):
    """A whole reprogramming job: backbone, dataset, method, hyperparameters and resources."""

    model_config = ConfigDict(title="JobSpec")

    backbone: BackboneSpec
    dataset: DatasetSpec
    # 'auto' never reaches a worker: POST /v1/jobs turns such a job into a sweep.
    method: Annotated[spec.AnyMethodSpec | AutoMethodSpec, Field(discriminator="kind")] = Field(  # type: ignore[assignment]
        default_factory=spec.LinearProbeSpec
    )
    resources: ResourcesSpec | None = None


def parse_stored(data: dict[str, object]) -> JobSpec:
    """A stored job's spec (it was validated when the job was created)."""
    return JobSpec.model_validate(data)


class CategoricalParam(BaseModel):
    """One of these values (numbers, strings, booleans, or whole objects such as a method)."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"type": "categorical", "choices": ["frequency", "blm"]}]},
    )

    type: Literal["categorical"] = "categorical"
    choices: list[Any] = Field(min_length=1, max_length=100)


class FloatParam(BaseModel):
    """A real number in [low, high], sampled on a log scale if asked."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"type": "float", "low": 0.001, "high": 0.3, "log": True}]},
    )

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatParam:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError("needs low < high (and low > 0 on a log scale)")
        return self


class IntParam(BaseModel):
    """A whole number in [low, high], in steps."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"type": "int", "low": 2, "high": 12, "step": 2}]},
    )

    type: Literal["int"] = "int"
    low: int
    high: int
    step: int = Field(default=1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IntParam:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError("needs low < high (and low > 0 on a log scale)")
        return self


SearchParam = Annotated[CategoricalParam | FloatParam | IntParam, Field(discriminator="type")]


class BudgetSpec(BaseModel):
    """How much a sweep may spend: trials in all, trials at once, and wall time."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"trials": 8, "parallelism": 2, "max_seconds": 3600}]},
    )

    trials: int = Field(default=8, ge=1, le=500)
    parallelism: int = Field(default=2, ge=1, le=64)
    max_seconds: int | None = Field(
        default=None, ge=1, le=30 * 86400,
        description="No trial starts after this many seconds; those running finish.",
    )  # fmt: skip


class SweepSpec(BaseModel):
    """A search: trials are jobs made from `base` with values from `space` put in."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "name": "digits search",
                    "base": {
                        "backbone": {"name": "efficientnet_lite0"},
                        "dataset": {"name": "digits", "max_per_class": 40},
                        "method": {"kind": "adversarial_program", "canvas_size": 64},
                        "hyperparameters": {"epochs": 4},
                    },
                    "space": {
                        "hyperparameters.lr": {"type": "float", "low": 0.001, "high": 0.3,
                                               "log": True},
                        "method.label_mapping": {"type": "categorical",
                                                 "choices": ["frequency", "blm", "blm_plus"]},
                    },
                    "budget": {"trials": 8, "parallelism": 2},
                }
            ]
        },
    )  # fmt: skip

    name: str | None = Field(default=None, max_length=200)
    base: JobSpec
    space: dict[Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)*$", max_length=100)],
                SearchParam] = Field(default_factory=dict, max_length=50,
                                     description="Dotted paths into the job spec, each with "
                                     "the values a trial may give it (may be left out when "
                                     "the base's method is 'auto').")  # fmt: skip
    objective: Literal["val_accuracy"] = Field(
        default="val_accuracy",
        description="Maximised, on the validation split (the test split only reports the "
        "promoted model, once).",
    )
    pruner: Literal["median", "successive_halving", "none"] = Field(
        default="median",
        description="Stops trials whose epochs fall behind, from epoch events (median: below "
        "the median of earlier trials at the same epoch, once past a quarter of the epochs).",
    )
    budget: BudgetSpec = BudgetSpec()
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    initial: list[dict[str, Any]] = Field(
        default_factory=list, max_length=50,
        description="Points to try first (e.g. a known good setting), each giving values for "
        "some or all of the space's paths; the sampler fills in the rest.",
    )  # fmt: skip

    @model_validator(mode="after")
    def _initial_in_space(self) -> SweepSpec:
        if not self.space and not isinstance(self.base.method, AutoMethodSpec):
            raise ValueError("give a search 'space' (or method kind 'auto' in 'base' for the "
                             "default one)")  # fmt: skip
        for n, point in enumerate(self.initial):
            for path, value in point.items():
                param = self.space.get(path)
                if param is None:
                    raise ValueError(f"initial[{n}] names '{path}', which the space does not")
                if isinstance(param, CategoricalParam) and value not in param.choices:
                    raise ValueError(f"initial[{n}]: '{path}' must be one of its choices")
                if isinstance(param, FloatParam | IntParam) and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                    or not param.low <= value <= param.high
                ):  # fmt: skip
                    raise ValueError(
                        f"initial[{n}]: '{path}' must be in [{param.low}, {param.high}]"
                    )
        return self
