"""Dropout for feature maps on a group."""

import keras

from relaxed_keras import random as rk_random


@keras.saving.register_keras_serializable(package="relaxed_keras")
class Dropout(keras.layers.Dropout):
    """`keras.layers.Dropout` with a counter-based mask (all backends).

    The same layer, arguments and distribution: in training every entry
    (or every entry of ``noise_shape``, broadcast) is dropped independently
    with probability ``rate`` and the others are scaled by
    ``1 / (1 - rate)``; identity in inference. The mask comes from
    `relaxed_keras.random.dropout`, which hashes (seed, step, entry) with
    `keras.ops` integer arithmetic instead of drawing from the backend's
    generator:

    - it is cheaper where a dropout mask costs as much as a convolution
      (JAX's threefry masks took about a tenth of a P4CNN training step on
      2 CPU cores; the training rows of BENCHMARKS.md, "P4CNN against
      e2cnn and the dense limit (CPU, interleaved rounds)", use this mask);
    - the same seed gives the same masks on TensorFlow, JAX and torch;
    - a seeded layer compiles into one torch.compile graph (Keras's seeded
      torch dropout is a graph break).

    The stream of masks is not Keras's: a model trained with
    `keras.layers.Dropout` and the same seed draws different masks here.
    Weights and configs are Keras's (same name and arguments).

    Example:

    >>> x = keras.ops.ones((8, 14, 14, 4, 10))
    >>> y = relaxed_keras.layers.Dropout(0.3, seed=0)(x, training=True)
    >>> values = keras.ops.convert_to_numpy(y)
    >>> round(float((values == 0).mean()), 2), round(float(values.max()), 4)
    (0.3, 1.4286)
    """

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        if self.rate >= 1:
            # Keras's Dropout(1.0) drops everything (no 1 / (1 - rate) scale).
            return keras.ops.zeros_like(inputs)
        return rk_random.dropout(
            inputs, self.rate, self.noise_shape, seed_generator=self.seed_generator
        )
