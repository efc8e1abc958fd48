"""Assertions for users' own test suites (like e3nn's `assert_equivariant`).

Example:

>>> import numpy as np, relaxed_keras as rk
>>> layer = rk.layers.LiftingConv2D(4, 3, group="p4")
>>> x = np.random.rand(2, 9, 9, 1).astype("float32")
>>> rk.testing.assert_equivariant(layer, x, group="p4")
"""

import math

import keras
import numpy as np
from keras import ops

from relaxed_keras import groups as groups_lib
from relaxed_keras.diagnostics.equivariance_error import _features
from relaxed_keras.diagnostics.equivariance_error import output_transform


def _finite_tolerance(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and value >= 0
    ):
        raise ValueError(
            f"`{name}` must be a finite number >= 0. Received: {name}={value!r}"
        )
    return float(value)


def _describe(group, index):
    text = f"rotation {math.degrees(group.angle(index)):g} deg"
    return text + (", mirrored" if group.is_mirrored(index) else "")


def _call(fn, x):
    if isinstance(fn, keras.layers.Layer):
        return _features(fn(x, training=False))
    return _features(fn(x))


def assert_equivariant(fn, x, group="p4", atol=1e-5, rtol=1e-5, elements=None):
    """Assert ``fn(T_g x) == T'_g fn(x)`` for every group element ``g``.

    ``T_g`` acts on the input (images ``[B, H, W, C]`` or group feature
    maps ``[B, H, W, |G|, C]``), ``T'_g`` on the output: the regular action
    on group feature maps, the spatial action on ``[B, H, W, C]`` maps and
    the identity on outputs without spatial axes (invariant logits or
    features). Layers and models run in inference mode; of a continuous
    layer's ``(features, elements)`` output the features are compared.

    Args:
        fn: a Keras layer or model, or any function of one tensor.
        x: a batch of inputs (numpy or tensor).
        group: the group: a name (``"p4"``, ``"p4m"``, ...) or a group.
        atol, rtol: the assertion holds for element ``g`` when
            ``max |fn(T_g x) - T'_g fn(x)| <= atol + rtol * max |T'_g fn(x)|``.
        elements: element indices to test (default: every non-identity
            element).

    Raises:
        AssertionError: listing the measured error of every element, for
            the elements where it exceeds the tolerance.
    """
    group = groups_lib.get(group)
    atol, rtol = _finite_tolerance(atol, "atol"), _finite_tolerance(rtol, "rtol")
    if elements is None:
        elements = range(1, group.size)
    elements = [int(index) for index in elements]
    bad = [index for index in elements if not 0 <= index < group.size]
    if bad:
        raise ValueError(
            f"`elements` must be indices in [0, {group.size}) of {group!r}. "
            f"Received: {bad}"
        )
    x = ops.convert_to_tensor(np.asarray(ops.convert_to_numpy(x), dtype="float32"))
    reference = _call(fn, x)
    rows, failed = [], []
    for index in elements:
        actual = ops.convert_to_numpy(_call(fn, group.transform(x, index)))
        expected = ops.convert_to_numpy(output_transform(group, reference, index))
        if actual.shape != expected.shape:
            raise AssertionError(
                f"element {index}: output shape {actual.shape} against "
                f"{expected.shape} for the untransformed input"
            )
        error = float(np.max(np.abs(actual - expected))) if actual.size else 0.0
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        limit = atol + rtol * scale
        rows.append(f"  element {index} ({_describe(group, index)}): max abs "
                    f"error {error:.3g}, allowed {limit:.3g}")
        if not error <= limit:  # NaN fails
            failed.append(index)
    if failed:
        raise AssertionError(
            f"not equivariant to {group!r} at elements {failed} "
            f"(atol={atol}, rtol={rtol}):\n" + "\n".join(rows)
        )
