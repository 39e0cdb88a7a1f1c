"""`reprogram train`, `predict` and `export`: the engine on this machine, no server."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the engine's local commands."""
    train = sub.add_parser("train", help="run a job spec locally and write its artifact")
    train.add_argument("spec", type=Path, help="job spec JSON file ('-' reads standard input)")
    train.add_argument("--output", "-o", type=Path, required=True, help="artifact directory")
    train.add_argument(
        "--data-dir",
        type=Path,
        help="caches and downloads (default: $REPROGRAM_DATA_DIR or ~/.cache/reprogram)",
    )
    train.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    train.add_argument("--offline", action="store_true", help="never download datasets")
    train.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    train.add_argument("--json", action="store_true", help="print final metrics as JSON")
    train.set_defaults(handler=train_command)

    predict = sub.add_parser("predict", help="top-k labels of images with a local artifact")
    predict.add_argument("artifact", type=Path, help="artifact directory")
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--top-k", "-k", type=int, default=5)
    predict.add_argument("--json", action="store_true", help="print JSON")
    predict.set_defaults(handler=predict_command)

    export = sub.add_parser(
        "export", help="write a local artifact as one ONNX or TorchScript file (labels inside)"
    )
    export.add_argument("artifact", type=Path, help="artifact directory")
    export.add_argument("--format", "-f", choices=["onnx", "torchscript"], default="onnx")
    export.add_argument(
        "--output", "-o", type=Path, help="file to write (default: model.onnx / model.pt in it)"
    )
    export.set_defaults(handler=export_command)


def _read_spec(path: Path) -> Any:
    from pydantic import ValidationError

    from reprogramming.spec import parse_spec

    text = sys.stdin.read() if str(path) == "-" else path.read_text()
    try:
        return parse_spec(text)
    except ValidationError as exc:
        lines = [f"  {'.'.join(map(str, e['loc'])) or '(spec)'}: {e['msg']}" for e in exc.errors()]
        raise SystemExit("invalid job spec:\n" + "\n".join(lines)) from None


def default_data_dir() -> Path:
    """Where local runs keep caches and downloads: $REPROGRAM_DATA_DIR, or ~/.cache/reprogram."""
    return Path(os.environ.get("REPROGRAM_DATA_DIR") or Path.home() / ".cache" / "reprogram")


class _Progress:
    """A training run on the terminal: a progress bar (on a terminal only) and a line per epoch."""

    def __init__(self, *, epochs: int, quiet: bool) -> None:
        self.epochs = epochs
        self.quiet = quiet
        # A bar only on a terminal: in a file it would be hundreds of redraws, and the epoch
        # lines already say everything.
        self.live = not quiet and sys.stderr.isatty()
        self.bar: Any = None

    def step(self, done: int, total: int) -> None:
        """One batch done (of `total` per epoch)."""
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=self.epochs * total, unit="batch", dynamic_ncols=True)
        self.bar.update(1)

    def write(self, message: str) -> None:
        """A line on stderr, above the bar when there is one."""
        (self.bar.write if self.bar is not None else print)(message, file=sys.stderr)

    def epoch(self, metrics: dict[str, Any]) -> None:
        """An epoch's line: train and val loss and accuracy, images/s."""
        val = (
            f"val loss {metrics['val_loss']:.4f} acc {metrics['val_accuracy']:.4f}"
            if metrics["val_accuracy"] is not None
            else "no val split"
        )
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{metrics['train_loss']:.3f}")
        if not self.quiet:
            self.write(
                f"epoch {metrics['epoch']}/{self.epochs}  train loss {metrics['train_loss']:.4f} "
                f"acc {metrics['train_accuracy']:.4f}  {val}  {metrics['images_per_s']:.0f} img/s"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train_command(args: argparse.Namespace) -> int:
    """Run a spec with a progress bar; exit 0 on success."""
    from reprogramming.errors import ReprogramError
    from reprogramming.job import run_job

    spec = _read_spec(args.spec)
    progress = _Progress(epochs=spec.hyperparameters.epochs, quiet=args.quiet)
    try:
        result = run_job(
            spec,
            output_dir=args.output,
            data_dir=args.data_dir or default_data_dir(),
            on_epoch=progress.epoch,
            on_step=progress.step if progress.live else None,
            on_log=None if args.quiet else progress.write,
            checkpoint_dir=args.output / "checkpoint",
            resume=args.resume,
            download=not args.offline,
        )
    except ReprogramError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        progress.close()
    shutil.rmtree(args.output / "checkpoint", ignore_errors=True)
    if args.json:
        print(json.dumps(result.metrics, indent=2))
    else:
        print(
            f"test accuracy {result.metrics['test_accuracy']:.4f} "
            f"(loss {result.metrics['test_loss']:.4f}); artifact in {args.output}"
        )
    return 0


def predict_command(args: argparse.Namespace) -> int:
    """Print top-k labels for each image."""
    from reprogramming.errors import ReprogramError
    from reprogramming.predictor import Predictor

    try:
        predictor = Predictor.from_artifact(args.artifact)
        results = predictor.predict([p for p in args.images], top_k=args.top_k)
    except ReprogramError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if args.json:
        payload = [
            {"image": str(path), "top_k": [{"label": p.label, "score": p.score} for p in preds]}
            for path, preds in zip(args.images, results, strict=True)
        ]
        print(json.dumps({"predictions": payload}, indent=2))
        return 0
    for path, preds in zip(args.images, results, strict=True):
        print(path)
        for p in preds:
            print(f"  {p.score:7.2%}  {p.label}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Write the artifact as one portable file; print where."""
    from reprogramming.errors import ReprogramError
    from reprogramming.export import SUFFIX, export_model

    output = args.output or args.artifact / f"model{SUFFIX[args.format]}"
    try:
        export_model(args.artifact, output, format=args.format)
    except ReprogramError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"{args.format} model written to {output}")
    return 0
