"""Turning a spec into a trained unpruned model, its data, analysis and reference figures."""

from search.preparation._model import load_weights, model_factory
from search.preparation._prepare import Prepared, Reference, Resolver, load_data, prepare

__all__ = [
    "Prepared",
    "Reference",
    "Resolver",
    "load_data",
    "load_weights",
    "model_factory",
    "prepare",
]
