"""Tests of :mod:`pruning.finetune`: training, seeds, callback, distillation, BN, evaluation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pruning.exceptions import DataError, PruningError
from pruning.finetune import EpochMetrics, evaluate, finetune, recalibrate_bn


def _separable(samples: int = 256, *, seed: int = 0) -> TensorDataset:
    """Two Gaussian blobs in 8 dimensions, label = which blob: linearly separable."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (samples,), generator=g)
    x = torch.randn(samples, 8, generator=g) + (y.float() * 2 - 1).unsqueeze(1) * 1.5
    return TensorDataset(x, y)


def _model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))


def test_accuracy_rises_on_separable_data() -> None:
    train, val = _separable(), _separable(128, seed=1)
    model = _model()
    before = evaluate(model, val)
    result = finetune(model, train, epochs=4, lr=0.05, batch_size=32, val_data=val)
    assert result.best_val_accuracy is not None
    assert result.best_val_accuracy > max(before.accuracy, 0.9)
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    assert evaluate(model, val).accuracy > 0.9  # trained in place
    assert not model.training
    assert not result.stopped_early
    assert len(result.epochs) == 4


def test_same_seed_gives_identical_weights() -> None:
    a, b = _model(), _model()
    finetune(a, _separable(), epochs=2, batch_size=32, seed=7)
    finetune(b, _separable(), epochs=2, batch_size=32, seed=7)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_callback_gets_one_based_metrics_and_true_stops() -> None:
    seen: list[EpochMetrics] = []

    def stop_after_second(metrics: EpochMetrics) -> bool:
        seen.append(metrics)
        return metrics.epoch == 2

    val = _separable(64, seed=1)
    result = finetune(
        _model(), _separable(), epochs=5, batch_size=32, val_data=val, callback=stop_after_second
    )
    assert [m.epoch for m in seen] == [1, 2]
    assert result.epochs == tuple(seen)
    assert result.stopped_early
    assert all(m.val_accuracy is not None and m.val_loss is not None for m in seen)
    assert all(m.seconds >= 0 and 0 <= m.train_accuracy <= 1 for m in seen)


def test_callback_exception_propagates() -> None:
    class CancelledError(Exception):
        pass

    def cancel(metrics: EpochMetrics) -> None:
        raise CancelledError(metrics.epoch)

    model = _model()
    with pytest.raises(CancelledError):
        finetune(model, _separable(), epochs=3, batch_size=32, callback=cancel)
    assert not model.training


def test_distillation_runs_with_finite_loss() -> None:
    teacher = _model(seed=1)
    finetune(teacher, _separable(), epochs=2, batch_size=32)
    teacher.train()
    teacher_state = {k: v.clone() for k, v in teacher.state_dict().items()}
    result = finetune(
        _model(),
        _separable(),
        epochs=2,
        batch_size=32,
        teacher=teacher,
        temperature=2.0,
        distill_weight=0.7,
        optimizer="adamw",
        lr=0.01,
    )
    assert all(math.isfinite(m.train_loss) for m in result.epochs)
    # The teacher is used, never trained, and its mode is given back.
    assert teacher.training
    assert all(torch.equal(teacher_state[k], v) for k, v in teacher.state_dict().items())


def test_lr_follows_cosine_schedule() -> None:
    result = finetune(_model(), _separable(), epochs=4, lr=0.1, batch_size=32)
    lrs = [m.lr for m in result.epochs]
    assert lrs[0] == pytest.approx(0.1)
    assert lrs == sorted(lrs, reverse=True)
    assert lrs[-1] < lrs[0]
    # 8 steps per epoch, 32 steps in all: epoch 3 starts at step 16, half-way.
    assert lrs[2] == pytest.approx(0.05)


def test_max_batches_caps_each_epoch() -> None:
    result = finetune(_model(), _separable(), epochs=2, lr=0.1, batch_size=32, max_batches=2)
    # The schedule spans 4 steps; epoch 2 starts half-way down the cosine.
    assert result.epochs[1].lr == pytest.approx(0.05)


def test_nan_loss_raises_pruning_error() -> None:
    x, y = _separable().tensors
    x = x.clone()
    x[40] = float("nan")
    model = _model()
    with pytest.raises(PruningError, match=r"training diverged: loss is nan at epoch 1, step 2"):
        finetune(model, DataLoader(TensorDataset(x, y), batch_size=32), epochs=2)


def test_zero_epochs_and_bad_options() -> None:
    model = _model()
    model.train()
    result = finetune(model, _separable(), epochs=0)
    assert result.epochs == ()
    assert result.best_val_accuracy is None
    assert not model.training
    with pytest.raises(ValueError, match="epochs"):
        finetune(model, _separable(), epochs=-1)
    with pytest.raises(ValueError, match="distill_weight"):
        finetune(model, _separable(), epochs=1, distill_weight=1.5)
    with pytest.raises(ValueError, match="amp"):
        finetune(model, _separable(), epochs=1, amp=True)


def test_recalibrate_bn_matches_data_statistics() -> None:
    linear, bn = nn.Linear(4, 4), nn.BatchNorm1d(4)
    nn.init.eye_(linear.weight)
    nn.init.zeros_(linear.bias)
    # Dropout stays off while recalibrating (as at inference); on, it would inflate the
    # variance BatchNorm sees from 4 to about 33.
    model = nn.Sequential(linear, nn.Dropout(0.5), bn)
    bn.momentum = 0.3
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 4, generator=g) * 2.0 + 5.0
    out = recalibrate_bn(model, TensorDataset(x), batches=16, batch_size=128)
    assert out is model
    assert not model.training
    assert bn.running_mean is not None
    assert bn.running_var is not None
    assert torch.allclose(bn.running_mean, torch.full((4,), 5.0), atol=0.15)
    assert torch.allclose(bn.running_var, torch.full((4,), 4.0), atol=0.4)
    assert bn.momentum == 0.3
    assert bn.num_batches_tracked is not None
    assert int(bn.num_batches_tracked) == 16


def test_recalibrate_bn_without_bn_is_a_safe_no_op() -> None:
    model = nn.Sequential(nn.Linear(4, 2))
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert recalibrate_bn(model, TensorDataset(torch.randn(8, 4))) is model
    assert not model.training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_recalibrate_bn_on_empty_data_keeps_old_statistics() -> None:
    model = _model()
    bn = model[1]
    assert isinstance(bn, nn.BatchNorm1d)
    assert bn.running_mean is not None
    bn.running_mean.fill_(3.0)
    with pytest.raises(DataError):
        recalibrate_bn(model, TensorDataset(torch.empty(0, 8)))
    assert torch.equal(bn.running_mean, torch.full((16,), 3.0))
    assert bn.momentum == 0.1


def test_evaluate_is_exact_on_a_correct_by_construction_model() -> None:
    x = torch.randn(100, 3)
    y = x.argmax(dim=1)
    model = nn.Identity()
    result = evaluate(model, TensorDataset(x, y), batch_size=16)
    assert result.accuracy == 1.0
    assert result.samples == 100
    assert result.loss > 0


def test_evaluate_restores_mode_and_rejects_empty_data() -> None:
    model = _model()
    model.train()
    evaluate(model, _separable(64))
    assert model.training
    with pytest.raises(DataError):
        evaluate(model, TensorDataset(torch.empty(0, 8), torch.empty(0, dtype=torch.long)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_amp_finetune_with_teacher_on_cpu() -> None:
    model, teacher = _model(), _model(seed=1)
    result = finetune(model, _separable(), epochs=2, batch_size=32, device="cuda", teacher=teacher)
    assert all(p.is_cuda for p in model.parameters())
    assert all(not p.is_cuda for p in teacher.parameters())
    assert all(math.isfinite(m.train_loss) for m in result.epochs)
