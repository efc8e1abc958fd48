"""The model zoo: architectures by name (presets arrive with the presets work).

Example:

>>> import relaxed_keras as rk
>>> rk.zoo.list_architectures()[:3]
['cnn13', 'cnn7', 'p4cnn']
>>> model = rk.zoo.build("p4cnn", equivariance="relaxed")  # doctest: +SKIP
"""

import numpy as np

from relaxed_keras.models.registry import build
from relaxed_keras.models.registry import describe
from relaxed_keras.models.registry import list_architectures


def architecture_table(equivariance="strict", **kwargs):
    """One row per architecture: name, description and trainable
    parameter count at its default configuration (timm/keras-hub style).

    Builds every model once (a few seconds on CPU)."""
    rows = []
    for name in list_architectures():
        model = build(name, equivariance=equivariance, **kwargs)
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


__all__ = ["build", "describe", "list_architectures", "architecture_table"]
