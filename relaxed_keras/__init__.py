"""relaxed_keras: relaxed group equivariance for Keras 3.

Runs on the TensorFlow, JAX and PyTorch backends (``KERAS_BACKEND``).

Example:

>>> import relaxed_keras as rk
>>> model = rk.layers.LiftingConv2D(8, 3, group="p4")
"""

from relaxed_keras import backend_policy
from relaxed_keras import callbacks
from relaxed_keras import convert
from relaxed_keras import datasets
from relaxed_keras import diagnostics
from relaxed_keras import export
from relaxed_keras import groups
from relaxed_keras import initialization
from relaxed_keras import kernels
from relaxed_keras import layers
from relaxed_keras import models
from relaxed_keras import random
from relaxed_keras import testing
from relaxed_keras import xla_cpu
from relaxed_keras import zoo
from relaxed_keras.groups import CyclicGroup
from relaxed_keras.groups import DihedralGroup
from relaxed_keras.groups import E2
from relaxed_keras.groups import SE2

__version__ = "0.1.0"

__all__ = [
    "backend_policy",
    "groups",
    "kernels",
    "layers",
    "diagnostics",
    "export",
    "datasets",
    "models",
    "random",
    "testing",
    "initialization",
    "xla_cpu",
    "zoo",
    "CyclicGroup",
    "DihedralGroup",
    "SE2",
    "E2",
    "callbacks",
    "convert",
    "__version__",
]
