"""The learned domain frequency ``omega'`` of the soft layers.

Van der Ouderaa et al. (2022) learn ``omega'`` by gradient descent with the
penalty ``lambda ||omega'||^2`` (Sec. 5.3, Table 3: lambda from 0.001 to
5); ``omega' = 0`` is the strictly equivariant layer, and ``omega'`` is
non-negative (its sign only mirrors the random Fourier features). The
paper does not say how the sign is kept; there is no public code.

* ``"softplus"`` (default): the weight ``u`` is unconstrained and
  ``omega' = c * softplus(u)``. ``omega'`` stays positive and can approach
  0 smoothly, so the penalty pulls it towards strictness instead of into a
  clip: with the clip of ``"linear"``, a value started at 0 never left it
  (every step towards negative values was clipped back) and one started at
  2.0 moved by at most 0.03 in the zoo's trainings.
* ``"linear"``: ``omega' = c * u`` clipped to ``[0, max_omega_prime]``
  after every update (the form of the presets trained before softplus).

``c`` is ``omega_prime_lr_factor`` (1.0 by default: Adam then moves ``u``
at the kernels' learning rate).
"""

import math

import keras
from keras import ops

PARAMETRIZATIONS = ("softplus", "linear")


def inverse_softplus(value):
    """``u`` with ``softplus(u) = value`` (``value > 0``)."""
    return value + math.log(-math.expm1(-value))


class UpperBound(keras.constraints.Constraint):
    """``min(w, max_value)`` after every update."""

    def __init__(self, max_value):
        self.max_value = float(max_value)

    def __call__(self, w):
        return ops.minimum(w, self.max_value)

    def get_config(self):
        return {"max_value": self.max_value}


class OmegaPrimeParametrization:
    """Maps the stored weight to ``omega'`` and back.

    Args:
        parametrization: one of `PARAMETRIZATIONS`.
        scale: ``c`` (positive).
        max_omega_prime: upper bound of ``omega'`` (positive).
    """

    def __init__(self, parametrization, scale, max_omega_prime):
        if parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                "`omega_prime_parametrization` must be one of "
                f"{PARAMETRIZATIONS}. Received: "
                f"omega_prime_parametrization={parametrization!r}"
            )
        self.parametrization = parametrization
        self.scale = scale
        self.max_omega_prime = max_omega_prime

    def check_start(self, values, where):
        """A learned ``omega'`` must start inside the range it can take."""
        low_ok = (lambda v: v > 0) if self.parametrization == "softplus" else (
            lambda v: v >= 0)
        bad = {d: v for d, v in values.items()
               if not (low_ok(v) and v <= self.max_omega_prime)}
        if bad:
            low = "(0" if self.parametrization == "softplus" else "[0"
            hint = (" softplus reaches 0 only in the limit: start at a small "
                    "positive value, or fix omega' at 0 (learn_omega_prime="
                    "False) for a strict layer."
                    if self.parametrization == "softplus" else "")
            raise ValueError(
                f"A learned `omega_prime` must start in {low}, "
                f"max_omega_prime={self.max_omega_prime}] with "
                f"omega_prime_parametrization={self.parametrization!r}. "
                f"Received: {where} (dimensions {bad}).{hint}"
            )

    def to_weight(self, omega_prime):
        """The stored weight of one ``omega'`` value."""
        value = omega_prime / self.scale
        if self.parametrization == "softplus":
            return inverse_softplus(value)
        return value

    def constraint(self):
        bound = self.max_omega_prime / self.scale
        if self.parametrization == "softplus":
            return UpperBound(inverse_softplus(bound))
        from relaxed_keras.layers.partial_group_conv import Clip

        return Clip(0.0, bound)

    def value(self, weight):
        """``omega'`` (a tensor) of the stored weight."""
        weight = ops.convert_to_tensor(weight)
        if self.parametrization == "softplus":
            return self.scale * ops.softplus(weight)
        return self.scale * weight

    def penalty(self, strength):
        """The regulariser ``strength * ||omega'||^2`` of the weight, or
        ``None`` for strength 0."""
        if not strength:
            return None

        def regularizer(weight):
            return strength * ops.sum(ops.square(self.value(weight)))

        return regularizer
