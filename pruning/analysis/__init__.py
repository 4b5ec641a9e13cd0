"""Model analysis: prunable layers, coupled groups and excluded layers."""

from pruning.analysis._analyze import analyze, layer_kind
from pruning.analysis._report import AnalysisReport, GroupInfo, LayerInfo

__all__ = ["AnalysisReport", "GroupInfo", "LayerInfo", "analyze", "layer_kind"]
