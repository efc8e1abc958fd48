"""Shared test helpers."""

import numpy as np
from keras import ops


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


def relative_error(actual, expected):
    """Largest absolute difference divided by the largest magnitude."""
    actual, expected = to_numpy(actual), to_numpy(expected)
    scale = np.abs(expected).max()
    assert scale > 0, "reference output is all zeros: the test cannot fail"
    return float(np.abs(actual - expected).max() / scale)


def equivariance_errors(fn, x, group):
    """Relative error of fn(T_g x) against T'_g fn(x), for every g != e."""
    x = ops.convert_to_tensor(x)
    reference = fn(x)
    errors = []
    for g in range(1, group.size):
        moved = fn(group.transform(x, g))
        expected = (
            group.transform(reference, g)
            if len(reference.shape) in (4, 5)
            else reference
        )
        errors.append(relative_error(moved, expected))
    return errors


def gradient(fn, value):
    """d fn(value) / d value on the current backend (value: float or array).

    Test-only helper: library code never imports a backend directly.
    """
    import keras

    backend = keras.backend.backend()
    value = np.asarray(value, dtype="float32")
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: fn(v))(value))
    if backend == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(value)
        with tf.GradientTape() as tape:
            out = fn(variable)
        return tape.gradient(out, variable).numpy()
    import torch

    tensor = torch.tensor(value, requires_grad=True)
    fn(tensor).backward()
    return tensor.grad.numpy()
