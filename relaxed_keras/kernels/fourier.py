"""Random Fourier features with per-dimension frequencies (van der Ouderaa,
Romero & van der Wilk 2022, Sec. 4.2, Eq. 7)."""

import math

from keras import ops


def fourier_features(alpha, projection, frequency):
    """``gamma_omega(alpha) = sqrt(1/D) [cos(2 pi W (alpha * omega));
    sin(2 pi W (alpha * omega))]``.

    Args:
        alpha: Lie-algebra coordinates ``[..., d]``.
        projection: the fixed random matrix ``W`` of shape ``[D, d]``.
        frequency: ``omega``, shape ``[d]`` (a tensor: it may be learned).

    Returns:
        ``[..., 2 D]``. A zero frequency makes the features constant in that
        dimension (``omega = 0`` everywhere gives ``[1, ..., 1, 0, ..., 0] /
        sqrt(D)`` for every input), which is what makes the special cases of
        the non-stationary layers exact.
    """
    projection = ops.convert_to_tensor(projection)
    num_features = projection.shape[0]
    scaled = alpha * frequency
    phase = 2.0 * math.pi * ops.matmul(scaled, ops.transpose(projection))
    scale = 1.0 / math.sqrt(num_features)
    return ops.concatenate([ops.cos(phase), ops.sin(phase)], axis=-1) * scale


def principal_angle(angle):
    """Principal logarithm of SO(2): the angle in ``[-pi, pi)``, divided by
    ``pi`` (so in ``[-1, 1)``, on the scale of the spatial coordinates).

    Angles within 1e-5 of ``+pi`` go to ``-pi`` so that float noise cannot
    send the same group element to the two ends of the interval (the kernel
    is discontinuous there).
    """
    wrapped = ops.mod(angle + math.pi, 2.0 * math.pi) - math.pi
    wrapped = ops.where(wrapped > math.pi - 1e-5, wrapped - 2.0 * math.pi, wrapped)
    return wrapped / math.pi
