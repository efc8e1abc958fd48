"""Model architectures with an ``equivariance=`` switch, and their registry."""

from relaxed_keras.models.cnn7 import CNN7
from relaxed_keras.models.registry import build
from relaxed_keras.models.registry import describe
from relaxed_keras.models.registry import list_architectures
from relaxed_keras.models.registry import register_architecture

__all__ = [
    "CNN7",
    "build",
    "describe",
    "list_architectures",
    "register_architecture",
]
