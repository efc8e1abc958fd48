"""The model zoo: architectures by name and pretrained presets.

Example:

>>> import relaxed_keras as rk
>>> rk.zoo.list_architectures()[:3]
['cnn13', 'cnn7', 'p4cnn']
>>> model = rk.zoo.build("p4cnn", equivariance="relaxed")  # doctest: +SKIP
>>> model = rk.zoo.load("p4cnn_partial_mnist6_180")  # doctest: +SKIP
"""

import numpy as np

from relaxed_keras.models.registry import build
from relaxed_keras.models.registry import describe
from relaxed_keras.models.registry import list_architectures
from relaxed_keras.zoo.cards import preset_table
from relaxed_keras.zoo.presets import compile_classifier
from relaxed_keras.zoo.presets import list_presets
from relaxed_keras.zoo.presets import load
from relaxed_keras.zoo.presets import load_metadata
from relaxed_keras.zoo.recipes import list_recipes
from relaxed_keras.zoo.statistics import reestimate_batch_norm
from relaxed_keras.zoo import training
from relaxed_keras.zoo.transfer import feature_extractor
from relaxed_keras.zoo.transfer import set_backbone_trainable
from relaxed_keras.zoo.transfer import with_num_classes


def architecture_table(equivariance="strict", **kwargs):
    """One row per architecture: name, description and trainable
    parameter count at its default configuration (timm/keras-hub style).

    Builds every model once (a few seconds on CPU). Architectures without
    the ``equivariance`` mode (e.g. the ResNets in ``"soft"`` mode) have no
    row; an unknown mode is a `ValueError`."""
    from relaxed_keras.models.blocks import MODES
    from relaxed_keras.models.blocks import UnsupportedModeError

    if equivariance not in MODES:
        raise ValueError(
            f"`equivariance` must be one of {MODES}. Received: "
            f"equivariance={equivariance!r}"
        )
    rows = []
    for name in list_architectures():
        try:
            model = build(name, equivariance=equivariance, **kwargs)
        except UnsupportedModeError:
            continue
        rows.append(
            {
                "name": name,
                "description": describe(name),
                "input_shape": tuple(model.input_shape[1:]),
                "trainable_params": int(
                    sum(np.prod(w.shape) for w in model.trainable_weights)
                ),
            }
        )
    return rows


__all__ = [
    "build",
    "describe",
    "list_architectures",
    "architecture_table",
    "list_presets",
    "load",
    "load_metadata",
    "list_recipes",
    "preset_table",
    "reestimate_batch_norm",
    "training",
]
