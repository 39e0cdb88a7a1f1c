"""The training loop: epochs of mini-batches, per-epoch metrics, checkpoints, resume, cancel."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypedDict

import torch
import torch.nn.functional as F
from torch import nn

from reprogramming.errors import Cancelled
from reprogramming.runtime import autocast, inference
from reprogramming.spec import Hyperparameters

EpochCallback = Callable[[dict[str, Any]], None]
StopCheck = Callable[[], bool]
StepCallback = Callable[[int, int], None]  # (batches done this epoch, batches per epoch)
CHECKPOINT = "checkpoint.pt"


@dataclass
class Data:
    """Inputs (uint8 images or cached features) and labels of one split, on the host."""

    inputs: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass
class Stage:
    """What the loop trains: a module, how to move a batch onto the device, its extra loss."""

    module: nn.Module
    prepare: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    bf16: bool
    penalty: Callable[[], torch.Tensor] | None = None
    before_epoch: Callable[[int], None] | None = None
    after_epoch: Callable[[], None] | None = None


def make_optimizer(params: list[nn.Parameter], hp: Hyperparameters) -> torch.optim.Optimizer:
    """The optimizer the hyperparameters name."""
    lr = hp.lr if hp.lr is not None else 1e-3
    # On CUDA the fused kernels make a step one launch instead of several per parameter, which
    # matters for a linear probe whose steps are tiny.
    # One fused kernel per step on CUDA; None leaves the choice to torch elsewhere.
    fused = True if params and all(p.is_cuda for p in params) else None
    if hp.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=hp.momentum, weight_decay=hp.weight_decay, fused=fused
        )
    if hp.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=hp.weight_decay, fused=fused)
    return torch.optim.Adam(params, lr=lr, weight_decay=hp.weight_decay, fused=fused)


def _batches(n: int, batch_size: int, order: torch.Tensor | None = None) -> list[torch.Tensor]:
    index = order if order is not None else torch.arange(n)
    return list(index.split(batch_size))


def evaluate(stage: Stage, data: Data, *, batch_size: int) -> dict[str, float | None]:
    """Mean cross-entropy and accuracy of the stage's module on a split (None when it is empty)."""
    if len(data) == 0:
        return {"loss": None, "accuracy": None}
    # Sums stay on the device so that no batch waits for the one before it to finish.
    total_loss = torch.zeros((), device=stage.device)
    correct = torch.zeros((), dtype=torch.int64, device=stage.device)
    with inference(stage.module):
        for index in _batches(len(data), batch_size):
            index = index.to(data.inputs.device)
            x = stage.prepare(data.inputs[index].to(stage.device, non_blocking=True))
            y = data.labels[index.to(data.labels.device)].to(stage.device)
            with autocast(stage.device, stage.bf16):
                logits = stage.module(x)
            total_loss += F.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
    return {"loss": float(total_loss) / len(data), "accuracy": int(correct) / len(data)}


def each_batch(
    stage: Stage,
    inputs: torch.Tensor,
    use: Callable[[torch.Tensor, torch.Tensor], None],
    *,
    batch_size: int,
) -> None:
    """Call `use(rows, outputs)` for every batch of `inputs`: the row indices taken and the
    module's float32 outputs for them, on the device, without autograd (statistics gathered
    there, without holding every output at once)."""
    with inference(stage.module):
        for index in _batches(int(inputs.shape[0]), batch_size):
            x = stage.prepare(inputs[index.to(inputs.device)].to(stage.device, non_blocking=True))
            with autocast(stage.device, stage.bf16):
                outputs = stage.module(x)
            use(index, outputs.float())


def predict_logits(stage: Stage, inputs: torch.Tensor, *, batch_size: int) -> torch.Tensor:
    """The module's float32 outputs for many inputs, batched, on the host."""
    outputs: list[torch.Tensor] = []
    each_batch(stage, inputs, lambda _, out: outputs.append(out.cpu()), batch_size=batch_size)
    return torch.cat(outputs) if outputs else torch.empty(0)


@torch.no_grad()
def recalibrate_batchnorm(stage: Stage, data: Data, *, batch_size: int, limit: int = 2048) -> None:
    """Re-estimate batch-norm running statistics from training images with the current weights.

    Training from scratch (or fine-tuning briefly) moves the weights faster than momentum-averaged
    running statistics follow, so evaluation would use statistics of weights that no longer
    exist. One forward pass in train mode with a cumulative average fixes that.
    """
    norms = [m for m in stage.module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    saved = [(m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
        m.train()
    # A fixed sample across all classes (splits are stored in index order, often class order).
    sample = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:limit]
    for index in _batches(len(sample), batch_size, sample):
        x = stage.prepare(data.inputs[index.to(data.inputs.device)].to(stage.device))
        with autocast(stage.device, stage.bf16):
            stage.module(x)
    for m, (momentum, training) in zip(norms, saved, strict=True):
        m.momentum = momentum
        m.train(training)


def _learned_state(module: nn.Module) -> dict[str, torch.Tensor]:
    getter = getattr(module, "learned_state", None)
    return getter() if callable(getter) else module.state_dict()


def _save_checkpoint(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


class _Partial(TypedDict):
    """How far a checkpoint taken mid-epoch got into its epoch."""

    step: int
    loss_sum: torch.Tensor
    correct: torch.Tensor
    train_s: float


@dataclass
class _Run:
    """A training run in progress: what it trains, its history so far, where it checkpoints."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    start_epoch: int = 0
    elapsed_before: float = 0.0  # seconds spent before this process took the run over
    partial: _Partial | None = None  # where a checkpoint taken mid-epoch left off
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        """Seconds of training so far, earlier processes' included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def save(self, *, epochs_done: int, elapsed: float, partial: _Partial | None) -> None:
        """Checkpoint the run after `epochs_done` epochs (and `partial`'s steps of the next)."""
        assert self.checkpoint is not None
        payload: dict[str, object] = {
            "epoch": epochs_done,
            "model": _learned_state(self.module),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
            "rng": torch.get_rng_state(),
            "elapsed_s": elapsed,
        }
        if partial is not None:
            payload["partial"] = partial
        _save_checkpoint(self.checkpoint, payload)

    def restore(self) -> None:
        """Continue where the checkpoint left off: weights, optimizer, history, RNG, epoch."""
        assert self.checkpoint is not None
        saved = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        self.module.load_state_dict(saved["model"], strict=False)
        self.optimizer.load_state_dict(saved["optimizer"])
        self.history, self.start_epoch = list(saved["history"]), int(saved["epoch"])
        last = self.history[-1]["elapsed_s"] if self.history else 0
        self.elapsed_before = float(saved.get("elapsed_s", last))
        if "rng" in saved:
            torch.set_rng_state(saved["rng"])
        self.partial = saved.get("partial")
        self.started = time.perf_counter()


@dataclass
class _Tally:
    """An epoch's running sums, kept on the device so that no batch waits for the one before."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    done: int  # steps already taken (by an earlier process, for a resumed epoch)
    started: float  # when the epoch started, moved back by a resumed epoch's earlier seconds

    @classmethod
    def start(cls, device: torch.device, resumed: _Partial | None) -> _Tally:
        """Zero sums for a new epoch, or those a checkpoint taken mid-epoch saved."""
        tally = cls(
            loss_sum=torch.zeros((), device=device),
            correct=torch.zeros((), dtype=torch.int64, device=device),
            done=0,
            started=time.perf_counter(),
        )
        if resumed is not None:
            tally.done = int(resumed["step"])
            tally.loss_sum += resumed["loss_sum"].to(device)
            tally.correct += resumed["correct"].to(device)
            tally.started -= float(resumed["train_s"])
        return tally


def fit(
    stage: Stage,
    *,
    train: Data,
    val: Data,
    hp: Hyperparameters,
    on_epoch: EpochCallback | None = None,
    should_stop: StopCheck | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    on_step: StepCallback | None = None,
) -> list[dict[str, Any]]:
    """Train for hp.epochs and return each epoch's metrics; resumes from a checkpoint if asked."""
    params = [p for p in stage.module.parameters() if p.requires_grad]
    checkpoint = checkpoint_dir / CHECKPOINT if checkpoint_dir else None
    run = _Run(stage.module, make_optimizer(params, hp), checkpoint)
    if resume and checkpoint is not None and checkpoint.exists():
        run.restore()

    for epoch in range(run.start_epoch, hp.epochs):
        resumed, run.partial = run.partial, None
        if stage.before_epoch is not None and resumed is None:  # a resumed epoch already had it
            stage.before_epoch(epoch)
        tally, train_s = _train_epoch(
            stage, train, run=run, hp=hp, epoch=epoch, resumed=resumed,
            should_stop=should_stop, on_step=on_step,
        )  # fmt: skip
        if stage.after_epoch is not None:
            stage.after_epoch()
        metrics = _epoch_metrics(stage, tally, train_s, train=train, val=val, hp=hp, epoch=epoch)
        metrics["elapsed_s"] = run.elapsed()
        run.history.append(metrics)
        if run.checkpoint is not None:
            run.save(epochs_done=epoch + 1, elapsed=metrics["elapsed_s"], partial=None)
        if on_epoch is not None:
            on_epoch(metrics)
    return run.history


def _train_epoch(
    stage: Stage,
    train: Data,
    *,
    run: _Run,
    hp: Hyperparameters,
    epoch: int,
    resumed: _Partial | None,
    should_stop: StopCheck | None,
    on_step: StepCallback | None,
) -> tuple[_Tally, float]:
    """One epoch's steps (those a resumed epoch has left); its sums and training seconds."""
    stage.module.train()
    # Each epoch's order depends only on (seed, epoch), so a resumed run sees the same batches.
    generator = torch.Generator().manual_seed(hp.seed * 100_003 + epoch)
    order = torch.randperm(len(train), generator=generator).to(train.inputs.device)
    tally = _Tally.start(stage.device, resumed)
    batches = _batches(len(train), hp.batch_size, order)
    for step, index in enumerate(batches, start=1):
        if step <= tally.done:
            continue
        if should_stop is not None and should_stop():
            _stop(run, tally, epoch=epoch, step=step)
        _train_step(stage, train, index, optimizer=run.optimizer, tally=tally)
        if on_step is not None:
            on_step(step, len(batches))
    return tally, time.perf_counter() - tally.started


def _train_step(
    stage: Stage,
    train: Data,
    index: torch.Tensor,
    *,
    optimizer: torch.optim.Optimizer,
    tally: _Tally,
) -> None:
    """One optimizer step on the batch `index` picks, added to the epoch's sums."""
    x = stage.prepare(train.inputs[index].to(stage.device, non_blocking=True))
    y = train.labels[index.to(train.labels.device)].to(stage.device, non_blocking=True)
    with autocast(stage.device, stage.bf16):
        logits = stage.module(x)
    loss = F.cross_entropy(logits.float(), y)
    total = loss + stage.penalty() if stage.penalty is not None else loss
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    tally.loss_sum += loss.detach() * len(index)
    tally.correct += (logits.detach().argmax(1) == y).sum()


def _stop(run: _Run, tally: _Tally, *, epoch: int, step: int) -> NoReturn:
    """Raise Cancelled before `step`, checkpointing the epoch's steps taken so far if any."""
    saved_at: dict[str, int] = {}
    if run.checkpoint is not None and step > 1:
        # Stopped mid-epoch (a worker shutting down): keep the steps already taken.
        elapsed = run.elapsed()
        partial: _Partial = {
            "step": step - 1,
            "loss_sum": tally.loss_sum.detach().cpu(),
            "correct": tally.correct.cpu(),
            "train_s": time.perf_counter() - tally.started,
        }
        run.save(epochs_done=epoch, elapsed=elapsed, partial=partial)
        saved_at = {"epoch": epoch + 1, "step": step - 1}
    raise Cancelled(f"stopped during epoch {epoch + 1}, after step {step - 1}", **saved_at)


def _epoch_metrics(
    stage: Stage,
    tally: _Tally,
    train_s: float,
    *,
    train: Data,
    val: Data,
    hp: Hyperparameters,
    epoch: int,
) -> dict[str, Any]:
    """A finished epoch's training figures and its validation loss and accuracy."""
    val_metrics = evaluate(stage, val, batch_size=max(hp.batch_size, 256))
    return {
        "epoch": epoch + 1,
        "epochs": hp.epochs,
        "train_loss": float(tally.loss_sum) / len(train),
        "train_accuracy": int(tally.correct) / len(train),
        "val_loss": val_metrics["loss"],
        "val_accuracy": val_metrics["accuracy"],
        "images_per_s": len(train) / train_s if train_s > 0 else float("inf"),
        "epoch_s": time.perf_counter() - tally.started,
    }
