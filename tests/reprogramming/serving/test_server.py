"""The engine's model server: mixed batches, memory budget, single-flight loads, freed backbones.

Every model is trained here by a real job on real digits, at low resolution.
"""

from __future__ import annotations

import asyncio
import gc
import io
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from skimage import data as photos

from reprogramming.factory import load_model
from reprogramming.images import to_model_input
from reprogramming.job import run_job
from reprogramming.predictor import Predictor
from reprogramming.serving import InvalidImageError, ModelServer, Observer
from reprogramming.serving.units import LinearHead

BACKBONE = {"name": "efficientnet_lite0"}
DIGITS = {"name": "digits", "max_per_class": 20, "test_max_per_class": 5}
FAST = {"epochs": 2, "batch_size": 64}

# Several probes (two input sizes, different label counts), several programs (every operation,
# learned, one-to-one and Bayesian mappings, smaller images on a shared canvas, sample-specific
# masks, a learned input scale), and one finetuned model.
SPECS: dict[str, dict[str, Any]] = {
    "probe48": {"method": {"kind": "linear_probe", "input_size": 48}},
    "probe48_three": {
        "method": {"kind": "linear_probe", "input_size": 48},
        "dataset": {**DIGITS, "classes": [0, 1, 2]},
    },
    "probe32": {"method": {"kind": "linear_probe", "input_size": 32}},
    "program_add": {
        "method": {
            "kind": "adversarial_program",
            "canvas_size": 48,
            "image_size": 32,
            "operation": "add",
            "label_mapping": "learned",
        },
    },
    "program_multiply": {
        "method": {
            "kind": "adversarial_program",
            "canvas_size": 48,
            "image_size": 48,
            "operation": "multiply",
            "label_mapping": "frequency",
        },
    },
    "program_border": {
        "method": {
            "kind": "adversarial_program",
            "canvas_size": 48,
            "image_size": 24,
            "region": "border",
            "operation": "subtract",
            "label_mapping": "random",
        },
        "dataset": {**DIGITS, "classes": [3, 4, 5, 6]},
    },
    # The methods of issue 12: BLM's ω as a head over the source logits; SMM's mask CNN run on
    # its own rows; a learned input scale re-placing its rows; Elsayed's border around the
    # digits at their own 8 × 8 size.
    "program_blm_border": {
        "method": {
            "kind": "adversarial_program",
            "canvas_size": 48,
            "region": "border",
            "label_mapping": "blm",
        },
    },
    "program_smm": {
        "method": {
            "kind": "adversarial_program",
            "canvas_size": 48,
            "image_size": 40,
            "operation": "multiply",
            "prompt": "smm",
            "label_mapping": "blm_plus",
        },
        "dataset": {**DIGITS, "classes": [0, 1, 7]},
    },
    "program_scaled": {
        "method": {
            "kind": "adversarial_program",
            "canvas_size": 48,
            "region": "border",
            "input_scaling": "learned",
            "prompt": "smm",
        },
    },
    "finetune32": {"method": {"kind": "finetune", "layers": "last_block", "input_size": 32}},
}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    """Each spec trained for real; its artifact directory by name."""
    out = {}
    for name, extra in SPECS.items():
        directory = tmp_path_factory.mktemp(name)
        spec = {"backbone": BACKBONE, "dataset": DIGITS, "hyperparameters": FAST, **extra}
        run_job(spec, data_dir=data_dir, output_dir=directory)
        out[name] = directory
    return out


def _photos() -> list[Image.Image]:
    return [Image.fromarray(photos.chelsea()), Image.fromarray(photos.coffee()),
            Image.fromarray(photos.astronaut()), Image.fromarray(photos.camera())]  # fmt: skip


class Counting(Observer):
    def __init__(self) -> None:
        self.batches: list[tuple[int, int]] = []
        self.loads = 0

    def batch(self, *, images: int, models: int, seconds: float) -> None:
        self.batches.append((images, models))

    def load(self, *, seconds: float) -> None:
        self.loads += 1


def _server(artifacts: dict[str, Path], **kwargs: Any) -> ModelServer:
    server = ModelServer(device="cpu", precision="fp32", **kwargs)
    for name, directory in artifacts.items():
        server.add(name, directory)
    return server


def test_a_mixed_batch_gives_each_request_its_model_alone(artifacts: dict[str, Path]) -> None:
    observer = Counting()
    server = _server(artifacts, observer=observer)
    images = _photos()
    items = [(name, images[i % len(images)]) for i, name in enumerate(SPECS)] * 2
    mixed = server.predict_many(items, top_k=10)
    for (name, image), got in zip(items, mixed, strict=True):
        alone = Predictor.from_artifact(artifacts[name], device="cpu", precision="fp32")
        want = alone.predict([image], top_k=10)[0]
        assert [p.label for p in got] == [p.label for p in want], name
        assert [p.score for p in got] == pytest.approx([p.score for p in want], abs=1e-5)
    # Three groups: backbone at 48 (probes + programs), backbone at 32, and the finetuned model.
    sizes = sorted(observer.batches)
    shared48 = [n for n in SPECS if n != "probe32" and n != "finetune32"]
    assert (2 * len(shared48), len(shared48)) in sizes
    assert (2, 1) in sizes and len(sizes) == 3
    stats = server.stats()
    assert stats.backbones == 1 and stats.models == len(SPECS)
    server.close()


def test_concurrent_requests_to_different_models_share_a_batch(
    artifacts: dict[str, Path],
) -> None:
    observer = Counting()
    server = _server(artifacts, observer=observer, max_wait_ms=200)
    names = ["probe48", "probe48_three", "program_add", "program_multiply", "program_border"]
    served = {name: server.load(name) for name in names}
    png = io.BytesIO()
    _photos()[0].save(png, format="PNG")

    async def burst() -> list[torch.Tensor]:
        return await asyncio.gather(
            *(server.classify(served[name], [png.getvalue()]) for name in names * 4)
        )

    results = asyncio.run(burst())
    assert [len(r[0]) for r in results] == [len(served[n].labels) for n in names * 4]
    # 20 requests for 5 models were admitted together: they ran in batches of several models.
    assert sum(images for images, _ in observer.batches) == 20
    assert max(models for _, models in observer.batches) >= 2
    assert len(observer.batches) < 20
    assert served["probe48"].stats.requests == 4
    server.close()


def test_per_model_batching_never_mixes_models(artifacts: dict[str, Path]) -> None:
    observer = Counting()
    server = _server(artifacts, observer=observer, batching="model", max_wait_ms=200)
    names = ["probe48", "program_add"]
    served = {name: server.load(name) for name in names}
    image = _photos()[1]

    async def burst() -> list[torch.Tensor]:
        return await asyncio.gather(*(server.classify(served[name], [image]) for name in names * 3))

    asyncio.run(burst())
    assert all(models == 1 for _, models in observer.batches)
    server.close()


def test_eviction_under_a_small_budget_then_reload_gives_the_same_answers(
    artifacts: dict[str, Path],
) -> None:
    names = ["probe48", "probe48_three", "program_add", "program_border"]
    roomy = _server(artifacts)
    want = roomy.predict_many([(n, _photos()[0]) for n in names], top_k=3)
    backbone_and_one = 0
    for name in names:
        served = roomy.load(name)
        backbone_and_one = max(backbone_and_one, served.nbytes)
    backbone_and_one += roomy.stats().resident_bytes - sum(roomy.load(n).nbytes for n in names)
    roomy.close()

    observer = Counting()
    tight = _server(artifacts, budget_bytes=backbone_and_one + 1, observer=observer)
    for _ in range(2):  # the second round reloads models the first evicted
        got = [tight.predict_many([(n, _photos()[0])], top_k=3)[0] for n in names]
        for a, b in zip(got, want, strict=True):
            assert [p.label for p in a] == [p.label for p in b]
            assert [p.score for p in a] == pytest.approx([p.score for p in b], abs=1e-5)
    stats = tight.stats()
    assert stats.models == 1 and stats.evictions == 2 * len(names) - 1
    assert stats.resident_bytes <= stats.budget_bytes and observer.loads == 2 * len(names)
    tight.close()


def test_concurrent_cold_loads_of_one_model_load_it_once(artifacts: dict[str, Path]) -> None:
    observer = Counting()
    server = _server(artifacts, observer=observer)
    gate = threading.Barrier(8)
    calls = []

    def locate() -> Path:
        calls.append(1)
        return artifacts["program_add"]

    def load() -> Any:
        gate.wait()
        return server.load("program_add", locate)

    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(load())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert observer.loads == 1 and len(calls) == 1
    server.close()


def test_the_backbone_is_freed_after_its_last_model_goes(artifacts: dict[str, Path]) -> None:
    server = _server(artifacts)
    first = server.load("probe48")
    server.load("program_add")
    backbone = weakref.ref(first.backbone)
    assert server.stats().backbones == 1
    del first
    assert server.cache.evict("probe48")
    assert server.stats().backbones == 1  # the program still stands on it
    assert server.cache.evict("program_add")
    assert server.stats().backbones == 0 and server.stats().resident_bytes == 0
    gc.collect()
    assert backbone() is None
    server.close()


def test_a_failed_load_names_the_problem_and_the_next_one_retries(
    artifacts: dict[str, Path], tmp_path: Path
) -> None:
    server = _server({})
    with pytest.raises(Exception, match=r"manifest\.json is missing"):
        server.load("broken", lambda: tmp_path)
    assert server.load("broken", lambda: artifacts["probe32"]).labels == [str(d) for d in range(10)]
    with pytest.raises(InvalidImageError) as caught:
        server.decode(server.load("broken"), [b"not an image", b"\x89PNG"])
    assert caught.value.index == 0
    server.close()


def test_the_new_methods_serve_in_a_mixed_batch_as_each_model_alone(
    artifacts: dict[str, Path],
) -> None:
    observer = Counting()
    server = _server(artifacts, observer=observer)
    names = ["program_blm_border", "program_smm", "program_scaled", "probe48", "program_add"]
    requests = []
    for name in names:
        served = server.load(name)
        requests.append((served, server.decode(served, _photos())))
    mixed = server.probabilities_many(requests)
    assert observer.batches == [(4 * len(names), len(names))]  # one backbone forward for all
    for (served, batch), probs in zip(requests, mixed, strict=True):
        model = load_model(artifacts[served.model_id]).eval()
        with torch.inference_mode():
            alone = model(to_model_input(batch, model.input_size)).softmax(1)
        assert torch.allclose(probs, alone, atol=1e-5), served.model_id

    blm = server.load("program_blm_border")
    assert isinstance(blm.head, LinearHead) and blm.head.over == "source"  # ωᵀ, no bias
    assert blm.head.weight.shape == (10, 1000) and not blm.head.bias.any()
    assert blm.input_size == 8  # the border program took the digits at their own size
    smm, scaled = server.load("program_smm"), server.load("program_scaled")
    assert smm.program is not None and smm.program.masks is not None
    assert scaled.program is not None and scaled.program.image_scale is not None
    assert scaled.input_size == 48  # it scales canvas-sized images itself
    # Each keeps only its own small tensors beside the shared backbone: pattern 3 × 48², ω
    # (1000 × 10), a mask CNN of about 7,000 weights.
    for name in names[:3]:
        assert server.load(name).nbytes < 120_000, name
    server.close()
