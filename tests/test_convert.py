"""`rk.convert.relax`: a strict zoo model becomes a relaxed one with the
same logits (1e-4), trainable relaxation parameters that receive
gradients, banks that differ; wrong sources are errors."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import relative_error
from tests.helpers import to_numpy


def _images(model, count=8):
    return np.random.RandomState(0).rand(count, *model.input_shape[1:]).astype("float32")


@pytest.mark.parametrize("name", ["p4cnn_strict_mnist6_m", "cnn7_strict_noisy_rotated_mnist",
                                  "resnet_ck_strict_fashion_mnist"])
def test_relaxed_copy_computes_the_strict_logits(name):
    strict = rk.zoo.load(name, compile=False)
    relaxed = rk.convert.relax(strict)
    x = _images(strict)
    assert relative_error(relaxed.predict(x, verbose=0), strict.predict(x, verbose=0)) < 1e-4
    assert relaxed.get_config()["equivariance"] == "relaxed"
    convs = [layer for layer in relaxed.layers
             if isinstance(layer, (rk.layers.RelaxedLiftingConv2D, rk.layers.RelaxedGroupConv2D))]
    strict_convs = [layer for layer in strict.layers
                    if isinstance(layer, (rk.layers.LiftingConv2D, rk.layers.GroupConv2D))]
    assert len(convs) == len(strict_convs) > 0
    for conv in convs:
        assert conv.filters == strict.get_layer(conv.name).filters  # the strict width
        banks = to_numpy(conv.kernel)
        assert np.abs(banks[0] - banks[1]).max() > 0  # banks differ
        assert np.all(to_numpy(conv.relaxed_weights) == 1.0)
        assert conv.relaxed_weights.trainable and conv.kernel.trainable


def test_gradients_reach_every_relaxed_weight_and_fit_moves_them():
    strict = rk.zoo.load("p4cnn_strict_mnist6_180", compile=False)
    relaxed = rk.convert.relax(strict)
    x = _images(strict, 16)
    y = np.arange(16) % 2
    relaxed.compile(keras.optimizers.Adam(1e-2),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    convs = [layer for layer in relaxed.layers if hasattr(layer, "relaxed_weights")]
    before = [to_numpy(layer.relaxed_weights).copy() for layer in convs]
    relaxed.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for layer, start in zip(convs, before):
        moved = np.abs(to_numpy(layer.relaxed_weights) - start)
        assert moved.max() > 1e-6, layer.name
        # Moved differently per group element: equivariance is free to break.
        assert np.ptp(to_numpy(layer.relaxed_weights), axis=1).max() > 0, layer.name


def test_options_and_zero_perturbation():
    strict = rk.zoo.load("p4cnn_strict_mnist6_180", compile=False)
    relaxed = rk.convert.relax(strict, num_filter_banks=2, alpha=0.0, perturbation=0.0)
    conv = relaxed.get_layer("conv2")
    assert conv.num_filter_banks == 2 and conv.alpha == 0.0
    banks = to_numpy(conv.kernel)
    np.testing.assert_allclose(banks[0], banks[1])
    np.testing.assert_allclose(banks.sum(0), to_numpy(strict.get_layer("conv2").kernel),
                               rtol=1e-6, atol=1e-7)


def test_bad_sources_and_arguments():
    with pytest.raises(ValueError, match="already 'relaxed'"):
        rk.convert.relax(rk.zoo.load("p4cnn_relaxed_mnist6_180", compile=False))
    with pytest.raises(ValueError, match="no group to relax"):
        rk.convert.relax(rk.zoo.load("z2cnn_none_mnist6_180", compile=False))
    strict = rk.zoo.load("p4cnn_strict_mnist6_180", compile=False)
    with pytest.raises(ValueError, match="continuous-kernel"):
        rk.convert.relax(strict, equivariance="partial")
    with pytest.raises(ValueError, match="`equivariance` must be one of"):
        rk.convert.relax(strict, equivariance="strict")
    with pytest.raises(ValueError, match="perturbation"):
        rk.convert.relax(strict, perturbation=-1)
    with pytest.raises(ValueError, match="perturbation"):
        rk.convert.relax(strict, perturbation=float("inf"))
    with pytest.raises(ValueError, match="seed"):
        rk.convert.relax(strict, seed="abc")
    with pytest.raises(TypeError, match="zoo model"):
        rk.convert.relax(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
