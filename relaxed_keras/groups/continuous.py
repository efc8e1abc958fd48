"""Continuous groups SE(2) and E(2), approximated by N sampled elements.

The continuous-kernel layers (`relaxed_keras.layers.ContinuousLiftingConv2D`
and friends) evaluate their kernels at arbitrary rotations, so they can use
the Monte Carlo approximation of the group convolution of Romero & Lohit
(2022), Sec. 2, Eq. 4: in training, ``N`` evenly spaced rotations plus one
random offset drawn uniformly in ``[0, 2 pi / N_rot)`` (equivariant to the
continuous group in expectation); in inference, the fixed grid without
offset (exactly equivariant to the ``N_rot`` grid rotations when ``N_rot``
divides 4).

Sampled elements travel between layers as an *elements tensor* of shape
``[N, 3]``: per element its rotation angle (radians), its mirror bit (0 or
1: ``T = R(angle) F^mirror``, as in `relaxed_keras.groups.base`) and its
Monte Carlo weight (1 for a sampled element, 0 for an element that the
partial layers switched off; straight-through values carry gradients).

On the fixed grid (no offset, all weights 1) ``SE2(N)`` *is* the cyclic group
``C_N`` and ``E2(N)`` the dihedral group ``D_{N/2}`` with the element order
of `relaxed_keras.groups.base`, so every diagnostic of the discrete groups
(``group.transform`` etc.) applies unchanged.
"""

import math

import keras
import numpy as np
from keras import ops

from relaxed_keras import random as rk_random
from relaxed_keras.groups.cyclic import CyclicGroup
from relaxed_keras.groups.dihedral import DihedralGroup


def _check_num_elements(num_elements, even):
    if (
        isinstance(num_elements, bool)
        or not isinstance(num_elements, (int, np.integer))
        or num_elements < 1
        or (even and num_elements % 2)
    ):
        kind = "a positive even integer (N/2 rotations x 2 mirrors)" if even else (
            "a positive integer"
        )
        raise ValueError(
            f"`num_elements` must be {kind}. Received: "
            f"num_elements={num_elements!r}"
        )
    return int(num_elements)


class ContinuousGroupMixin:
    """Sampling of ``N`` elements of SE(2)/E(2) (see the module docstring)."""

    continuous = True

    @property
    def num_elements(self):
        return self.size

    @property
    def num_rotations(self):
        return self.order

    def grid_elements(self):
        """The fixed grid as a numpy ``[N, 3]`` elements array."""
        rows = [
            (self.angle(g), float(self.is_mirrored(g)), 1.0)
            for g in range(self.size)
        ]
        return np.array(rows, dtype="float32")

    def elements_from_angles(self, rotation_angles, mirror_weight=None):
        """Elements tensor from ``N_rot`` rotation angles (a tensor).

        Mirrored copies (E(2)) follow the unmirrored ones, each with the
        same angle, and get the weight ``mirror_weight`` (default 1).
        """
        rotation_angles = ops.cast(rotation_angles, "float32")
        ones = ops.ones_like(rotation_angles)
        zeros = ops.zeros_like(rotation_angles)
        rows = ops.stack([rotation_angles, zeros, ones], axis=-1)
        if not self.mirror:
            return rows
        weight = ones if mirror_weight is None else mirror_weight * ones
        mirrored = ops.stack([rotation_angles, ones, weight], axis=-1)
        return ops.concatenate([rows, mirrored], axis=0)

    def sample_elements(self, seed_generator=None, training=False):
        """Grid elements, shifted by one random offset when ``training``.

        Args:
            seed_generator: a `keras.random.SeedGenerator` (needed when
                ``training``).
            training: draw the offset ``U[0, 2 pi / N_rot)`` (Eq. 4) or use
                the fixed grid.
        """
        step = 2.0 * math.pi / self.num_rotations
        angles = ops.arange(self.num_rotations, dtype="float32") * step
        if training:
            offset = rk_random.uniform(
                (), 0.0, step, dtype="float32", seed_generator=seed_generator
            )
            angles = angles + offset
        return self.elements_from_angles(angles)

    def get_config(self):
        return {"num_elements": self.size}

    def __eq__(self, other):
        return type(other) is type(self) and other.size == self.size

    def __hash__(self):
        return hash((type(self).__name__, self.size))

    def __repr__(self):
        return f"{type(self).__name__}(num_elements={self.size})"


@keras.saving.register_keras_serializable(package="relaxed_keras")
class SE2(ContinuousGroupMixin, CyclicGroup):
    """Planar rotations SO(2) (with translations: SE(2)), ``N`` samples.

    Args:
        num_elements: ``N``, the number of rotations sampled per layer.

    Example:

    >>> group = SE2(num_elements=8)
    >>> group.size, group.grid_elements()[1, 0].round(4)
    (8, 0.7854)
    """

    def __init__(self, num_elements=8):
        super().__init__(_check_num_elements(num_elements, even=False))


@keras.saving.register_keras_serializable(package="relaxed_keras")
class E2(ContinuousGroupMixin, DihedralGroup):
    """Rotations and mirrors O(2) (with translations: E(2)), ``N`` samples:
    ``N / 2`` rotations times the two mirror states.

    Args:
        num_elements: ``N``, even.

    Example:

    >>> group = E2(num_elements=8)
    >>> group.num_rotations, group.size
    (4, 8)
    """

    def __init__(self, num_elements=8):
        super().__init__(_check_num_elements(num_elements, even=True) // 2)


def is_continuous(group):
    return getattr(group, "continuous", False)
