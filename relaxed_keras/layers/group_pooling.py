"""Pooling over the group axis (coset pooling): invariant features."""

import keras
from keras import ops

from relaxed_keras.arguments import boolean

POOLING_MODES = ("max", "mean")


@keras.saving.register_keras_serializable(package="relaxed_keras")
class GroupPooling(keras.layers.Layer):
    """Pool ``[B, H, W, |G|, C]`` over the group axis to ``[B, H, W, C]``.

    The result is invariant to the group's permutation of the group axis and
    transforms like an image under the spatial action (coset pooling over
    the stabiliser, Cohen & Welling 2016, Sec. 6.3).

    Args:
        mode: ``"max"`` or ``"mean"``.
        keepdims: keep a group axis of size 1.

    Example:

    >>> import numpy as np
    >>> tuple(GroupPooling("max")(np.ones((2, 5, 5, 4, 3), "float32")).shape)
    (2, 5, 5, 3)
    """

    def __init__(self, mode="max", keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(
                f"`mode` must be one of {POOLING_MODES}. Received: mode={mode!r}"
            )
        self.mode = mode
        self.keepdims = boolean(keepdims, "keepdims")

    def build(self, input_shape):
        if len(input_shape) != 5:
            raise ValueError(
                "GroupPooling expects group feature maps [batch, height, "
                f"width, group, channels]. Received: input_shape="
                f"{tuple(input_shape)}"
            )
        # A built layer called on a rank-4 map used to pool its channels.
        self.input_spec = keras.InputSpec(ndim=5)

    def call(self, inputs):
        # `ops.amax`, not `ops.max`: Keras's torch `max` checks the result's
        # type, which torch.compile cannot trace (a graph break).
        reduce = ops.amax if self.mode == "max" else ops.mean
        return reduce(inputs, axis=3, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if self.keepdims:
            shape[3] = 1
        else:
            del shape[3]
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "keepdims": self.keepdims})
        return config
