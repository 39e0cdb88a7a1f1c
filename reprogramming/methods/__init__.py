"""Methods: how each `method.kind` turns a backbone into a model for the new labels."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from reprogramming.backbones.base import Backbone
from reprogramming.errors import ReprogramError
from reprogramming.methods import label_mapping
from reprogramming.methods.models import (
    FinetuneModel,
    LabelMapping,
    LinearProbeModel,
    ProgramModel,
    ReprogrammedModel,
)
from reprogramming.methods.program import DEFAULT_LEARNED_SCALE, AdversarialProgram
from reprogramming.registry import Registry
from reprogramming.spec import (
    AdversarialProgramSpec,
    AnyMethodSpec,
    FinetuneSpec,
    LabelMappingKind,
    LinearProbeSpec,
    ScratchSpec,
)

__all__ = [
    "BAYESIAN",
    "METHODS",
    "REMAPPED",
    "ProgramModel",
    "ReprogrammedModel",
    "build_model",
    "list_methods",
    "method_spec",
    "resolve_image_size",
]

# Label mappings whose ω is re-estimated by Bayes' rule before every epoch (Cai et al. 2024).
BAYESIAN: tuple[LabelMappingKind, ...] = ("blm", "blm_plus")
# Label mappings the training loop re-chooses from the backbone's predictions.
REMAPPED: tuple[LabelMappingKind, ...] = ("frequency", "iterative", *BAYESIAN)

# A builder takes (spec, backbone, labels, seed): the job's method spec, or the one an artifact's
# recorded config stands for, so jobs and artifact loading build models the same way.
Builder = Callable[[AnyMethodSpec, Backbone, list[str], int], ReprogrammedModel]
METHODS: Registry[Builder] = Registry("method")
_SPECS: dict[str, type[AnyMethodSpec]] = {}

S = TypeVar("S", LinearProbeSpec, AdversarialProgramSpec, FinetuneSpec, ScratchSpec)


def _register(
    spec_type: type[S],
    build: Callable[[S, Backbone, list[str], int], ReprogrammedModel],
    *,
    description: str,
) -> None:
    """Register `build` for the kind of `spec_type`; it is only ever given that spec."""
    kind: str = spec_type.model_fields["kind"].default

    def builder(
        spec: AnyMethodSpec, backbone: Backbone, labels: list[str], seed: int
    ) -> ReprogrammedModel:
        if not isinstance(spec, spec_type):
            raise TypeError(f"'{kind}' builds from a {spec_type.__name__}, not {type(spec)}")
        return build(spec, backbone, labels, seed)

    METHODS.register(kind, description=description)(builder)
    _SPECS[kind] = spec_type


def _linear_probe(
    spec: LinearProbeSpec, backbone: Backbone, labels: list[str], seed: int
) -> ReprogrammedModel:
    return LinearProbeModel(backbone, labels, input_size=spec.input_size or backbone.input_size)


def _adversarial_program(
    spec: AdversarialProgramSpec, backbone: Backbone, labels: list[str], seed: int
) -> ReprogrammedModel:
    canvas = spec.canvas_size or backbone.input_size
    image = spec.image_size
    if image is None and spec.scale:
        image = max(2, round(spec.scale * canvas))
    if image is None:
        if spec.input_scaling == "learned":
            image = round(DEFAULT_LEARNED_SCALE * canvas)
        elif spec.region == "border":
            raise ReprogramError(
                "region 'border' needs the image's size: set 'image_size' or 'scale' "
                "(a job places the dataset's own images at their size when they are smaller "
                "than the canvas)",
                field="method.image_size",
            )
        else:
            image = canvas
    program = AdversarialProgram(
        canvas_size=canvas, image_size=image, region=spec.region, operation=spec.operation,
        prompt=spec.prompt, input_scaling=spec.input_scaling,
    )  # fmt: skip
    mapping = _label_mapping(spec.label_mapping, backbone.num_labels, len(labels), seed=seed)
    options: dict[str, object] = {}
    if spec.label_mapping in BAYESIAN:
        options["blm_laplace"] = spec.blm_laplace
        if spec.label_mapping == "blm_plus":
            options["blm_top_k_ratio"] = spec.blm_top_k_ratio
    return ProgramModel(backbone, labels, program=program, mapping=mapping, mapping_options=options)


def _label_mapping(
    kind: LabelMappingKind, num_source: int, num_target: int, *, seed: int
) -> LabelMapping:
    """The starting label mapping of a kind."""
    if kind == "learned":
        return label_mapping.LearnedMapping(num_source, num_target)
    if kind in BAYESIAN:  # re-estimated before every epoch, first_k-like until then
        return label_mapping.BayesianMapping(num_source, num_target, kind)
    if kind == "random":
        index = label_mapping.random_subset(num_source, num_target, seed=seed)
        return label_mapping.IndexMapping(index, kind)
    # first_k; frequency and iterative start from it and are re-chosen while training
    return label_mapping.IndexMapping(label_mapping.first_k(num_source, num_target), kind)


def resolve_image_size(
    spec: AnyMethodSpec, backbone: Backbone, *, native_size: int
) -> AnyMethodSpec:
    """The method spec with what only the data can tell filled in.

    A border program given neither `image_size` nor `scale` places the dataset's images at their
    own size (`native_size`), as Elsayed et al. place 28×28 MNIST on a 224×224 ImageNet canvas;
    images as large as the canvas leave no border, so that is refused naming both options.
    """
    if not isinstance(spec, AdversarialProgramSpec):
        return spec
    if spec.region != "border" or spec.input_scaling != "fixed":
        return spec
    if spec.image_size is not None or spec.scale is not None:
        return spec
    canvas = spec.canvas_size or backbone.input_size
    if native_size >= canvas:
        raise ReprogramError(
            f"region 'border' needs an image smaller than the canvas, but the dataset's images "
            f"are {native_size}×{native_size} and the canvas is {canvas}×{canvas}: set "
            f"'image_size' (pixels) or 'scale' (a fraction of the canvas)",
            field="method.image_size",
        )
    return spec.model_copy(update={"image_size": native_size})


def _finetune(
    spec: FinetuneSpec | ScratchSpec, backbone: Backbone, labels: list[str], seed: int
) -> ReprogrammedModel:
    layers = spec.layers if isinstance(spec, FinetuneSpec) else "all"
    size = spec.input_size or backbone.input_size
    return FinetuneModel(backbone, labels, input_size=size, layers=layers, method=spec.kind)


_register(
    LinearProbeSpec, _linear_probe, description="Frozen backbone, new dense layer (the thesis)"
)
_register(
    AdversarialProgramSpec,
    _adversarial_program,
    description="Learned input program + label mapping (Elsayed et al.)",
)
_register(FinetuneSpec, _finetune, description="Baseline: train the backbone's weights too")
_register(ScratchSpec, _finetune, description="Baseline: same architecture, random initialisation")


def build_model(
    spec: AnyMethodSpec, backbone: Backbone, labels: list[str], *, seed: int = 0
) -> ReprogrammedModel:
    """The model a method spec builds over `backbone` for `labels`."""
    return METHODS.get(spec.kind).factory(spec, backbone, labels, seed)


def method_spec(kind: str, config: Mapping[str, object]) -> AnyMethodSpec:
    """The method spec an artifact's recorded `config` of a `kind` model stands for."""
    METHODS.get(kind)  # an unknown kind is an UnknownNameError naming the known ones
    spec_type = _SPECS[kind]
    # Taken as recorded, not validated: a model's own values may lie outside what a user may
    # ask for (a probe over a 8-pixel program's input); keys a spec leaves implicit (scratch's
    # 'layers') are dropped.
    fields = {k: v for k, v in config.items() if k in spec_type.model_fields and k != "kind"}
    return spec_type.model_construct(None, **fields, kind=kind)


def list_methods() -> list[dict[str, object]]:
    """Every method kind with its description (methods need nothing downloaded)."""
    return [
        {"name": e.name, "description": e.description, "available_offline": True} for e in METHODS
    ]
