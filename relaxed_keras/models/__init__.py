"""Model architectures with an ``equivariance=`` switch, and their registry.

Every architecture is a functional `keras.Model` built in one graph; the
``equivariance`` argument (``"none"``, ``"strict"``, ``"relaxed"``, and
where the architecture has them ``"partial"`` and ``"soft"``) and the
``group`` (``"p4"``, ``"p4m"``, or a continuous group such as ``"se2_8"``)
only change the layers inside.
"""

from relaxed_keras.models.cnn7 import CNN7
from relaxed_keras.models.cnn13 import CNN13
from relaxed_keras.models.cohen_welling_cnn import CohenWellingCNN
from relaxed_keras.models.preact_resnet import PreActResNet
from relaxed_keras.models.registry import build
from relaxed_keras.models.registry import describe
from relaxed_keras.models.registry import list_architectures
from relaxed_keras.models.registry import register_architecture
from relaxed_keras.models.resnet_ck import ResNetCK

__all__ = [
    "CNN7",
    "CNN13",
    "CohenWellingCNN",
    "PreActResNet",
    "ResNetCK",
    "build",
    "describe",
    "list_architectures",
    "register_architecture",
]
