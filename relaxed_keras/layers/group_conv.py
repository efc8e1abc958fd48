"""Regular group convolution between feature maps on the group."""

import keras

from relaxed_keras.layers.base_group_conv import BaseGroupConv


@keras.saving.register_keras_serializable(package="relaxed_keras")
class GroupConv2D(BaseGroupConv):
    """Group convolution ``[B, H, W, |G|, C] -> [B, H', W', |G|, filters]``.

    ``out(x, g) = sum_{y, h} in(x + y, h) psi(g^-1 y, g^-1 h)`` (Cohen &
    Welling 2016, Eq. 11; P4ConvP4/P4MConvP4M): the base kernel
    ``[kh, kw, |G|, C, filters]`` is transformed by each output element -
    spatially and by the matching permutation of its input group axis - and
    the whole layer runs as one ``keras.ops.conv``.

    Args:
        filters: output channels per group element.
        kernel_size: int or pair.
        group: group or name (``"p4"``, ``"p4m"``, ...).
        **kwargs: see `BaseGroupConv`.

    Example:

    >>> import numpy as np
    >>> layer = GroupConv2D(8, 3, group="p4m", padding="same")
    >>> tuple(layer(np.zeros((2, 14, 14, 8, 3), "float32")).shape)
    (2, 14, 14, 8, 8)
    """

    lifting = False
