"""Fine-tuning a pruned candidate: cosine schedule, distillation, AMP, per-epoch callback."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.optim import SGD, AdamW, Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR
from torch.utils.data import DataLoader

from pruning.exceptions import DataError, PruningError
from pruning.finetune._data import Data, as_loader, model_device, resolve_device, split_batch
from pruning.finetune._evaluate import evaluate
from pruning.finetune._objective import Objective

__all__ = ["EpochMetrics", "FinetuneResult", "finetune"]


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch of :func:`finetune` did; handed to the callback after the epoch.

    Attributes:
        epoch: 1-based epoch number.
        train_loss: Mean training objective over the epoch's samples (cross-entropy, or
            its mix with the distillation term when a teacher is given).
        train_accuracy: Top-1 accuracy on the training batches, in train mode.
        val_loss: Mean cross-entropy on the validation data, or ``None`` without it.
        val_accuracy: Top-1 validation accuracy in [0, 1], or ``None`` without it.
        lr: Learning rate at the start of the epoch (the schedule decays it per step).
        seconds: Wall time of the epoch, validation included, callback excluded.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float


@dataclass(frozen=True)
class FinetuneResult:
    """The outcome of :func:`finetune`.

    Attributes:
        epochs: The metrics of every epoch run, in order.
        stopped_early: The callback asked to stop before the last planned epoch.
        best_val_accuracy: Highest validation accuracy seen, or ``None`` without val data.
        seconds: Wall time of the whole run.
    """

    epochs: tuple[EpochMetrics, ...]
    stopped_early: bool
    best_val_accuracy: float | None
    seconds: float


@dataclass(frozen=True)
class _Training:
    """Everything the epochs share; built once by :func:`finetune`."""

    model: nn.Module
    loader: DataLoader[Any]
    optimizer: Optimizer
    scheduler: CosineAnnealingLR
    scaler: torch.amp.GradScaler
    objective: Objective
    device: torch.device
    amp: bool
    steps_per_epoch: int


def finetune(
    model: nn.Module,
    train_data: Data,
    *,
    epochs: int,
    lr: float = 0.01,
    optimizer: Literal["sgd", "adamw"] = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    batch_size: int = 128,
    val_data: Data | None = None,
    teacher: nn.Module | None = None,
    temperature: float = 4.0,
    distill_weight: float = 0.5,
    callback: Callable[[EpochMetrics], bool | None] | None = None,
    device: str | torch.device = "cpu",
    amp: bool | None = None,
    seed: int | None = 0,
    max_batches: int | None = None,
) -> FinetuneResult:
    """Fine-tune a classifier IN PLACE with cross-entropy and a cosine learning-rate schedule.

    The model (the caller's candidate) is moved to ``device``, trained, and left there in
    eval mode. The learning rate anneals from ``lr`` to 0 over all steps of all epochs.

    Args:
        model: The classifier to train; its trainable parameters are optimised.
        train_data: Dataset of ``(inputs, targets)`` (shuffled by a generator seeded with
            ``seed``, batches of ``batch_size``) or a ``DataLoader``, used as it is.
        epochs: Planned epochs; 0 returns an empty result.
        lr, momentum, weight_decay: Optimiser settings (``momentum`` is SGD's only).
        optimizer: ``"sgd"`` (with momentum) or ``"adamw"``.
        batch_size: Batch size for datasets (training and validation).
        val_data: Evaluated after every epoch (see :func:`pruning.finetune.evaluate`).
        teacher: Distil from this model (e.g. the unpruned one): the loss becomes
            ``(1 - distill_weight) * CE + distill_weight * T² * KL(teacher_T || student_T)``
            over logits softened by ``temperature``. The teacher runs in eval mode without
            gradients; it is not moved (a copy is used on another device) and its modes
            are restored.
        callback: Called with each epoch's :class:`EpochMetrics`; return True to stop.
            Exceptions it raises propagate (Optuna's ``TrialPruned``, cancellation).
        device: Where training runs.
        amp: Mixed precision (autocast + GradScaler); CUDA only. ``None``: on for CUDA.
        seed: Seeds torch's global RNG (init, dropout) and the shuffle; ``None``: unseeded.
        max_batches: Train on at most this many batches per epoch (cheap proxy runs).

    Raises:
        PruningError: The training loss became non-finite (the step is not applied).
        DataError: The data is empty, has no length, or does not yield pairs.
        ValueError: An option is out of range, naming it.
    """
    _check_options(locals())
    target = resolve_device(device)
    use_amp = _amp_enabled(amp, target)
    model.to(target)
    if epochs == 0:
        model.eval()
        return FinetuneResult(epochs=(), stopped_early=False, best_val_accuracy=None, seconds=0.0)
    if seed is not None:
        torch.manual_seed(seed)
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    loader = as_loader(train_data, batch_size=batch_size, shuffle=True, generator=generator)
    steps = _steps_per_epoch(loader, max_batches)
    opt = _make_optimizer(model, optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay)
    with _frozen(teacher, target) as frozen_teacher:
        training = _Training(
            model=model,
            loader=loader,
            optimizer=opt,
            scheduler=CosineAnnealingLR(opt, T_max=epochs * steps),
            scaler=torch.amp.GradScaler(target.type, enabled=use_amp),
            objective=Objective(frozen_teacher, temperature=temperature, weight=distill_weight),
            device=target,
            amp=use_amp,
            steps_per_epoch=steps,
        )
        try:
            return _run(training, epochs, val_data, batch_size=batch_size, callback=callback)
        finally:
            model.eval()


def _run(
    training: _Training,
    epochs: int,
    val_data: Data | None,
    *,
    batch_size: int,
    callback: Callable[[EpochMetrics], bool | None] | None,
) -> FinetuneResult:
    """The epoch loop: train, validate, report, maybe stop."""
    started = time.perf_counter()
    history: list[EpochMetrics] = []
    stopped_early = False
    for epoch in range(1, epochs + 1):
        epoch_started = time.perf_counter()
        lr = float(training.optimizer.param_groups[0]["lr"])
        train_loss, train_accuracy = _train_epoch(training, epoch)
        val = None
        if val_data is not None:
            val = evaluate(training.model, val_data, batch_size=batch_size, device=training.device)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            val_loss=None if val is None else val.loss,
            val_accuracy=None if val is None else val.accuracy,
            lr=lr,
            seconds=time.perf_counter() - epoch_started,
        )
        history.append(metrics)
        if callback is not None and callback(metrics):
            stopped_early = epoch < epochs
            break
    accuracies = [m.val_accuracy for m in history if m.val_accuracy is not None]
    return FinetuneResult(
        epochs=tuple(history),
        stopped_early=stopped_early,
        best_val_accuracy=max(accuracies) if accuracies else None,
        seconds=time.perf_counter() - started,
    )


def _train_epoch(training: _Training, epoch: int) -> tuple[float, float]:
    """One pass over the training batches; mean loss and top-1 accuracy per sample."""
    training.model.train()
    loss_sum = 0.0
    correct = torch.zeros((), dtype=torch.int64, device=training.device)
    samples = 0
    for step, batch in enumerate(training.loader, start=1):
        if step > training.steps_per_epoch:
            break
        inputs, targets = split_batch(batch)
        inputs, targets = inputs.to(training.device), targets.to(training.device)
        with torch.autocast(device_type=training.device.type, enabled=training.amp):
            logits = training.model(inputs)
            loss = training.objective(logits, inputs, targets)
        # One synchronisation per step buys a precise error: the diverged step is named
        # and never applied, so the weights are those of the last finite step.
        value = float(loss.item())
        if not math.isfinite(value):
            raise PruningError(
                f"training diverged: loss is {value} at epoch {epoch}, step {step}; lower lr"
            )
        training.optimizer.zero_grad(set_to_none=True)
        training.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
        training.scaler.step(training.optimizer)
        training.scaler.update()
        training.scheduler.step()
        loss_sum += value * targets.shape[0]
        correct += (logits.detach().argmax(dim=1) == targets).sum()
        samples += targets.shape[0]
    return loss_sum / samples, int(correct) / samples


def _steps_per_epoch(loader: DataLoader[Any], max_batches: int | None) -> int:
    """Batches per epoch, capped by ``max_batches``; the schedule spans them all."""
    try:
        batches = len(loader)
    except TypeError:
        raise DataError(
            "train_data must have a length (a map-style Dataset or a DataLoader over one); "
            "the cosine schedule needs the number of steps"
        ) from None
    if batches == 0:
        raise DataError("cannot fine-tune on empty train_data: it yields no batch")
    return batches if max_batches is None else min(batches, max_batches)


def _make_optimizer(
    model: nn.Module, kind: str, *, lr: float, momentum: float, weight_decay: float
) -> Optimizer:
    """SGD with momentum or AdamW over the trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad is False everywhere)")
    if kind == "sgd":
        return SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    return AdamW(params, lr=lr, weight_decay=weight_decay)


@contextmanager
def _frozen(teacher: nn.Module | None, device: torch.device) -> Iterator[nn.Module | None]:
    """The teacher on ``device`` in eval mode; the caller's flags are restored afterwards."""
    if teacher is None:
        yield None
        return
    if model_device(teacher) != device:
        teacher = copy.deepcopy(teacher).to(device)
    modes = [(module, module.training) for module in teacher.modules()]
    teacher.eval()
    try:
        yield teacher
    finally:
        for module, training in modes:
            module.training = training


def _amp_enabled(amp: bool | None, device: torch.device) -> bool:
    """Resolve ``amp``: on by default for CUDA, refused elsewhere."""
    if amp is None:
        return device.type == "cuda"
    if amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got device={str(device)!r}")
    return amp


def _check_options(options: dict[str, Any]) -> None:
    """Refuse out-of-range options with a message naming the argument."""
    rules: list[tuple[str, Callable[[Any], bool], str]] = [
        ("epochs", lambda v: v >= 0, "must be non-negative"),
        ("lr", lambda v: v > 0, "must be positive"),
        ("optimizer", lambda v: v in ("sgd", "adamw"), "must be 'sgd' or 'adamw'"),
        ("momentum", lambda v: v >= 0, "must be non-negative"),
        ("weight_decay", lambda v: v >= 0, "must be non-negative"),
        ("batch_size", lambda v: v >= 1, "must be at least 1"),
        ("temperature", lambda v: v > 0, "must be positive"),
        ("distill_weight", lambda v: 0 <= v <= 1, "must be in [0, 1]"),
        ("max_batches", lambda v: v is None or v >= 1, "must be at least 1 or None"),
    ]
    for name, ok, requirement in rules:
        if not ok(options[name]):
            raise ValueError(f"{name} {requirement}, got {options[name]!r}")
