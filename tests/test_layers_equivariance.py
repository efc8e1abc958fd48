"""Exact equivariance where theory says exact, measured errors where not."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import equivariance_errors

EXACT = 1e-5
GROUPS = ["p4", "p4m"]


def assert_exact(fn, x, group):
    """The public assertion at the tests' exactness level: the largest
    error below ``EXACT`` times the largest output magnitude."""
    rk.testing.assert_equivariant(fn, x, group, atol=0.0, rtol=EXACT)


def stack(group, use_bias=True, batch_norm=False, padding="same", pool=2,
          batch_norm_class=keras.layers.BatchNormalization):
    """Lifting conv -> [BN] -> ReLU -> group conv -> max pool -> group conv.

    ``pool=2`` keeps even maps exact, ``pool=3`` (stride 2) odd ones."""
    layers = [
        rk.layers.LiftingConv2D(6, 3, group, padding=padding, use_bias=use_bias)
    ]
    if batch_norm:
        layers.append(batch_norm_class())
    layers += [
        keras.layers.ReLU(),
        rk.layers.GroupConv2D(5, 3, group, padding=padding, use_bias=use_bias),
        rk.layers.GroupMaxPooling2D(pool, strides=2),
        rk.layers.GroupConv2D(4, 4, group, use_bias=use_bias),  # even kernel
    ]
    return layers


def run(layers, x, training=False):
    for layer in layers:
        x = layer(x, training=training) if isinstance(
            layer, keras.layers.BatchNormalization
        ) else layer(x)
    return x


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("size", [12, 13])
@pytest.mark.parametrize("use_bias", [True, False])
def test_stride_one_stacks_are_exactly_equivariant(group, size, use_bias):
    group = rk.groups.get(group)
    layers = stack(group, use_bias=use_bias, pool=2 if size % 2 == 0 else 3)
    x = np.random.rand(2, size, size, 3).astype("float32")
    assert_exact(lambda t: run(layers, t), x, group)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("size", [11, 12])
def test_odd_and_even_inputs_without_pooling(group, size):
    group = rk.groups.get(group)
    layers = [
        rk.layers.LiftingConv2D(4, 3, group, padding="same"),
        rk.layers.GroupConv2D(4, 3, group),
        rk.layers.GroupConv2D(3, 2, group),
    ]
    x = np.random.rand(2, size, size, 2).astype("float32")
    assert_exact(lambda t: run(layers, t), x, group)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(
    "batch_norm_class",
    [keras.layers.BatchNormalization, rk.layers.BatchNormalization],
    ids=["keras", "relaxed_keras"],
)
def test_batch_normalization_keeps_equivariance(group, training, batch_norm_class):
    """Batch normalisation (Keras's layer and relaxed_keras's folded fast
    path) normalises per channel over batch, space and group in this
    layout, so it commutes with the group action both with batch
    statistics (training) and with moving statistics (inference)."""
    group = rk.groups.get(group)
    layers = stack(group, batch_norm=True, batch_norm_class=batch_norm_class)
    bn = layers[1]
    x = np.random.rand(4, 12, 12, 3).astype("float32") * 3 + 1
    run(layers, x, training=True)  # move the statistics away from 0/1
    assert np.abs(keras.ops.convert_to_numpy(bn.moving_mean)).max() > 0
    assert_exact(lambda t: run(layers, t, training), x, group)


@pytest.mark.parametrize("group", GROUPS)
def test_stride_two_exact_only_when_eq3_holds(group):
    """(i - k) mod s == 0 at i=33 (exact) but not at i=32 (broken).

    When broken, the 90-degree rotation (element 1, errors[0]) is off; the
    diagonal mirrors of p4m keep the even grid and stay exact."""
    group = rk.groups.get(group)
    lift = rk.layers.LiftingConv2D(4, 3, group, strides=2)
    conv = rk.layers.GroupConv2D(4, 3, group, strides=2)
    x33 = np.random.rand(2, 33, 33, 1).astype("float32")
    x32 = x33[:, :32, :32]
    assert_exact(lift, x33, group)
    assert equivariance_errors(lift, x32, group)[0] > 1e-3
    g33 = lift(x33)  # 16x16: (16 - 3) mod 2 = 1 -> broken
    g31 = lift(x33[:, :31, :31])  # 15x15: (15 - 3) mod 2 = 0 -> exact
    assert_exact(conv, g31, group)
    assert equivariance_errors(conv, g33, group)[0] > 1e-3


@pytest.mark.parametrize("pooling", ["max", "average"])
def test_strided_pooling_exactness(pooling):
    group = rk.groups.get("p4m")
    cls = {
        "max": rk.layers.GroupMaxPooling2D,
        "average": rk.layers.GroupAveragePooling2D,
    }[pooling]
    x = np.random.rand(2, 9, 9, 8, 3).astype("float32")
    assert max(equivariance_errors(cls(3, strides=2), x, group)) < EXACT
    assert equivariance_errors(cls(2), x, group)[0] > 1e-3
    # "same" pads 1+1 at 9x9 with k=3, s=2: symmetric and exact;
    # at 10x10 it pads 0+1 and breaks; "same_equiv" cannot fix parity.
    same = cls(3, strides=2, padding="same")
    assert max(equivariance_errors(same, x, group)) < EXACT
    x10 = np.random.rand(2, 10, 10, 8, 3).astype("float32")
    assert equivariance_errors(same, x10, group)[0] > 1e-3


@pytest.mark.parametrize("padding", ["valid_equiv", "same_equiv"])
def test_equivariant_padding_modes(padding):
    group = rk.groups.get("p4")
    layer = rk.layers.LiftingConv2D(3, 3, group, strides=3, padding=padding)
    # 21 with k=3, s=3: valid_equiv needs no padding ((21 - 3) mod 3 = 0);
    # same_equiv starts from 1+1 (mod 3 = 2) and adds 2 per side (mod 0).
    x = np.random.rand(2, 21, 21, 1).astype("float32")
    out = layer(x)
    expected = {"valid_equiv": 7, "same_equiv": 9}[padding]
    assert out.shape[1] == expected
    assert max(equivariance_errors(layer, x, group)) < EXACT
    # Parity makes even strides impossible for odd (i - k): clear error.
    even = rk.layers.LiftingConv2D(3, 3, group, strides=2, padding=padding)
    with pytest.raises(ValueError, match="cannot make this layer exactly"):
        even(np.zeros((1, 32, 32, 1), "float32"))


def test_dilated_convolution_is_exact_and_pads_for_the_dilated_kernel():
    group = rk.groups.get("p4m")
    layer = rk.layers.LiftingConv2D(2, 3, group, dilation_rate=2, padding="same")
    x = np.random.rand(2, 14, 14, 1).astype("float32")
    assert layer(x).shape[1] == 14  # effective kernel 5: 2 + 2 padding
    assert max(equivariance_errors(layer, x, group)) < EXACT
    with pytest.raises(ValueError, match="dilation_rate"):
        rk.layers.LiftingConv2D(2, 3, group, strides=2, dilation_rate=2)


def test_eight_rotations_are_approximately_equivariant():
    """Order 8 rotates kernels by bilinear interpolation: the 45-degree
    elements carry a measurable error, the 90-degree ones stay exact."""
    group = rk.CyclicGroup(8)
    layer = rk.layers.LiftingConv2D(4, 5, group)
    x = rk.groups.circle_crop(np.random.rand(2, 25, 25, 1).astype("float32"))
    errors = equivariance_errors(layer, x, group)
    assert max(errors[1::2]) < EXACT  # elements 2, 4, 6: multiples of 90
    assert 1e-3 < min(errors[0::2]) and max(errors[0::2]) < 1.0


def test_spatial_layer_normalization_is_equivariant_and_normalises():
    group = rk.groups.get("p4m")
    layer = rk.layers.SpatialLayerNormalization()
    x = np.random.rand(2, 6, 6, 8, 3).astype("float32") * 5 + 2
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1.0, atol=1e-3)
    assert max(equivariance_errors(layer, x, group)) < EXACT
