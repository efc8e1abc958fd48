"""Augerino (Benton et al. 2020): learned rotation augmentation averaged at
the output, the baseline of Romero & Lohit (2022), Sec. 5, Tab. 2."""

import math

import keras
from keras import ops

from relaxed_keras import random as rk_random
from relaxed_keras.arguments import finite_float
from relaxed_keras.arguments import non_negative_float
from relaxed_keras.groups.interpolation import rotate_images
from relaxed_keras.layers.partial_group_conv import Clip


@keras.saving.register_keras_serializable(package="relaxed_keras")
class Augerino(keras.layers.Layer):
    """Average a network's logits over ``K`` learned rotations of its input.

    Each call draws ``K`` angles from ``U(-pi theta, pi theta)`` (stratified:
    one shared uniform offset, as `PartialGroupConv2D`), rotates the input
    by each (bilinear, zero fill, with the library's own interpolation so
    that ``theta`` receives gradients: ``keras.ops.image.affine_transform``
    passes none), runs ``network`` on all ``K * B`` images in one batch and
    averages the ``K`` outputs. In inference the angles are the fixed
    midpoint grid (deterministic; the reference draws them at test time
    too). ``theta`` (a weight, ``[0, 1]``) learns with the other weights, as
    in the reference code.

    Args:
        network: a Keras layer or model mapping images to logits.
        num_samples: ``K`` (8 in the paper).
        initial_theta: start value of ``theta`` (fraction of the circle).
        width_penalty: ``lambda`` of Benton et al.'s regulariser, which
            rewards wide distributions: ``- lambda * (pi theta)^2`` is added
            to the losses (0 disables it, as the reference code).
        seed: seed of the angle sampler.

    Example:

    >>> net = keras.Sequential([keras.layers.Flatten(), keras.layers.Dense(2)])
    >>> model = Augerino(net, num_samples=4)
    >>> tuple(model(np.zeros((3, 8, 8, 1), "float32")).shape)
    (3, 2)
    """

    def __init__(
        self,
        network,
        num_samples=8,
        initial_theta=0.1,
        width_penalty=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(network, dict):
            network = keras.saving.deserialize_keras_object(network)
        if not isinstance(network, keras.layers.Layer):
            raise ValueError(
                "`network` must be a Keras layer or model. "
                f"Received: network={network!r}"
            )
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(
                f"`num_samples` must be a positive integer. Received: {num_samples!r}"
            )
        initial_theta = finite_float(initial_theta, "initial_theta")
        if not 0.0 <= initial_theta <= 1.0:
            raise ValueError(
                f"`initial_theta` must be in [0, 1]. Received: {initial_theta!r}"
            )
        # A negative penalty would reward a narrow range.
        width_penalty = non_negative_float(width_penalty, "width_penalty")
        self.network = network
        self.num_samples = num_samples
        self.initial_theta = initial_theta
        self.width_penalty = width_penalty
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "Augerino expects images [batch, height, width, channels]. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.theta = self.add_weight(
            autocast=False,  # float32 geometry under mixed precision
            name="theta",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_theta),
            constraint=Clip(0.0, 1.0),
        )
        if not self.network.built:
            self.network.build(input_shape)

    def learned_theta(self):
        return ops.convert_to_tensor(self.theta)

    def equivariance_summary(self):
        return {
            "group": "SO(2) input augmentation",
            "rotation_range_deg": 360.0 * self.learned_theta(),
            "mirror_probability": None,
        }

    def angles(self, training):
        k = self.num_samples
        position = ops.arange(k, dtype="float32")
        if training:
            position = position + rk_random.uniform(
                (), 0.0, 1.0, seed_generator=self.seed_generator
            )
        else:
            position = position + 0.5
        return math.pi * self.learned_theta() * (2.0 * position / k - 1.0)

    def call(self, inputs, training=None):
        k = self.num_samples
        batch = ops.shape(inputs)[0]
        angles = self.angles(bool(training))
        tiled = ops.concatenate([inputs] * k, axis=0)
        per_image = ops.repeat(angles, batch, axis=0)
        rotated = rotate_images(tiled, per_image)
        outputs = self.network(rotated, training=training)
        outputs = ops.reshape(outputs, (k, batch) + tuple(outputs.shape[1:]))
        if self.width_penalty:
            self.add_loss(-self.width_penalty * (math.pi * self.learned_theta()) ** 2)
        return ops.mean(outputs, axis=0)

    def compute_output_shape(self, input_shape):
        return self.network.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "network": keras.saving.serialize_keras_object(self.network),
                "num_samples": self.num_samples,
                "initial_theta": self.initial_theta,
                "width_penalty": self.width_penalty,
                "seed": self.seed,
            }
        )
        return config
