"""The job spec: the one definition of a reprogramming job shared by the engine, API and worker.

Importing this module must not import torch: the API validates specs without loading the engine.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LabelMappingKind = Literal[
    "first_k", "random", "frequency", "iterative", "learned", "blm", "blm_plus"
]
Operation = Literal["add", "multiply", "subtract"]
Region = Literal["border", "full"]
Prompt = Literal["shared", "smm"]
InputScaling = Literal["fixed", "learned"]


class _Strict(BaseModel):
    # strict: a JSON true is not the integer 1, nor "10" the number 10.
    model_config = ConfigDict(extra="forbid", strict=True)


# Seeds feed torch's 64-bit generators (times a stride); keep them well inside that range.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
ClassIndex = Annotated[int, Field(ge=0, le=100_000)]
MAX_IMAGES = 100_000_000  # per class: more than any dataset holds


class BackboneSpec(_Strict):
    """Which pretrained classifier to reprogram: a registry name, a finished model, or an artifact."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "efficientnet_lite0", "weights": "imagenet"},
                {"model_id": "mdl_9a8b7c6d5e4f3a2b1c0d"},
            ]
        },
    )

    name: str | None = Field(
        default=None,
        description="Registry name: a torchvision model ('resnet18'), 'timm:<name>', "
        "or 'efficientnet_lite0'.",
        examples=["efficientnet_lite0"],
    )
    weights: str = Field(
        default="imagenet",
        description="'imagenet' (the default pretrained weights), 'random', "
        "or a torchvision weights enum name such as 'IMAGENET1K_V2'.",
    )
    model_id: str | None = Field(default=None, description="A model made by an earlier job.")
    artifact: str | None = Field(default=None, description="A local artifact directory.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> BackboneSpec:
        given = [k for k in ("name", "model_id", "artifact") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'name', 'model_id' or 'artifact'")
        return self


class DatasetSpec(_Strict):
    """Which images to learn from, and how to split and subsample them."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "fashion_mnist", "max_per_class": 500, "seed": 0},
                {"upload_id": "ds_0a1b2c3d4e5f6a7b8c9d", "image_size": 224},
            ]
        },
    )

    name: str | None = Field(default=None, examples=["fashion_mnist"])
    upload_id: str | None = Field(default=None, description="A dataset uploaded to the service.")
    path: str | None = Field(
        default=None, description="A local image-folder directory or archive (zip, tar.gz)."
    )
    classes: list[Annotated[str, Field(max_length=200)] | ClassIndex] | None = Field(
        default=None,
        max_length=100_000,
        description="Keep only these classes (names or indices), e.g. [0, 1].",
    )
    max_per_class: int | None = Field(
        default=None, ge=1, le=MAX_IMAGES, description="Cap on training images per class."
    )
    test_max_per_class: int | None = Field(
        default=None, ge=1, le=MAX_IMAGES, description="Cap on test images per class."
    )
    val_fraction: float = Field(
        default=0.1, ge=0.0, lt=1.0, description="Share of the training pool held out."
    )
    test_fraction: float = Field(
        default=0.2,
        gt=0.0,
        lt=1.0,
        description="Share held out for test when the dataset has no official test split.",
    )
    image_size: int = Field(
        default=224,
        ge=8,
        le=1024,
        description="Side of the stored square image for datasets whose images vary in size.",
    )
    seed: Seed = 0

    @model_validator(mode="after")
    def _exactly_one_source(self) -> DatasetSpec:
        given = [k for k in ("name", "upload_id", "path") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'name', 'upload_id' or 'path'")
        return self


class LinearProbeSpec(_Strict):
    """The thesis's method: frozen backbone, a new dense layer on its penultimate features."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "linear_probe", "input_size": 224}]},
    )

    kind: Literal["linear_probe"] = "linear_probe"
    input_size: int | None = Field(
        default=None,
        ge=16,
        le=1024,
        description="Resize images to this side (default: backbone's).",
    )


class AdversarialProgramSpec(_Strict):
    """Elsayed et al.: a learned program around (or over) the image, outputs mapped to new labels."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "adversarial_program", "label_mapping": "learned", "region": "full"},
                {
                    "kind": "adversarial_program",
                    "label_mapping": "first_k",
                    "region": "border",
                    "canvas_size": 224,
                    "l2": 0.01,
                },
                {"kind": "adversarial_program", "label_mapping": "blm_plus", "prompt": "smm"},
                {
                    "kind": "adversarial_program",
                    "region": "border",
                    "input_scaling": "learned",
                    "scale": 0.75,
                },
            ]
        },
    )

    kind: Literal["adversarial_program"] = "adversarial_program"
    label_mapping: LabelMappingKind = Field(
        default="learned",
        description="How the backbone's labels become the new ones: 'first_k' (Elsayed), "
        "'random', 'frequency' (BAR), 'iterative' (ILM-VP), 'learned' (a dense layer), "
        "'blm' / 'blm_plus' (Bayesian-guided, Cai et al. 2024: a probabilistic many-to-many "
        "matrix re-estimated every epoch).",
    )
    operation: Operation = "add"
    region: Region = "full"
    canvas_size: int | None = Field(
        default=None, ge=16, le=1024, description="Side of the canvas (default: backbone's input)."
    )
    image_size: int | None = Field(
        default=None,
        ge=2,
        le=1024,
        description="Side of the new image placed at the canvas centre (default: the whole "
        "canvas; with region 'border', the dataset's own image size when it is smaller than the "
        "canvas). With input_scaling 'learned', the side it starts from.",
    )
    scale: float | None = Field(
        default=None, gt=0.0, le=1.0, description="image_size as a fraction of canvas_size."
    )
    l2: float = Field(default=0.0, ge=0.0, le=1000.0, description="λ of the λ‖W‖² penalty.")
    prompt: Prompt = Field(
        default="shared",
        description="'shared': one program for every image; 'smm': sample-specific "
        "multi-channel masks (Cai et al. 2024), a small CNN's per-image 3-channel mask, "
        "patch-wise interpolated, multiplies the program.",
    )
    input_scaling: InputScaling = Field(
        default="fixed",
        description="'fixed': the image keeps image_size (or scale); 'learned': AutoVP-style "
        "(Tsao et al. 2024), the image's scale inside the canvas is a trained parameter "
        "(differentiable resize) and the program pads around it.",
    )
    blm_laplace: float = Field(
        default=1.0,
        gt=0.0,
        le=1e6,
        description="BLM/BLM+: λ, the Laplace smoothing added to each source label's count.",
    )
    blm_top_k_ratio: float = Field(
        default=0.15,
        gt=0.0,
        le=1.0,
        description="BLM+: each image contributes its K most likely source labels' "
        "probabilities, K = ⌊ρ · new labels⌋ (at least 1), as in Cai et al.'s code.",
    )

    @model_validator(mode="after")
    def _size_or_scale(self) -> AdversarialProgramSpec:
        if self.image_size is not None and self.scale is not None:
            raise ValueError("give 'image_size' or 'scale', not both")
        if self.image_size and self.canvas_size and self.image_size > self.canvas_size:
            raise ValueError(f"image_size {self.image_size} exceeds canvas_size {self.canvas_size}")
        # Without either, a border program places the image at the dataset's own size, which
        # only the engine knows once the data is loaded; what fills the canvas is refused here.
        if self.region == "border" and self.input_scaling == "fixed":
            fills = self.scale == 1.0 or (
                self.image_size is not None and self.image_size == self.canvas_size
            )
            if fills:
                raise ValueError(
                    "region 'border' needs an image smaller than the canvas: set 'image_size' "
                    "below 'canvas_size' or 'scale' below 1"
                )
        return self


class FinetuneSpec(_Strict):
    """Baseline: train the backbone's weights too (all of them, or the last block) with a new head."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "finetune", "layers": "last_block"}]},
    )

    kind: Literal["finetune"] = "finetune"
    layers: Literal["all", "last_block"] = "all"
    input_size: int | None = Field(default=None, ge=16, le=1024)


class ScratchSpec(_Strict):
    """Baseline: the backbone's architecture, randomly initialised, trained on the new task."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "scratch", "input_size": 112}]}
    )

    kind: Literal["scratch"] = "scratch"
    input_size: int | None = Field(default=None, ge=16, le=1024)


AnyMethodSpec = LinearProbeSpec | AdversarialProgramSpec | FinetuneSpec | ScratchSpec
MethodSpec = Annotated[AnyMethodSpec, Field(discriminator="kind")]


class Hyperparameters(_Strict):
    """How to train; the defaults are the thesis's (batch 128, 10 epochs, Adam 1e-3)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"epochs": 10, "batch_size": 128, "optimizer": "adam", "lr": 0.001, "seed": 0}
            ]
        },
    )

    epochs: int = Field(default=10, ge=1, le=1000)
    batch_size: int = Field(default=128, ge=1, le=8192)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float | None = Field(
        default=None,
        gt=0.0,
        le=10.0,
        description="Default: the thesis's 1e-3; 0.01 for adversarial_program, whose program "
        "starts at zero and needs larger steps (see docs/results.md).",
    )
    weight_decay: float = Field(default=0.0, ge=0.0, le=10.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="SGD only.")
    seed: Seed = 0
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="'auto': bf16 autocast on CUDA and for frozen-backbone inference on CPUs "
        "with native bf16; fp32 elsewhere.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"


# Measured on EfficientNet-Lite0 → mnist_5k, 112-px canvas, 3 epochs (bench/program_lr.py):
# lr 1e-3 / 1e-2 / 5e-2 gave 30 / 52 / 53 % (border, first_k) and 84 / 89 / 89 % (full, learned).
# At a 30-epoch plateau (docs/results.md, “The program's learning rate”), 3e-3 and 1e-2 tie on
# test accuracy over six backbone × dataset blocks and 3e-2 falls behind; 1e-2 stays the
# default because it also serves short runs.
DEFAULT_LR = {"adversarial_program": 1e-2}


class JobSpec(_Strict):
    """A whole reprogramming job: backbone, dataset, method and hyperparameters."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "effnet-fashion",
                    "backbone": {"name": "efficientnet_lite0", "weights": "imagenet"},
                    "dataset": {"name": "fashion_mnist", "max_per_class": 500, "seed": 0},
                    "method": {"kind": "linear_probe"},
                    "hyperparameters": {
                        "epochs": 10,
                        "batch_size": 128,
                        "optimizer": "adam",
                        "lr": 0.001,
                        "seed": 0,
                    },
                }
            ]
        },
    )

    name: str | None = Field(default=None, max_length=200)
    backbone: BackboneSpec
    dataset: DatasetSpec
    method: MethodSpec = Field(default_factory=LinearProbeSpec)
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)

    @model_validator(mode="after")
    def _method_defaults(self) -> JobSpec:
        if self.hyperparameters.lr is None:
            self.hyperparameters.lr = DEFAULT_LR.get(self.method.kind, 1e-3)
        return self


def parse_spec(data: dict[str, Any] | str | bytes) -> JobSpec:
    """Validate a job spec given as a dict or JSON text."""
    if isinstance(data, str | bytes):
        return JobSpec.model_validate_json(data)
    return JobSpec.model_validate(data)
