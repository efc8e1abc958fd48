"""Lifting convolution: images on Z^2 to feature maps on the group."""

import keras

from relaxed_keras.layers.base_group_conv import BaseGroupConv


@keras.saving.register_keras_serializable(package="relaxed_keras")
class LiftingConv2D(BaseGroupConv):
    """Lifting group convolution ``[B, H, W, C] -> [B, H', W', |G|, filters]``.

    Output element ``g`` correlates the input with the base kernel
    transformed by ``g`` (Cohen & Welling 2016, Eq. 10; P4ConvZ2 in GrouPy):
    ``out(x, g) = sum_y in(x + y) psi(g^-1 y)``. Exactly equivariant for
    groups of multiples of 90 degrees when every strided layer satisfies the
    condition in `relaxed_keras.layers.padding`.

    Args:
        filters: output channels per group element.
        kernel_size: int or pair.
        group: group or name (``"p4"``, ``"p4m"``, ...).
        **kwargs: see `BaseGroupConv` (strides, padding, dilation_rate,
            activation, use_bias, initializers, regularizers, constraints).

    Example:

    >>> import numpy as np
    >>> layer = LiftingConv2D(8, 3, group="p4")
    >>> tuple(layer(np.zeros((2, 28, 28, 1), "float32")).shape)
    (2, 26, 26, 4, 8)
    """

    lifting = True
