"""Dropout for feature maps on a group."""

import keras
from keras import ops

from relaxed_keras.layers.spatial import fold_group_axis
from relaxed_keras.layers.spatial import folds_group_axis


@keras.saving.register_keras_serializable(package="relaxed_keras")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout`, faster on ``[B, H, W, |G|, C]``.

    The same layer and distribution: every entry is dropped independently
    with probability ``rate`` in training, the others scaled by
    ``1 / (1 - rate)``; identity in inference. On TensorFlow and JAX a
    rank-5 input without ``noise_shape`` draws its mask on the folded
    ``[B, H, W, |G| C]`` view, which XLA fuses and vectorises where the
    rank-5 mask (minor axis: the C channels of one group element) falls out
    of the fusion (JAX P4CNN training on CPU, BENCHMARKS.md). Everything
    else is Keras's code.

    Example:

    >>> x = keras.ops.ones((8, 14, 14, 4, 10))
    >>> y = relaxed_keras.layers.Dropout(0.3, seed=0)(x, training=True)
    >>> sorted(set(keras.ops.convert_to_numpy(y).ravel().round(4).tolist()))
    [0.0, 1.4286]
    """

    def call(self, inputs, training=False):
        if (
            not training
            or self.rate == 0
            or self.noise_shape is not None
            or len(inputs.shape) != 5
            or not folds_group_axis()
        ):
            return super().call(inputs, training=training)
        dropped = keras.random.dropout(
            fold_group_axis(inputs), self.rate, seed=self.seed_generator
        )
        return ops.reshape(dropped, ops.shape(inputs))
