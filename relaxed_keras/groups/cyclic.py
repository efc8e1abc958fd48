"""The cyclic rotation group C_n (p4 together with translations for n=4)."""

import keras

from relaxed_keras.groups.base import PlanarGroup


@keras.saving.register_keras_serializable(package="relaxed_keras")
class CyclicGroup(PlanarGroup):
    """Rotations by multiples of ``360 / order`` degrees.

    ``CyclicGroup(4)`` with translations is the group p4 of Cohen & Welling
    (2016). Orders dividing 4 act exactly on pixel grids; other orders
    (8, 16, ...) rotate by bilinear interpolation, so equivariance is then
    approximate. Element ``g`` is the rotation by ``g * 360 / order`` degrees
    (see `relaxed_keras.groups.base` for all conventions).

    Args:
        order: number of rotations, a positive integer.

    Example:

    >>> group = CyclicGroup(4)
    >>> group.size, group.compose(1, 3), group.inverse(1)
    (4, 0, 3)
    """

    def __init__(self, order=4):
        super().__init__(order, mirror=False)
