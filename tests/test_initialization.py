"""`skip_random_initialization`: zero-filled weights for models whose
weights are loaded right after (what `zoo.load` does)."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from relaxed_keras import layers as L
from relaxed_keras.initialization import skip_random_initialization
from relaxed_keras.zoo import presets as presets_lib
from tests.helpers import to_numpy


def _layers():
    # One layer of each weight-creating kind: discrete kernel, relaxed
    # banks and weights, continuous kernel network, non-stationary Fourier
    # features. Biases get a random initializer so they count too.
    return [
        (L.GroupConv2D(3, 3, group="p4", bias_initializer="random_normal"),
         (None, 7, 7, 4, 2)),
        (L.RelaxedGroupConv2D(3, 3, group="p4", num_filter_banks=2,
                              relaxed_weights_initializer="random_uniform",
                              bias_initializer="random_normal"),
         (None, 7, 7, 4, 2)),
        (L.PartialGroupConv2D(3, 3, group="se2_4",
                              bias_initializer="random_normal"),
         [(None, 7, 7, 4, 2), (4, 3)]),
        (L.NonStationaryLiftingConv2D(3, 3, group="se2_4",
                                      bias_initializer="random_normal"),
         (None, 7, 7, 2)),
    ]


def _unnamed(config):
    """``config`` without the (auto-numbered) layer names."""
    if isinstance(config, dict):
        return {k: _unnamed(v) for k, v in config.items() if k != "name"}
    return config


def _built(layer, shape):
    layer.build(shape)
    return {v.path.split("/")[-1]: to_numpy(v) for v in layer.weights}


def test_skipped_initialization_zero_fills_and_keeps_the_config():
    """Inside the scope every weight the layer would draw at random is all
    zeros; the config is the same as outside; outside, the draws happen."""
    for (skipped, shape), (drawn, _) in zip(_layers(), _layers()):
        with skip_random_initialization():
            zeros = _built(skipped, shape)
        random = _built(drawn, shape)
        name = type(skipped).__name__
        assert (_unnamed(skipped.get_config())
                == _unnamed(drawn.get_config())), name
        for key in ("kernel", "relaxed_weights", "kernel_0", "kernel_2",
                    "bias", "rff_filter", "rff_domain"):
            if key in random:
                assert np.all(zeros[key] == 0), (name, key)
                assert np.abs(random[key]).max() > 0, (name, key)
        assert zeros.keys() == random.keys(), name


def test_scope_ends_even_when_the_build_fails():
    with pytest.raises(ValueError):
        with skip_random_initialization():
            L.GroupConv2D(3, 3, group="p4").build((None, 7, 7, 3, 2))
    layer = L.GroupConv2D(3, 3, group="p4")
    layer.build((None, 7, 7, 4, 2))
    assert np.abs(to_numpy(layer.kernel)).max() > 0


def test_zoo_models_build_their_keras_layers_zero_filled_in_the_scope():
    """The Keras ``Conv2D`` and ``Dense`` layers of a zoo model are zero
    filled inside the scope too, with their initializers (and so their
    configs) restored afterwards."""
    config = presets_lib.load_config(
        presets_lib.preset_path("resnet_ck_none_rotated_fashion_mnist"))
    with skip_random_initialization():
        skipped = presets_lib.build_from_config(config)
    drawn = presets_lib.build_from_config(config)
    keras_layers = [layer for layer in skipped.layers
                    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(keras_layers) > 2
    for layer, other in zip(skipped.layers, drawn.layers):
        assert _unnamed(layer.get_config()) == _unnamed(other.get_config())
        if layer in keras_layers:
            assert np.all(to_numpy(layer.kernel) == 0), layer.name
            assert np.abs(to_numpy(other.kernel)).max() > 0, other.name


@pytest.mark.parametrize(
    "name",
    ["p4cnn_partial_mnist6_180", "p4cnn_soft_mnist6_180",
     "p4cnn_relaxed_mnist6_180", "resnet_ck_relaxed_rotated_fashion_mnist",
     "resnet_ck_none_rotated_fashion_mnist"],
)
def test_load_assigns_every_weight(name):
    """`zoo.load` (which skips the random draws) gives the weights of a
    model built with them and then loaded: no weight is left zero-filled."""
    loaded = rk.zoo.load(name, compile=False)
    folder = presets_lib.preset_path(name)
    reference = presets_lib.build_from_config(presets_lib.load_config(folder))
    reference.load_weights(f"{folder}/{presets_lib.WEIGHTS_FILE}")
    # Every weight, trainable or not (batch-norm statistics, the partial
    # layers' schedules): equal weights are the same model.
    assert len(loaded.weights) == len(reference.weights) > 10
    for ours, theirs in zip(loaded.weights, reference.weights):
        assert ours.path == theirs.path
        np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs))


def test_keras_load_model_inside_the_scope_restores_every_weight(tmp_path):
    """`keras.saving.load_model` of a `.keras` file inside the scope (the
    README's recipe: no random draws that the file overwrites) restores
    every weight of a relaxed P4CNN exactly, and its outputs."""
    keras.utils.set_random_seed(3)
    model = rk.zoo.build("p4cnn", equivariance="relaxed")
    x = np.random.RandomState(0).rand(2, 28, 28, 1).astype("float32")
    expected = to_numpy(model(x, training=False))
    path = str(tmp_path / "model.keras")
    model.save(path)
    with skip_random_initialization():
        loaded = keras.saving.load_model(path)
    assert len(loaded.weights) == len(model.weights) > 10
    for ours, theirs in zip(loaded.weights, model.weights):
        assert ours.path == theirs.path
        np.testing.assert_array_equal(to_numpy(ours), to_numpy(theirs))
    np.testing.assert_array_equal(to_numpy(loaded(x, training=False)), expected)
