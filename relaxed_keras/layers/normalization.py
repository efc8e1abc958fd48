"""Normalisation of group feature maps, per channel."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="relaxed_keras")
class SpatialLayerNormalization(keras.layers.Layer):
    """Normalise each sample and channel over height, width (and group).

    The layer norm of the Partial G-CNN reference (``layer_norm`` over
    ``(G, H, W)`` without affine terms) for ``[B, H, W, C]`` or
    ``[B, H, W, |G|, C]``: it commutes with the group action. Written with
    `keras.ops` because `keras.layers.LayerNormalization` with non-trailing
    axes fails on the torch backend of Keras 3.15 (it passes the axes as
    torch's trailing ``normalized_shape``).

    Args:
        epsilon: added to the variance.
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        if len(input_shape) not in (4, 5):
            raise ValueError(
                "SpatialLayerNormalization expects rank 4 or 5 inputs. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape) - 1))
        mean = ops.mean(inputs, axis=axes, keepdims=True)
        variance = ops.var(inputs, axis=axes, keepdims=True)
        return (inputs - mean) * ops.rsqrt(variance + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config


@keras.saving.register_keras_serializable(package="relaxed_keras")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` that is fast on group feature maps.

    Same arguments, variables, statistics and results as the Keras layer
    (statistics per channel over batch, height, width and group, so it
    commutes with the group action). The only difference is where the affine
    normalisation runs for ``[B, H, W, |G|, C]`` inputs: on the folded
    ``[B, H, W, |G| * C]`` view with the per-channel scale and offset tiled
    ``|G|`` times. Broadcasting a ``[C]`` vector over a rank-5 tensor with a
    short channel axis is what XLA's CPU backend handles badly: three
    conv + BN + ReLU blocks of a P4CNN ran 3x slower than the same blocks on
    the folded view (59 ms vs 18 ms per batch of 64, JAX 0.10; see
    BENCHMARKS.md).

    The class keeps Keras's name so the variables of a model saved with
    `keras.layers.BatchNormalization` load unchanged (``.weights.h5``
    entries are named after the class). Masks, ``renorm`` and a non-trailing
    ``axis`` use the Keras implementation.

    Example:

    >>> import numpy as np
    >>> layer = BatchNormalization(momentum=0.9, epsilon=1e-5)
    >>> layer(np.ones((2, 5, 5, 4, 3), "float32")).shape
    (2, 5, 5, 4, 3)
    """

    def _folds(self, inputs, mask):
        rank = len(inputs.shape)
        return (
            rank == 5
            and mask is None
            and not self.renorm
            and self.axis in (-1, rank - 1)
            and inputs.shape[3] is not None
            and inputs.shape[4] is not None
        )

    def call(self, inputs, training=None, mask=None):
        if not self._folds(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")
        x = ops.cast(inputs, compute_dtype)
        moving_mean = ops.cast(self.moving_mean, compute_dtype)
        moving_variance = ops.cast(self.moving_variance, compute_dtype)
        if training and self.trainable:
            mean, variance = self._moments(x, mask)
            self.moving_mean.assign(
                moving_mean * self.momentum + mean * (1.0 - self.momentum)
            )
            self.moving_variance.assign(
                moving_variance * self.momentum
                + variance * (1.0 - self.momentum)
            )
        else:
            mean, variance = moving_mean, moving_variance
        scale = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * ops.cast(self.gamma, compute_dtype)
        offset = -mean * scale
        if self.center:
            offset = offset + ops.cast(self.beta, compute_dtype)
        shape = ops.shape(x)
        group_size, channels = x.shape[3], x.shape[4]
        folded = ops.reshape(
            x, (shape[0], shape[1], shape[2], group_size * channels)
        )
        folded = folded * ops.tile(scale, (group_size,)) + ops.tile(
            offset, (group_size,)
        )
        return ops.cast(ops.reshape(folded, shape), self.compute_dtype)
