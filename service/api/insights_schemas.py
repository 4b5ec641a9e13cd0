"""Response models of the insights routes (/v1/jobs/{id}/points, /candidates/{number},
/history, /importance, /sensitivity): what the job's web page plots."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from search import IMPORTANCE_EVALUATOR
from service.api.schemas import CandidateOut
from service.models import Candidate, CandidateKind

__all__ = [
    "BudgetOut",
    "CandidateDetailOut",
    "HistoryOut",
    "HistoryPointOut",
    "ImportanceOut",
    "LayerOut",
    "Objective",
    "ParamImportanceOut",
    "PointOut",
    "PointsOut",
    "ReferenceOut",
    "SensitivityGroupOut",
    "SensitivityOut",
]

Objective = Literal["accuracy", "macs", "params", "latency"]


class ReferenceOut(BaseModel):
    """Figures of the unpruned model (None: not measured)."""

    params: int | None = None
    macs: int | None = None
    latency_ms: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None

    @classmethod
    def of(cls, reference: Mapping[str, Any] | None) -> ReferenceOut | None:
        if reference is None:
            return None
        return cls(**{name: reference.get(name) for name in cls.model_fields})


class BudgetOut(BaseModel):
    """The job's limits in absolute units (fractions of the unpruned model already applied;
    counts rounded down). None: no such limit, or a fraction of a reference figure not
    known yet (the job has not been prepared)."""

    max_params: int | None = None
    max_macs: int | None = None
    max_latency_ms: float | None = None


class PointOut(BaseModel):
    """One candidate as a point to plot."""

    number: int
    kind: CandidateKind
    state: str
    feasible: bool
    pareto: bool
    params: int | None
    macs: int | None
    latency_ms: float | None
    score: float | None = Field(
        description="the score of its last stage, as on the leaderboard: validation accuracy "
        "for finals, search-split accuracy for rungs and screening (see fidelity)"
    )
    accuracy: float | None
    proxy_score: float | None
    rung_score: float | None = None
    fidelity: str = Field(default="screen", description="screen, rung-1 ... rung-k, final")


class PointsOut(BaseModel):
    job_id: str
    objective: Objective = Field(
        description="what the search optimises: 'accuracy' alone, or the cost it trades "
        "accuracy against (the spec's second objective: macs, params or latency)"
    )
    objectives: list[Objective] = Field(description="the spec's objectives, in order")
    reference: ReferenceOut | None = Field(description="None until the job is prepared")
    budget: BudgetOut
    points: list[PointOut] = Field(description="every candidate, by trial number")


class LayerOut(BaseModel):
    """One prunable layer of the unpruned model under a candidate's policy.

    Channel granularity: ``original`` output channels, ``kept`` after pruning (rounded to the
    spec's ``round_to`` as the pruning library does), ``ratio`` the fraction of channels
    removed (0 and kept = original for a layer the policy leaves whole; coupled layers share
    their group's ratio). Unstructured granularity: weights are zeroed, no channel goes, so
    kept = original and ``ratio`` is the fraction of the layer's weights zeroed. For a job
    recorded before layers were kept, only the policy's layers come back, with ``kind``,
    ``group``, ``original`` and ``kept`` null."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str | None
    group: int | None
    original: int | None
    kept: int | None
    ratio: float


class HistoryPointOut(BaseModel):
    """One trial of the study, in trial order."""

    model_config = ConfigDict(from_attributes=True)

    number: int
    kind: str = Field(description="uniform, global or search")
    state: str = Field(description="Optuna's trial state in lower case")
    value: float | None = Field(description="the (first) objective value; None unless complete")
    best_so_far: float | None = Field(
        description="best value of the trials up to this one (direction-aware)"
    )


class HistoryOut(BaseModel):
    direction: Literal["maximize", "minimize"] = Field(
        description="of the first objective (the score); a two-objective study is read on it"
    )
    points: list[HistoryPointOut] = Field(description="empty until the study exists")


class ParamImportanceOut(BaseModel):
    name: str = Field(description="the Optuna parameter (keep:<group root>, criterion)")
    importance: float = Field(
        description="normalized importance for a good score (PED-ANOVA); sums to 1"
    )


class ImportanceOut(BaseModel):
    params: list[ParamImportanceOut] = Field(description="most important first")
    trials_used: int = Field(description="complete trials the importances come from")
    message: str | None = Field(description="why ``params`` is empty, else None")
    warning: str | None = Field(
        default=None,
        description="set when too few trials to rank (PED-ANOVA's top 10% is a single trial)",
    )
    evaluator: str = Field(
        default=IMPORTANCE_EVALUATOR,
        description="Optuna's evaluator, on the first objective over the complete trials: "
        "the same as the embedded optuna-dashboard's",
    )


class CandidateDetailOut(CandidateOut):
    """A leaderboard row plus the policy spelled out per layer."""

    granularity: str = Field(description="'channel' or 'unstructured' (the job's spec)")
    layers: list[LayerOut] = Field(description="every prunable layer, in model order")
    model_url: str | None = Field(
        default=None,
        description="where its weights download (the best of a succeeded job only), else None",
    )
    no_model_reason: str | None = Field(
        default=None,
        description="why it has no weights to download (only the chosen model's are kept)",
    )

    @classmethod
    def of(
        cls,
        candidate: Candidate,
        *,
        granularity: str,
        layers: list[LayerOut],
        no_model_reason: str | None = None,
    ) -> CandidateDetailOut:
        row = CandidateOut.model_validate(candidate).model_dump(exclude={"score"})
        url = None
        if no_model_reason is None:
            url = f"/v1/jobs/{candidate.job_id}/candidates/{candidate.number}/model"
        return cls(
            **row,
            granularity=granularity,
            layers=layers,
            model_url=url,
            no_model_reason=no_model_reason,
        )


class SensitivityGroupOut(BaseModel):
    """One prunable group pruned alone (its other groups whole), BatchNorm recalibrated."""

    model_config = ConfigDict(from_attributes=True)

    name: str = Field(description="the group's root layer")
    accuracy: list[float] = Field(
        description="search-split accuracy at each of keep_ratios (the first: unpruned)"
    )
    mean_drop: float = Field(description="mean accuracy lost over the pruned keep ratios")


class SensitivityOut(BaseModel):
    """The sensitivity curves the search measured once, when the job was prepared."""

    model_config = ConfigDict(from_attributes=True)

    reference_accuracy: float | None = Field(
        description="the unpruned model's search-split accuracy; None while not measured"
    )
    keep_ratios: list[float] = Field(description="fractions of channels kept, 1.0 first")
    groups: list[SensitivityGroupOut] = Field(
        description="every prunable group, most sensitive (largest mean_drop) first"
    )
    message: str | None = Field(
        description="why ``groups`` is empty (no study yet, not measured yet, or a "
        "granularity that measures none), else None"
    )
