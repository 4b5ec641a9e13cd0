"""Recover a pruned model's accuracy: fine-tuning, BatchNorm recalibration, evaluation.

:func:`finetune` trains a candidate in place (cosine schedule, optional distillation from
the unpruned model, AMP on CUDA, seeded) and reports every epoch to a callback, which is
how the search reports to Optuna and how cancellation stops a running trial.
:func:`recalibrate_bn` is the cheap adaptive-BatchNorm step of the proxy score, and
:func:`evaluate` is the one top-1 accuracy used everywhere.
"""

from __future__ import annotations

from pruning.finetune._batchnorm import recalibrate_bn
from pruning.finetune._evaluate import Evaluation, evaluate
from pruning.finetune._finetune import EpochMetrics, FinetuneResult, finetune

__all__ = [
    "EpochMetrics",
    "Evaluation",
    "FinetuneResult",
    "evaluate",
    "finetune",
    "recalibrate_bn",
]
