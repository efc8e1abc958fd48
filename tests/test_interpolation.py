"""Bilinear rotation: correct at grid angles, differentiable in the angle."""

import math

import keras
import numpy as np
import pytest
from keras import ops

import relaxed_keras as rk
from tests.helpers import gradient
from tests.helpers import relative_error
from tests.helpers import to_numpy


def test_bilinear_rotation_by_90_matches_rot90():
    x = np.random.rand(2, 7, 7, 3).astype("float32")
    rotated = rk.groups.rotate_images(x, math.pi / 2)
    assert relative_error(rotated, ops.rot90(x, 1, axes=(1, 2))) < 1e-5


def test_rotation_of_group_feature_maps_keeps_trailing_axes():
    x = np.random.rand(2, 7, 7, 4, 3).astype("float32")
    rotated = rk.groups.rotate_images(x, math.pi)
    assert tuple(rotated.shape) == x.shape
    assert relative_error(rotated, x[:, ::-1, ::-1]) < 1e-5


def test_per_image_angles():
    x = np.random.rand(2, 5, 5, 1).astype("float32")
    out = rk.groups.rotate_images(x, np.array([0.0, math.pi], "float32"))
    assert relative_error(out[0], x[0]) < 1e-6
    assert relative_error(out[1], x[1, ::-1, ::-1]) < 1e-5


def test_gradient_reaches_the_angle():
    x = ops.convert_to_tensor(np.random.rand(1, 9, 9, 1).astype("float32"))

    def loss(angle):
        return ops.sum(rk.groups.rotate_images(x, angle) * x)

    angle = 0.3
    grad = float(gradient(loss, angle))
    eps = 1e-3
    numeric = (
        float(to_numpy(loss(angle + eps))) - float(to_numpy(loss(angle - eps)))
    ) / (2 * eps)
    assert np.isfinite(grad) and abs(grad) > 1e-3
    assert grad == pytest.approx(numeric, rel=0.05)


def test_rotation_of_a_single_image_without_batch_axis_is_refused():
    with pytest.raises(ValueError, match=r"rank 4 \[batch, height, width"):
        rk.groups.rotate_images(np.ones((5, 5, 1), "float32"), 0.3)


def test_bfloat16_rotation_samples_at_float32_positions():
    """Positions and weights stay float32 for bfloat16 images: the result
    equals the float32 rotation of the same image to the output's rounding
    (bfloat16 positions gave errors of 0.03 at 64 px)."""
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    image = ops.cast((np.sin(6 * xx) * np.cos(5 * yy))[None, :, :, None], "bfloat16")
    low = rk.groups.rotate_images(image, 0.3)
    assert keras.backend.standardize_dtype(low.dtype) == "bfloat16"
    reference = rk.groups.rotate_images(ops.cast(image, "float32"), 0.3)
    assert np.abs(to_numpy(ops.cast(low, "float32")) - to_numpy(reference)).max() < 8e-3


def test_circle_crop_zeroes_corners_only():
    x = np.ones((1, 8, 8, 2), "float32")
    out = to_numpy(rk.groups.circle_crop(x))
    assert out[0, 0, 0, 0] == 0 and out[0, 4, 4, 0] == 1
    assert out[0, 0, 3, 0] == 1  # edge midpoint is inside the circle
