"""prunesearch's pruning library: PyTorch and Torch-Pruning only, no server, no Optuna.

>>> from pruning import analyze, Policy, apply_policy, measure, save_bundle, load_bundle
>>> report = analyze(model, example_inputs)
>>> pruned = apply_policy(model, Policy.uniform(report, 0.5), example_inputs)
>>> measure(pruned, example_inputs).macs
"""

from pruning import data, zoo
from pruning._atomic import AtomicFile, atomic_path
from pruning.analysis import AnalysisReport, GroupInfo, LayerInfo, analyze
from pruning.apply import PruneRecord, apply_policy, group_importance, record_of, shrink
from pruning.bundle import load_bundle, onnx_available, save_bundle
from pruning.exceptions import (
    AnalysisError,
    BundleError,
    DataError,
    ExportError,
    PolicyError,
    PruningError,
    ShapeError,
    ZooError,
)
from pruning.finetune import (
    EpochMetrics,
    Evaluation,
    FinetuneResult,
    evaluate,
    finetune,
    recalibrate_bn,
)
from pruning.measure import Measurement, count_macs, measure
from pruning.policy import CRITERIA, GRANULARITIES, Policy, kept_channels
from pruning.sensitivity import SensitivityResult, sensitivity

__all__ = [
    "CRITERIA",
    "GRANULARITIES",
    "AnalysisError",
    "AnalysisReport",
    "AtomicFile",
    "BundleError",
    "DataError",
    "EpochMetrics",
    "Evaluation",
    "ExportError",
    "FinetuneResult",
    "GroupInfo",
    "LayerInfo",
    "Measurement",
    "Policy",
    "PolicyError",
    "PruneRecord",
    "PruningError",
    "SensitivityResult",
    "ShapeError",
    "ZooError",
    "analyze",
    "apply_policy",
    "atomic_path",
    "count_macs",
    "data",
    "evaluate",
    "finetune",
    "group_importance",
    "kept_channels",
    "load_bundle",
    "measure",
    "onnx_available",
    "recalibrate_bn",
    "record_of",
    "save_bundle",
    "sensitivity",
    "shrink",
    "zoo",
]
