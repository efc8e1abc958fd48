"""The dihedral group D_n: rotations and a left-right mirror (p4m for n=4)."""

import keras

from relaxed_keras.groups.base import PlanarGroup


@keras.saving.register_keras_serializable(package="relaxed_keras")
class DihedralGroup(PlanarGroup):
    """``order`` rotations and their compositions with a left-right mirror.

    ``DihedralGroup(4)`` with translations is p4m. Element
    ``g = r + order * m`` is "flip left-right if ``m = 1``, then rotate by
    ``r * 360 / order`` degrees" (see `relaxed_keras.groups.base`).

    Args:
        order: number of rotations, a positive integer.

    Example:

    >>> group = DihedralGroup(4)
    >>> group.size, group.inverse(5)
    (8, 5)
    """

    def __init__(self, order=4):
        super().__init__(order, mirror=True)
