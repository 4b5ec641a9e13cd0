"""The training objective: cross-entropy, optionally mixed with knowledge distillation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["Objective"]


class Objective:
    """``CE(student, y)``, or ``(1 - w) * CE + w * T² * KL(teacher_T || student_T)``.

    The KL term compares logits softened by the temperature ``T``; the ``T²`` factor keeps
    its gradients on the scale of the cross-entropy's (Hinton et al., 2015), so ``w``
    means the same at every temperature.
    """

    def __init__(self, teacher: nn.Module | None, *, temperature: float, weight: float) -> None:
        self.teacher = teacher
        self.temperature = temperature
        self.weight = weight

    def __call__(
        self, logits: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """The loss of one batch; ``inputs`` feed the teacher, never the student again."""
        # float32 for the losses: under autocast the logits may be float16.
        ce = F.cross_entropy(logits.float(), targets)
        if self.teacher is None or self.weight == 0:
            return ce
        with torch.no_grad():
            teacher_logits = self.teacher(inputs).float()
        t = self.temperature
        kd = F.kl_div(
            F.log_softmax(logits.float() / t, dim=1),
            F.log_softmax(teacher_logits / t, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        return (1 - self.weight) * ce + self.weight * (t * t) * kd
