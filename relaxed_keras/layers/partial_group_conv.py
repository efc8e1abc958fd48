"""Partial group convolution: the layer learns which subset of SE(2)/E(2)
it is equivariant to (Romero & Lohit 2022, Sec. 3.2-3.4, Eq. 6)."""

import math

import keras
from keras import ops

from relaxed_keras import random as rk_random
from relaxed_keras.arguments import finite_float
from relaxed_keras.arguments import positive_int
from relaxed_keras.layers.constants import float_vector
from relaxed_keras.layers.continuous_conv import ContinuousGroupConv2D


@keras.saving.register_keras_serializable(package="relaxed_keras")
class Clip(keras.constraints.Constraint):
    """Clip a weight into ``[min_value, max_value]`` after every update."""

    def __init__(self, min_value, max_value):
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        # An empty interval has no meaning (`ops.clip` would silently return
        # one of the bounds) and a NaN bound would make every weight NaN.
        if not self.min_value <= self.max_value:
            raise ValueError(
                "Clip needs min_value <= max_value (numbers, not NaN). "
                f"Received: min_value={min_value!r}, max_value={max_value!r}"
            )

    def __call__(self, w):
        return ops.clip(w, self.min_value, self.max_value)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}


@keras.saving.register_keras_serializable(package="relaxed_keras")
class PartialGroupConv2D(ContinuousGroupConv2D):
    """Continuous group convolution whose output domain is learned.

    Its output elements are drawn from a learned distribution on the group
    (Sec. 3.4): rotations uniform on ``[-pi theta, pi theta)`` and, for
    `E2`, the mirrored copies present with a learned probability ``p``.
    ``theta = 1`` and ``p = 1`` is the full group (the strict layer);
    ``theta -> 0`` and ``p -> 0`` forget the equivariance.

    **Rotations.** ``N_rot`` stratified samples ``pi theta (2 (i + eps) /
    N_rot - 1)`` with one ``eps ~ U[0, 1)`` per call in training and, in
    inference, ``eps = 0`` for even ``N_rot`` and ``1/2`` for odd
    ``N_rot``: a deterministic grid that contains the identity, and with
    ``theta = 1`` the strict grid, for every ``N_rot``.
    The samples are ordered so that element 0 is the one nearest the
    identity. All of them are reparameterised in ``theta``, so the gradient
    reaches ``theta`` through every sampled angle (the reference code takes
    the grid spacing from ``theta.item()``, which stops that part).

    **Mirrors (E(2)).** One relaxed Bernoulli (Gumbel-sigmoid) draw per call
    with the straight-through estimator: forward ``hard = soft > 0.5``,
    backward through ``soft = sigmoid((logit + logistic noise) / tau)``.
    ``tau`` decays linearly from ``temperature_start`` to
    ``temperature_end`` over ``temperature_decay_steps`` training calls (a
    counter in the layer state moves only in training; the callback
    `relaxed_keras.callbacks.GumbelTemperatureSchedule` sets the horizon to
    ``epochs * steps_per_epoch`` at the start of `fit`, as the reference).
    Inference uses the mode ``p > 0.5``.

    **Static shapes.** The reference drops the mirrored elements when the
    draw is 0 (changing the number of samples and shapes per call). Here the
    layer always outputs ``N`` elements; a switched-off element has weight 0
    in the elements tensor: its features are zeroed, the next layer's Monte
    Carlo average (``mu(v_j) = w_j / sum w``) ignores it and
    `ContinuousGroupPooling` skips it. So ``jit_compile=True`` works and the
    result equals the reference's smaller sample.

    **Learning rate of the distribution.** Weights ``theta`` and
    ``mirror_logit`` store the scaled parameters ``theta / c`` and
    ``logit / c`` with ``c = distribution_lr_factor`` (default 0.1): the
    layer uses ``c * weight``. Any optimizer then updates the distribution
    more slowly without per-variable learning rates: Adam's step (invariant
    to the gradient scale) is multiplied by ``c`` (10x slower at the
    default, as the reference's ``lr_probs = lr / 10``); plain SGD's by
    ``c^2`` (pass ``c = sqrt(0.1)`` for a 10x slower SGD). Read the values
    with `learned_theta()` and `mirror_probability()`. ``theta`` is kept in
    ``[min_theta, 1]`` by a constraint.

    Deterministic inference differs from the reference, whose test
    predictions are random; `relaxed_keras.diagnostics.stochastic_predict`
    averages ``K`` stochastic passes instead.

    Args:
        filters, kernel_size, group, **kwargs: as `ContinuousGroupConv2D`.
        distribution_lr_factor: ``c`` above (``> 0``).
        initial_theta: start value of ``theta`` in ``[min_theta, 1]`` (1 =
            the full circle).
        initial_mirror_logit: start logit of ``p`` (2.0: ``p = 0.88``, the
            reference's ``sigmoid(2 * 1)``).
        min_theta: lower bound of ``theta``, in ``(0, 1]``.
        temperature_start, temperature_end, temperature_decay_steps: the
            Gumbel-sigmoid temperature schedule (temperatures ``> 0``, the
            number of steps a positive integer).

    Example:

    >>> lift = ContinuousLiftingConv2D(8, 5, group=SE2(num_elements=8))
    >>> partial = PartialGroupConv2D(8, 5, group=SE2(num_elements=8))
    >>> x, g = partial(lift(np.zeros((2, 28, 28, 1), "float32")))
    >>> float(partial.learned_theta())
    1.0
    """

    def __init__(
        self,
        filters,
        kernel_size,
        group="se2_8",
        distribution_lr_factor=0.1,
        initial_theta=1.0,
        initial_mirror_logit=2.0,
        min_theta=1e-3,
        temperature_start=0.5,
        temperature_end=1e-4,
        temperature_decay_steps=1000,
        **kwargs,
    ):
        # Its output elements are its own samples, never the input's.
        if kwargs.pop("resample", True) is not True:
            raise ValueError(
                "PartialGroupConv2D always resamples (its output elements "
                "are drawn from its learned distribution); `resample` can "
                "only be True. For a layer that keeps the input's elements, "
                "use ContinuousGroupConv2D(resample=False)."
            )
        super().__init__(filters, kernel_size, group, resample=True, **kwargs)
        self.distribution_lr_factor = finite_float(
            distribution_lr_factor, "distribution_lr_factor", positive=True
        )
        self.initial_theta = finite_float(initial_theta, "initial_theta")
        self.initial_mirror_logit = finite_float(
            initial_mirror_logit, "initial_mirror_logit"
        )
        self.min_theta = finite_float(min_theta, "min_theta")
        if not 0 < self.min_theta <= self.initial_theta <= 1:
            raise ValueError(
                "Need 0 < min_theta <= initial_theta <= 1. Received: "
                f"min_theta={min_theta!r}, initial_theta={initial_theta!r}"
            )
        # The Gumbel-sigmoid divides by the temperature.
        self.temperature_start = finite_float(
            temperature_start, "temperature_start", positive=True
        )
        self.temperature_end = finite_float(
            temperature_end, "temperature_end", positive=True
        )
        self.temperature_decay_steps = positive_int(
            temperature_decay_steps, "temperature_decay_steps"
        )
        # Python switch read by `stochastic_predict` (not part of the config).
        self.stochastic_inference = False

    def build_distribution(self):
        c = self.distribution_lr_factor
        self.theta = self.add_weight(
            autocast=False,  # float32 geometry under mixed precision
            name="theta",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_theta / c),
            constraint=Clip(self.min_theta / c, 1.0 / c),
        )
        if self.group.mirror:
            self.mirror_logit = self.add_weight(
                autocast=False,  # float32 geometry under mixed precision
                name="mirror_logit",
                shape=(),
                initializer=keras.initializers.Constant(self.initial_mirror_logit / c),
            )
            self.gumbel_step = self.add_weight(
                autocast=False,  # float32 geometry under mixed precision
                name="gumbel_step", shape=(), initializer="zeros", trainable=False
            )
            self.gumbel_decay_steps = self.add_weight(
                autocast=False,  # float32 geometry under mixed precision
                name="gumbel_decay_steps",
                shape=(),
                initializer=keras.initializers.Constant(
                    float(self.temperature_decay_steps)
                ),
                trainable=False,
            )
        else:
            self.mirror_logit = None

    # ------------------------------------------------------------------
    def learned_theta(self):
        """``theta`` in ``(0, 1]`` (fraction of the circle sampled)."""
        value = self.distribution_lr_factor * ops.convert_to_tensor(self.theta)
        return ops.clip(value, self.min_theta, 1.0)

    def mirror_probability(self):
        """``p`` of sampling the mirrored elements (1.0 for `SE2`)."""
        if self.mirror_logit is None:
            return ops.convert_to_tensor(1.0)
        logit = self.distribution_lr_factor * ops.convert_to_tensor(self.mirror_logit)
        return ops.sigmoid(logit)

    def temperature(self, step=None):
        """Current Gumbel-sigmoid temperature (at ``step``, default the
        layer's counter)."""
        if self.mirror_logit is None:
            return ops.convert_to_tensor(self.temperature_end)
        if step is None:
            step = ops.convert_to_tensor(self.gumbel_step)
        horizon = ops.convert_to_tensor(self.gumbel_decay_steps)
        fraction = ops.minimum(step / horizon, 1.0)
        return self.temperature_start + (
            self.temperature_end - self.temperature_start
        ) * fraction

    def equivariance_summary(self):
        return {
            "group": repr(self.group),
            "rotation_range_deg": 360.0 * self.learned_theta(),
            "mirror_probability": (
                self.mirror_probability() if self.group.mirror else None
            ),
        }

    def rotation_angles(self, random):
        n = self.group.num_rotations
        theta = self.learned_theta()
        order = [float((i + n // 2) % n) for i in range(n)]
        position = float_vector(order)
        if random:
            position = position + rk_random.uniform(
                (), 0.0, 1.0, seed_generator=self.seed_generator
            )
        elif n % 2:
            # Odd N_rot: the half-step puts sample 0 on the identity.
            position = position + 0.5
        return math.pi * theta * (2.0 * position / n - 1.0)

    def mirror_weight(self, random, step=None):
        p_logit = self.distribution_lr_factor * ops.convert_to_tensor(self.mirror_logit)
        if not random:
            return ops.cast(p_logit > 0.0, "float32")
        u = rk_random.uniform(
            (), 1e-6, 1.0 - 1e-6, seed_generator=self.seed_generator
        )
        noise = ops.log(u) - ops.log(1.0 - u)
        temperature = ops.stop_gradient(self.temperature(step))
        soft = ops.sigmoid((p_logit + noise) / temperature)
        hard = ops.cast(soft > 0.5, "float32")
        return hard + soft - ops.stop_gradient(soft)

    def output_elements(self, in_elements, training):
        random = bool(training) or self.stochastic_inference
        angles = self.rotation_angles(random and self.sample_offset)
        weight = None
        if self.mirror_logit is not None:
            step = None
            if training:
                # The counter's value before its update, kept for the
                # backward pass (`read_state`: a compiled torch step
                # recomputed the temperature there from the advanced
                # counter).
                step = rk_random.read_state(self.gumbel_step)
                self.gumbel_step.assign(step + 1.0)
            weight = self.mirror_weight(random, step)
        return self.group.elements_from_angles(angles, mirror_weight=weight)

    def get_config(self):
        config = super().get_config()
        config.pop("resample", None)
        config.update(
            {
                "distribution_lr_factor": self.distribution_lr_factor,
                "initial_theta": self.initial_theta,
                "initial_mirror_logit": self.initial_mirror_logit,
                "min_theta": self.min_theta,
                "temperature_start": self.temperature_start,
                "temperature_end": self.temperature_end,
                "temperature_decay_steps": self.temperature_decay_steps,
            }
        )
        return config
