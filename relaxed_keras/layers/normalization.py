"""Normalisation of feature maps per channel, over space (and group)."""

import keras
from keras import backend
from keras import ops

from relaxed_keras import backend_policy
from relaxed_keras.arguments import finite_float
from relaxed_keras.layers.spatial import fold_group_axis
from relaxed_keras.layers.spatial import folds_group_axis
from relaxed_keras.layers.spatial import mean_over_group
from relaxed_keras.layers.spatial import tile_over_group


@keras.saving.register_keras_serializable(package="relaxed_keras")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization`, faster on ``[B, H, W, |G|, C]``.

    The same layer, arguments and results (statistics per channel ``c``,
    shared by all group elements: with ``axis=-1`` the batch moments reduce
    over batch, height, width *and* the group axis, so the layer commutes
    with the group action). On TensorFlow and JAX it computes on the
    folded ``[B, H, W, |G| C]`` view: in training, per-(g, c) moments
    combined per channel with the law of total variance; in training and
    inference, the normalisation with scale and offset tiled over the
    group-major channels (`tile_over_group`). Keras's own layer reduces
    over four axes of the rank-5 view and broadcasts C-vectors along its
    minor axis, which XLA and TensorFlow run far slower. torch folds only
    outside training (`folds_group_axis`); in training, and for other
    ranks, it computes the same scale and offset without folding, one
    multiply and one add on the input where Keras's torch code makes four
    passes over it. The P4CNN with this layer: BENCHMARKS.md, "P4CNN per
    `jit_compile` setting (CPU, sequential run)"; the other forms measured
    (folding in torch training, a hand-written gradient): "Tried and
    rejected". Masks,
    ``renorm``, ``synchronized``, other axes, and other ranks on
    TensorFlow and JAX use Keras's code unchanged, with the reduction axes
    kept as a tuple so that torch.compile traces the layer without a graph
    break.

    The class keeps Keras's name on purpose: Keras stores a model's weights
    under the snake-cased class name of each layer, so a model keeps the
    same weight files whichever of the two it uses (the zoo's checkpoints
    load into both).

    Example:

    >>> x = keras.random.normal((8, 14, 14, 4, 10))
    >>> layer = relaxed_keras.layers.BatchNormalization(momentum=0.9)
    >>> tuple(layer(x, training=True).shape)
    (8, 14, 14, 4, 10)
    """

    def build(self, input_shape):
        super().build(input_shape)
        # Keras keeps the axes as a list, which layer tracking turns into a
        # `TrackedList`: torch.compile cannot pass one to `torch.mean` and
        # breaks the graph at every batch norm. A tuple is left as it is.
        self._reduction_axes = tuple(self._reduction_axes)

    def _affine_form(self, inputs, mask):
        """Whether to compute ``x * scale + offset`` with per-channel
        ``scale``/``offset`` vectors (channels last, no mask, no renorm)."""
        return (
            mask is None
            and not self.renorm
            and not self.synchronized
            and list(self._reduction_axes) == list(range(len(inputs.shape) - 1))
        )

    def _folds(self, inputs, training):
        return (
            folds_group_axis(training)
            and len(inputs.shape) == 5
            and inputs.shape[3] is not None
        )

    def call(self, inputs, training=None, mask=None):
        if not self._affine_form(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        if self._folds(inputs, training):
            return self._folded_call(inputs, training)
        if backend_policy.active("affine_batch_norm"):
            return self._affine_call(inputs, training)
        return super().call(inputs, training=training, mask=mask)

    def _folded_call(self, inputs, training):
        """Rank 5, on the folded ``[B, H, W, |G| C]`` view."""
        shape = ops.shape(inputs)
        group_size = inputs.shape[3]
        x = ops.cast(inputs, backend.result_type(inputs.dtype, "float32"))
        x = fold_group_axis(x)
        if training and self.trainable:
            mean, variance = self._batch_moments(x, group_size)
        else:
            mean, variance = self._moving_moments(x.dtype)
        scale, offset = self._scale_offset(mean, variance, x.dtype)
        y = x * tile_over_group(scale, group_size) + tile_over_group(
            offset, group_size
        )
        return ops.cast(ops.reshape(y, shape), self.compute_dtype)

    def _affine_call(self, inputs, training):
        """torch, channels last, any rank: the batch moments of
        `ops.moments` and one multiply and one add on the input, where
        Keras's torch `batch_normalization` subtracts, copies, multiplies
        and adds in place (eager torch runs every one of them as a pass over
        the feature map)."""
        x = ops.cast(inputs, backend.result_type(inputs.dtype, "float32"))
        if training and self.trainable:
            mean, variance = ops.moments(x, axes=self._reduction_axes)
            self._update_moving_moments(mean, variance)
        else:
            mean, variance = self._moving_moments(x.dtype)
        scale, offset = self._scale_offset(mean, variance, x.dtype)
        return ops.cast(x * scale + offset, self.compute_dtype)

    def _moving_moments(self, dtype):
        return (
            ops.cast(self.moving_mean, dtype),
            ops.cast(self.moving_variance, dtype),
        )

    def _scale_offset(self, mean, variance, dtype):
        scale = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * ops.cast(self.gamma, dtype)
        offset = -mean * scale
        if self.center:
            offset = offset + ops.cast(self.beta, dtype)
        return scale, offset

    def _update_moving_moments(self, mean, variance):
        for moving, batch_value in (
            (self.moving_mean, mean),
            (self.moving_variance, variance),
        ):
            moving.assign(
                ops.cast(moving, batch_value.dtype) * self.momentum
                + batch_value * (1.0 - self.momentum)
            )

    def _batch_moments(self, x, group_size):
        """Per-channel moments of the folded ``x`` over batch, space and
        group (law of total variance over the per-(g, c) moments); updates
        the moving statistics."""
        element_mean, element_variance = ops.moments(x, axes=(0, 1, 2))
        mean = mean_over_group(element_mean, group_size)
        variance = mean_over_group(
            element_variance
            + ops.square(element_mean - tile_over_group(mean, group_size)),
            group_size,
        )
        self._update_moving_moments(mean, variance)
        return mean, variance


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
        epsilon: added to the variance (a positive float).
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = finite_float(epsilon, "epsilon", positive=True)

    def build(self, input_shape):
        if len(input_shape) not in (4, 5):
            raise ValueError(
                "SpatialLayerNormalization expects rank 4 or 5 inputs. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape) - 1))
        # Moments and normalisation in (at least) float32, as Keras's
        # LayerNormalization: in float16/bfloat16 the mean over a whole
        # feature map and the variance lose most of their digits.
        x = ops.cast(inputs, backend.result_type(inputs.dtype, "float32"))
        mean = ops.mean(x, axis=axes, keepdims=True)
        variance = ops.var(x, axis=axes, keepdims=True)
        outputs = (x - mean) * ops.rsqrt(variance + self.epsilon)
        return ops.cast(outputs, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
