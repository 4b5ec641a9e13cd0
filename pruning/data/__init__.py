"""Datasets for pruning experiments: built-in ones and user-supplied tensor files.

Every loader returns a :class:`DataSplits` of :class:`~torch.utils.data.TensorDataset`
objects (float32 inputs, int64 labels), split deterministically from a seed.

>>> from pruning import data
>>> splits = data.load_builtin("digits", seed=0)
>>> splits.input_shape, splits.num_classes
((1, 8, 8), 10)
"""

from pruning.data._builtin import BUILTIN_DATASETS, load_builtin
from pruning.data._splits import DataSplits
from pruning.data._tensors import load_tensors

__all__ = [
    "BUILTIN_DATASETS",
    "DataSplits",
    "load_builtin",
    "load_tensors",
]
