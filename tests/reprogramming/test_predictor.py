import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data as photos

from reprogramming.errors import InvalidInputError
from reprogramming.job import run_job
from reprogramming.predictor import Predictor


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("digits-probe")
    run_job(
        {
            "backbone": {"name": "efficientnet_lite0"},
            "dataset": {"name": "digits", "max_per_class": 30},
            "method": {"kind": "linear_probe", "input_size": 48},
            "hyperparameters": {"epochs": 5, "batch_size": 32},
        },
        data_dir=data_dir,
        output_dir=out,
    )
    return out


def test_every_image_form_gives_the_same_answer(digits_model: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_artifact(digits_model)
    assert predictor.labels == [str(d) for d in range(10)] and predictor.channels == 1
    rgb = photos.chelsea()
    pil = Image.fromarray(rgb)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    path = tmp_path / "cat.png"
    path.write_bytes(buffer.getvalue())
    forms = [pil, buffer.getvalue(), path, str(path), rgb, torch.from_numpy(rgb).permute(2, 0, 1)]
    results = predictor.predict(forms, top_k=3)
    assert len(results) == len(forms)
    first = [(p.label, round(p.score, 4)) for p in results[0]]
    for other in results[1:]:
        assert [(p.label, round(p.score, 4)) for p in other] == first


def test_modes_and_sizes(digits_model: Path) -> None:
    predictor = Predictor.from_artifact(digits_model)
    images = [
        Image.new("RGBA", (300, 120), (255, 0, 0, 128)),
        Image.new("P", (7, 9)),
        np.random.default_rng(0).random((50, 40)),  # float grayscale in [0, 1]
        np.zeros((20, 20, 1), dtype=np.uint8),
    ]
    results = predictor.predict(images, top_k=20)
    assert all(len(r) == 10 for r in results)  # top_k is capped at the number of labels
    for r in results:
        assert sum(p.score for p in r) == pytest.approx(1.0, abs=1e-4)
        assert [p.score for p in r] == sorted((p.score for p in r), reverse=True)


def test_predictor_reads_real_digits(digits_model: Path) -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    predictor = Predictor.from_artifact(digits_model)
    picks = range(0, 1797, 37)
    results = predictor.predict([bunch.images[i] / 16.0 for i in picks], top_k=1)
    correct = sum(r[0].label == str(bunch.target[i]) for r, i in zip(results, picks, strict=True))
    assert correct / len(picks) > 0.35  # chance is 0.1; this small probe tests about 0.5


def test_corrupt_and_oversized_images_are_refused(digits_model: Path) -> None:
    predictor = Predictor.from_artifact(digits_model)
    with pytest.raises(InvalidInputError, match="not a readable image"):
        predictor.predict([b"\x89PNG\r\n\x1a\nthis is not really a png"])
    huge = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(huge, format="PNG")
    with pytest.raises(InvalidInputError, match="pixel limit"):
        predictor.predict([huge.getvalue()])
    assert predictor.predict([]) == []
