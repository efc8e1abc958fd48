"""Planar point groups acting on images and on group feature maps.

Conventions (the single place where they are written down; every layer,
diagnostic and test of relaxed_keras uses them):

* **Coordinates.** A pixel at row ``i`` and column ``j`` of an ``n x n`` grid
  has centred coordinates ``x = j - (n - 1) / 2`` (to the right) and
  ``y = (n - 1) / 2 - i`` (upwards). Group elements act on these as 2x2
  matrices, see `PlanarGroup.matrix`.
* **Rotation.** The generator ``r`` rotates by ``360 / order`` degrees
  counter-clockwise as displayed; for ``order=4`` it is exactly
  ``keras.ops.rot90(x, k=1, axes=(1, 2))`` on ``[B, H, W, C]`` images
  (computed by `rot90` below, which also holds for non-square planes).
* **Mirror.** ``m`` flips left-right (``x -> -x``), i.e. reverses the width
  axis.
* **Element index.** Element ``g = r + order * m`` is "flip left-right if
  ``m = 1``, then rotate by ``r * 360 / order`` degrees": ``T_g = R^r F^m``.
  Index 0 is the identity. `CyclicGroup` has ``m = 0`` only.
* **Feature maps on the group** have layout ``[batch, height, width, group,
  channels]``. The group acts on them by the regular representation
  ``(T_g f)(x, h) = f(g^-1 x, g^-1 h)``: every spatial slice is transformed
  like an image and the group axis is permuted so that
  ``out[..., h, :] = in[..., g^-1 h, :]``.

Rotations by multiples of 90 degrees (and mirrors) are exact permutations of
the pixel grid. Other angles (``order`` 8, 16, ...) use bilinear
interpolation: equivariance is then only approximate.
"""

import math

import numpy as np
from keras import ops

from relaxed_keras.groups import interpolation


def rot90(x, k=1):
    """``numpy.rot90(x, k, axes=(1, 2))`` from `ops.flip`/`ops.transpose`.

    Same result as ``keras.ops.rot90(x, k, axes=(1, 2))``, which we avoid:
    in Keras 3.15 its TensorFlow backend returns wrong values for ``k`` of 2
    on non-square planes (tensorflow/tensorflow#127248, fixed after 3.15 by
    keras-team/keras#23435).
    """
    k = k % 4
    if k == 0:
        return x
    if k == 2:
        return ops.flip(ops.flip(x, axis=1), axis=2)
    perm = list(range(len(x.shape)))
    perm[1], perm[2] = 2, 1
    if k == 1:
        return ops.transpose(ops.flip(x, axis=2), perm)
    return ops.flip(ops.transpose(x, perm), axis=2)


class PlanarGroup:
    """Finite subgroup of O(2): ``order`` rotations, optionally with mirrors.

    Use the subclasses `CyclicGroup` and `DihedralGroup`.

    Args:
        order: number of rotations, a positive integer.
        mirror: whether the group contains the left-right mirror.
    """

    name_prefix = None

    def __init__(self, order, mirror):
        if isinstance(order, bool) or not isinstance(
            order, (int, np.integer)
        ):
            raise ValueError(
                "`order` must be a positive integer (e.g. 4 for p4). "
                f"Received: order={order!r}"
            )
        if order < 1:
            raise ValueError(
                f"`order` must be a positive integer. Received: order={order}"
            )
        self.order = int(order)
        self.mirror = bool(mirror)

    # ------------------------------------------------------------------
    # Elements and group law.
    # ------------------------------------------------------------------
    @property
    def size(self):
        """Number of group elements, ``|G|``."""
        return self.order * (2 if self.mirror else 1)

    def __len__(self):
        return self.size

    @property
    def elements(self):
        """List of ``(r, m)`` tuples in index order ``g = r + order * m``."""
        return [self.element(g) for g in range(self.size)]

    def element(self, index):
        """The ``(r, m)`` pair of the element with the given index."""
        index = self._check_index(index)
        return index % self.order, index // self.order

    def index(self, rotation, mirror=0):
        """Index of the element ``R^rotation F^mirror``.

        ``rotation`` is any integer (taken modulo ``order``), ``mirror`` is
        0 or 1.
        """
        # A float rotation would give a float "index" (1.5 -> 1.5).
        if isinstance(rotation, bool) or not isinstance(
            rotation, (int, np.integer)
        ):
            raise ValueError(
                "`rotation` must be an integer (a multiple of "
                f"360 / {self.order} degrees). Received: rotation={rotation!r}"
            )
        if mirror not in (0, 1):
            raise ValueError(f"`mirror` must be 0 or 1. Received: mirror={mirror!r}")
        if mirror and not self.mirror:
            raise ValueError(f"{self!r} contains no mirror.")
        return int(rotation) % self.order + self.order * int(mirror)

    def compose(self, a, b):
        """Index of ``a * b`` (apply ``b`` first, then ``a``).

        Uses ``F R^r = R^-r F``: ``(r1, m1)(r2, m2) = (r1 + (-1)^m1 r2,
        m1 xor m2)``.
        """
        r1, m1 = self.element(a)
        r2, m2 = self.element(b)
        sign = -1 if m1 else 1
        return self.index(r1 + sign * r2, m1 ^ m2)

    def inverse(self, a):
        """Index of ``a^-1``. Reflections are their own inverse."""
        r, m = self.element(a)
        return self.index(r if m else -r, m)

    @property
    def cayley_table(self):
        """``table[a, b] = index(a * b)`` as a numpy int array."""
        n = self.size
        return np.array(
            [[self.compose(a, b) for b in range(n)] for a in range(n)],
            dtype="int32",
        )

    def angle(self, index):
        """Rotation angle of an element in radians."""
        return 2.0 * math.pi * self.element(index)[0] / self.order

    def is_mirrored(self, index):
        return bool(self.element(index)[1])

    @property
    def is_exact(self):
        """True when every element maps the pixel grid onto itself."""
        return 4 % self.order == 0

    # ------------------------------------------------------------------
    # Action on coordinates.
    # ------------------------------------------------------------------
    def matrix(self, index):
        """2x2 numpy matrix of ``T_g`` acting on centred ``(x, y)``."""
        r, m = self.element(index)
        theta = 2.0 * math.pi * r / self.order
        c, s = math.cos(theta), math.sin(theta)
        rotation = np.array([[c, -s], [s, c]])
        flip = np.diag([-1.0, 1.0]) if m else np.eye(2)
        matrix = rotation @ flip
        # Multiples of 90 degrees: remove float noise so grids stay exact.
        rounded = np.round(matrix)
        return np.where(np.abs(matrix - rounded) < 1e-12, rounded, matrix)

    def act_on_coordinates(self, index, coordinates):
        """Apply ``T_g`` to coordinates of shape ``[..., 2]`` (``x, y``)."""
        return np.asarray(coordinates) @ self.matrix(index).T

    def regular_permutation(self, index):
        """``perm`` with ``(T_g f)[..., h, :] = f[..., perm[h], :]``.

        ``perm[h] = g^-1 h``: the regular representation of ``g``.
        """
        g_inv = self.inverse(index)
        return np.array(
            [self.compose(g_inv, h) for h in range(self.size)], dtype="int32"
        )

    # ------------------------------------------------------------------
    # Action on tensors.
    # ------------------------------------------------------------------
    def transform_images(self, images, index):
        """Apply ``T_g`` to the spatial axes (1, 2) of ``[B, H, W, ...]``.

        Exact (``rot90``/``flip``) for multiples of 90 degrees, bilinear
        interpolation with zero fill otherwise (approximate).
        """
        r, m = self.element(index)
        if m:
            images = ops.flip(images, axis=2)
        quarter_turns = 4 * r / self.order
        if float(quarter_turns).is_integer():
            return rot90(images, int(quarter_turns))
        return interpolation.rotate_images(images, self.angle(index) * 1.0)

    def transform_feature_maps(self, features, index):
        """Regular action on ``[B, H, W, |G|, C]`` group feature maps."""
        if len(features.shape) != 5 or features.shape[3] != self.size:
            raise ValueError(
                "Expected group feature maps of shape [batch, height, width, "
                f"{self.size}, channels] for {self!r}. "
                f"Received: shape={tuple(features.shape)}"
            )
        features = self.transform_images(features, index)
        perm = self.regular_permutation(index)
        if np.array_equal(perm, np.arange(self.size)):
            return features
        return ops.take(features, perm, axis=3)

    def transform(self, tensor, index):
        """Transform images (rank 4) or group feature maps (rank 5)."""
        if len(tensor.shape) == 5:
            return self.transform_feature_maps(tensor, index)
        if len(tensor.shape) == 4:
            return self.transform_images(tensor, index)
        raise ValueError(
            "Expected images [B, H, W, C] (rank 4) or group feature maps "
            f"[B, H, W, |G|, C] (rank 5). Received: shape={tuple(tensor.shape)}"
        )

    def full_equivariance_summary(self):
        """`learned_equivariance` row of a layer equivariant to the whole
        group: full rotation range, mirrors (if any) always present."""
        return {
            "group": repr(self),
            "rotation_range_deg": 360.0,
            "mirror_probability": 1.0 if self.mirror else None,
        }

    # ------------------------------------------------------------------
    # Serialisation and helpers.
    # ------------------------------------------------------------------
    def get_config(self):
        return {"order": self.order}

    def _check_index(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise ValueError(
                f"Group element index must be an integer in [0, {self.size}). "
                f"Received: {index!r}"
            )
        if not 0 <= index < self.size:
            raise ValueError(
                f"Group element index must be in [0, {self.size}) for "
                f"{self!r}. Received: {index}"
            )
        return int(index)

    def __eq__(self, other):
        return (
            isinstance(other, PlanarGroup)
            and self.order == other.order
            and self.mirror == other.mirror
        )

    def __hash__(self):
        return hash((self.order, self.mirror))

    def __repr__(self):
        return f"{type(self).__name__}(order={self.order})"
