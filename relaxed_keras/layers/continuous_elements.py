"""Sampled group elements of the continuous layers and their geometry.

An elements tensor ``[N, 3]`` holds one sampled element of SE(2)/E(2) per
row: angle, mirror bit and Monte Carlo weight (`relaxed_keras.groups.
continuous`). Its helpers act with the elements on kernel coordinates
(Romero & Lohit 2022, Eq. 3-4) and keep the elements in float32 under mixed
precision.
"""

import keras
from keras import ops

from relaxed_keras import groups as groups_lib


def continuous_group(group, name):
    group = groups_lib.get(group)
    if not groups_lib.is_continuous(group):
        raise ValueError(
            f"{name} needs a continuous group `SE2(num_elements=N)` or "
            f"`E2(num_elements=N)` (or 'se2_<N>', 'e2_<N>'). Received: "
            f"group={group!r}"
        )
    return group


def check_float32_variables(layer):
    """Kernel generation (group elements, kernel network) runs in float32;
    only the convolution runs in the policy's compute dtype. Mixed policies
    (``"mixed_bfloat16"``, ``"mixed_float16"``) keep float32 variables and
    are supported; an all-low-precision policy is not."""
    if layer.dtype_policy.variable_dtype != "float32":
        raise ValueError(
            f"{type(layer).__name__} generates its kernels in float32: its dtype "
            "policy must keep float32 variables ('float32', 'mixed_bfloat16' or "
            f"'mixed_float16'). Received: dtype={layer.dtype_policy.name!r}"
        )


def standardize_inputs(layer, inputs):
    """Features -> the layer's compute dtype, elements -> float32.

    Continuous layers turn off Keras's input conversion (it would cast the
    group elements to the compute dtype too, e.g. bfloat16 angles, and
    break equivariance under mixed precision) and convert here instead.
    """

    def convert(x, dtype):
        if x is None or isinstance(x, keras.KerasTensor):
            return x
        return ops.cast(ops.convert_to_tensor(x), dtype)

    if isinstance(inputs, (list, tuple)) and inputs:
        return [convert(inputs[0], layer.compute_dtype)] + [
            convert(e, "float32") for e in inputs[1:]
        ]
    return convert(inputs, layer.compute_dtype)


def element_transform(elements):
    """Columns of an elements tensor: ``angle, mirror, weight`` ([N] each)."""
    elements = ops.convert_to_tensor(elements, dtype="float32")
    return elements[:, 0], elements[:, 1], elements[:, 2]


def inverse_act(angle, mirror, points):
    """``g^-1 p`` for ``g = R(angle) F^mirror``: ``[N] x [..., 2] -> [N, ..., 2]``.

    ``R(-angle)`` first, then the mirror ``x -> -x``.
    """
    extra = len(points.shape) - 1
    shape = (-1,) + (1,) * extra
    cos = ops.reshape(ops.cos(angle), shape)
    sin = ops.reshape(ops.sin(angle), shape)
    sign = ops.reshape(1.0 - 2.0 * mirror, shape)
    x, y = points[..., 0], points[..., 1]
    new_x = (x * cos + y * sin) * sign
    new_y = -x * sin + y * cos
    return ops.stack([new_x, new_y], axis=-1)


def relative_elements(out_elements, in_elements):
    """Group coordinates of ``u^-1 v`` for all output/input pairs.

    For ``u = R(a) F^m`` and ``v = R(b) F^n``:
    ``u^-1 v = R((-1)^m (b - a)) F^(m xor n)``. Returns ``[N_out, N_in, D]``
    with ``D = 2`` (``cos, sin`` of the relative angle) or 3 with the relative
    mirror as ``+-1`` when ``with_mirror``.
    """
    a, m, _ = element_transform(out_elements)
    b, n, _ = element_transform(in_elements)
    sign = 1.0 - 2.0 * m[:, None]
    delta = sign * (b[None, :] - a[:, None])
    xor = m[:, None] + n[None, :] - 2.0 * m[:, None] * n[None, :]
    return ops.cos(delta), ops.sin(delta), 1.0 - 2.0 * xor
