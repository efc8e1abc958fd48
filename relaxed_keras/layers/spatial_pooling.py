"""Spatial max/average pooling of images or group feature maps."""

import keras
from keras import ops

from relaxed_keras.layers import padding as padding_lib
from relaxed_keras.layers.spatial import SpatialSamplingMixin
from relaxed_keras.layers.spatial import as_floating
from relaxed_keras.layers.spatial import channels_last_op
from relaxed_keras.layers.spatial import standardize_pair


class BaseSpatialPooling(SpatialSamplingMixin, keras.layers.Layer):
    """Pooling over height and width of ``[B, H, W, C]`` or
    ``[B, H, W, |G|, C]`` (the group axis is pooled independently, so the
    layer commutes with the group's permutation).

    Padding is explicit (see `relaxed_keras.layers.padding`), so results are
    identical on every backend and ``"valid_equiv"``/``"same_equiv"`` keep
    strided pooling exactly equivariant.

    Args:
        pool_size: int or pair.
        strides: int or pair; defaults to ``pool_size``.
        padding: ``"valid"``, ``"same"``, ``"valid_equiv"``, ``"same_equiv"``
            or a non-negative int.
    """

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = standardize_pair(pool_size, "pool_size")
        self.strides = standardize_pair(
            self.pool_size if strides is None else strides, "strides"
        )
        self.padding = padding_lib.standardize_padding(padding)

    @property
    def kernel_size(self):
        return self.pool_size

    def build(self, input_shape):
        if len(input_shape) not in (4, 5):
            raise ValueError(
                f"{type(self).__name__} expects [batch, height, width, "
                "channels] or [batch, height, width, group, channels]. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        inputs = as_floating(inputs, self.compute_dtype)
        shape = ops.shape(inputs)
        x = inputs
        if len(inputs.shape) == 5:
            x = ops.reshape(
                x, (shape[0], shape[1], shape[2], shape[3] * shape[4])
            )
        y = self._pool(x, (inputs.shape[1], inputs.shape[2]))
        if len(inputs.shape) == 5:
            out = ops.shape(y)
            y = ops.reshape(
                y, (out[0], out[1], out[2], shape[3], shape[4])
            )
        return y

    def compute_output_shape(self, input_shape):
        pads = self.spatial_padding(input_shape[1:3])
        for pad, size in zip(pads, self.pool_size):
            if max(pad) >= size:
                # Windows of padding only: -inf maxima, 0 / 0 averages.
                raise ValueError(
                    f"{type(self).__name__} ({self.name!r}): padding="
                    f"{self.padding!r} pads {pads} pixels, and every side "
                    f"must stay below pool_size={self.pool_size} (a window "
                    "must hold at least one input pixel)."
                )
        height, width = self._output_spatial_shape(input_shape[1:3])
        return (input_shape[0], height, width) + tuple(input_shape[3:])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="relaxed_keras")
class GroupMaxPooling2D(BaseSpatialPooling):
    """Spatial max pooling; padded positions never win.

    Example:

    >>> import numpy as np
    >>> tuple(GroupMaxPooling2D(2)(np.ones((1, 28, 28, 4, 10), "float32")).shape)
    (1, 14, 14, 4, 10)
    """

    def _pool(self, x, spatial_shape):
        x = self._pad(x, spatial_shape, value=float("-inf"))
        return channels_last_op(
            ops.max_pool, x, self.pool_size, self.strides, padding="valid"
        )


@keras.saving.register_keras_serializable(package="relaxed_keras")
class GroupAveragePooling2D(BaseSpatialPooling):
    """Spatial average pooling; padded positions are not counted.

    Example:

    >>> import numpy as np
    >>> layer = GroupAveragePooling2D(3, strides=2, padding="same_equiv")
    >>> tuple(layer(np.ones((1, 33, 33, 4, 2), "float32")).shape)
    (1, 17, 17, 4, 2)
    """

    def _pool(self, x, spatial_shape):
        pooled = channels_last_op(
            ops.average_pool,
            self._pad(x, spatial_shape),
            self.pool_size,
            self.strides,
            padding="valid",
        )
        pads = self.spatial_padding(spatial_shape)
        if not any(p for pair in pads for p in pair):
            return pooled
        # The dynamic shape: a model traced with unknown height and width
        # (TensorFlow retraces with relaxed shapes) has None in x.shape.
        shape = ops.shape(x)
        ones = ops.ones((1, shape[1], shape[2], 1), dtype=x.dtype)
        counts = channels_last_op(
            ops.average_pool,
            self._pad(ones, spatial_shape),
            self.pool_size,
            self.strides,
            padding="valid",
        )
        return pooled / counts
