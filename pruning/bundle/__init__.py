"""Bundles of a pruned model: safetensors weights, policy and report JSON, optional ONNX."""

from pruning.bundle._bundle import FORMAT, load_bundle, save_bundle
from pruning.bundle._onnx import onnx_available

__all__ = ["FORMAT", "load_bundle", "onnx_available", "save_bundle"]
