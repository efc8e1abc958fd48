"""Pooling over the sampled group axis of the continuous layers
(Romero & Lohit 2022, Sec. 3.5): a Monte Carlo mean or a masked maximum."""

import keras
from keras import ops

from relaxed_keras.layers.continuous_elements import element_transform
from relaxed_keras.layers.continuous_elements import standardize_inputs


@keras.saving.register_keras_serializable(package="relaxed_keras")
class ContinuousGroupPooling(keras.layers.Layer):
    """Pool ``[features, elements]`` over the group axis, respecting masks.

    ``"mean"``: the Monte Carlo average ``sum_j w_j f_j / sum_j w_j``;
    ``"max"``: the maximum over elements whose weight is non-zero. Output
    ``[B, H, W, C]``, invariant to the sampled group.

    Args:
        mode: ``"max"`` or ``"mean"``.
    """

    def __init__(self, mode="max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean"):
            raise ValueError(
                f"`mode` must be 'max' or 'mean'. Received: mode={mode!r}"
            )
        self.mode = mode
        self._convert_input_args = False  # elements stay float32

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(standardize_inputs(self, inputs), *args, **kwargs)

    def build(self, input_shape):
        self._check_shapes(input_shape)

    def _check_shapes(self, inputs):
        """``[features [B, H, W, N, C], elements [N, 3]]`` (backend errors,
        or a TypeError for a single tensor, before)."""
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                "ContinuousGroupPooling expects `[features, elements]` as "
                "returned by a continuous layer, e.g. `x, g = gconv([x, g]); "
                f"pool([x, g])`. Received: {inputs!r}"
            )
        features, elements = (tuple(getattr(t, "shape", t)) for t in inputs)
        if len(features) != 5 or elements != (features[3], 3):
            raise ValueError(
                "ContinuousGroupPooling expects features [batch, height, width, "
                "N, channels] and elements [N, 3]. Received: shapes "
                f"{features} and {elements}"
            )

    def call(self, inputs):
        self._check_shapes(inputs)
        features, elements = inputs
        _, _, weight = element_transform(elements)
        weight = ops.cast(ops.reshape(weight, (1, 1, 1, -1, 1)), features.dtype)
        if self.mode == "mean":
            return ops.sum(features * weight, axis=3) / ops.sum(weight)
        masked = ops.where(weight > 0.0, features, ops.full_like(features, -1e30))
        return ops.amax(masked, axis=3)  # not ops.max: a torch.compile break

    def compute_output_shape(self, input_shape):
        shape = input_shape[0]
        return tuple(shape[:3]) + (shape[4],)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
