"""Global pooling over the spatial axes of images or group feature maps."""

import keras
from keras import ops

from relaxed_keras.arguments import boolean

MODES = ("mean", "max")


@keras.saving.register_keras_serializable(package="relaxed_keras")
class GlobalSpatialPooling2D(keras.layers.Layer):
    """Mean or max over height and width of ``[B, H, W, ...]``.

    Unlike `keras.layers.GlobalAveragePooling2D` it keeps a group axis:
    ``[B, H, W, |G|, C] -> [B, |G|, C]`` (or ``[B, 1, 1, |G|, C]`` with
    ``keepdims``), so spatial pooling can come before group pooling, as in
    the P4CNN of Edixhoven et al. (2023).

    Args:
        mode: ``"mean"`` or ``"max"``.
        keepdims: keep the spatial axes with size 1.
    """

    def __init__(self, mode="mean", keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}")
        self.mode = mode
        self.keepdims = boolean(keepdims, "keepdims")

    def build(self, input_shape):
        if len(input_shape) not in (4, 5):
            raise ValueError(
                "GlobalSpatialPooling2D expects [batch, height, width, "
                "channels] or [batch, height, width, group, channels]. "
                f"Received: input_shape={tuple(input_shape)}"
            )

    def call(self, inputs):
        reduce = ops.mean if self.mode == "mean" else ops.amax  # traceable
        return reduce(inputs, axis=(1, 2), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], 1, 1) + tuple(input_shape[3:])
        return (input_shape[0],) + tuple(input_shape[3:])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "keepdims": self.keepdims})
        return config
