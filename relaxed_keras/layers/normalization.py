"""Per-sample normalisation over space (and group), per channel."""

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
