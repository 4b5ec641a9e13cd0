"""Built-in architectures for pruning experiments, sized for small images and CPU training.

Every model is a plain :class:`torch.nn.Module` made of standard layers (convolutions,
linear layers, batch norm, ReLU, pooling), accepts inputs from 8x8 pixels up, returns logits of
shape ``[batch, num_classes]``, and is initialised deterministically from PyTorch's global RNG.

>>> import torch
>>> from pruning import zoo
>>> model = zoo.build("small_cnn", num_classes=10, in_channels=1)
>>> model(torch.zeros(2, 1, 28, 28)).shape
torch.Size([2, 10])
"""

from pruning.zoo._mlp import mlp
from pruning.zoo._mobilenet import mobilenet_v2
from pruning.zoo._registry import build, names
from pruning.zoo._resnet import resnet20
from pruning.zoo._small_cnn import small_cnn

__all__ = [
    "build",
    "mlp",
    "mobilenet_v2",
    "names",
    "resnet20",
    "small_cnn",
]
