"""`rk.export.to_plain_keras`: the model rewritten into Keras's own layers
computes the source's logits (1e-4 relative to the largest), holds no
library class, and its `.keras` file loads where the library is never
imported (here: under another backend)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import relative_error

BACKENDS = ("tensorflow", "jax", "torch")
# Each layer type the zoo uses: batch norm (Fashion) and layer norm
# (MNIST6), p4 and p4m, relaxed banks, partial E(2) with its mirror mask,
# residual blocks, Keras-only models. The sweep over all presets:
# docs/known_limits.md, "Plain Keras".
PRESETS = [
    "z2cnn_none_mnist6_180", "cnn7_strict_noisy_rotated_mnist",
    "p4cnn_strict_mnist6_m", "p4cnn_relaxed_fashion_mnist",
    "p4cnn_partial_mnist6_m", "resnet_ck_strict_fashion_mnist",
    "resnet_ck_relaxed_fashion_mnist",
]


def _images(model, count=8, seed=0):
    shape = model.input_shape[1:]
    return np.random.RandomState(seed).rand(count, *shape).astype("float32")


def _keras_only(model):
    return {type(layer).__module__.split(".")[0] for layer in model.layers} == {"keras"}


@pytest.mark.parametrize("name", PRESETS)
def test_plain_model_computes_the_presets_logits(name):
    model = rk.zoo.load(name, compile=False)
    plain = rk.export.to_plain_keras(model)
    assert _keras_only(plain)
    x = _images(model)
    expected = model.predict(x, verbose=0)
    assert relative_error(plain.predict(x, verbose=0), expected) < 1e-4
    # Kernels are fixed at conversion, from the weights of that moment.
    assert plain.count_params() > 0 and plain.name == f"{model.name}_plain"


def test_plain_keras_file_loads_without_the_library(tmp_path):
    """Saved here, loaded by a process under the next backend that imports
    Keras only (and checks that nothing imported the library)."""
    model = rk.zoo.load("p4cnn_partial_mnist6_m", compile=False)
    plain = rk.export.to_plain_keras(model)
    x = _images(model)
    path = str(tmp_path / "plain.keras")
    plain.save(path)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    other = BACKENDS[(BACKENDS.index(keras.backend.backend()) + 1) % 3]
    script = (
        "import sys, numpy as np, keras\n"
        f"m = keras.saving.load_model({path!r})\n"
        f"y = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)\n"
        f"e = np.load({str(tmp_path / 'expected.npy')!r})\n"
        "assert 'relaxed_keras' not in sys.modules\n"
        "print(float(np.abs(y - e).max() / np.abs(e).max()))\n"
    )
    env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=str(tmp_path),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.strip().splitlines()[-1]) < 1e-4


def test_paddings_strides_and_poolings_of_a_sequential_model():
    """The padding forms the layers offer (explicit ints, same_equiv with
    a stride, Keras-like same pooling, average pooling), a layer
    activation and a kept group axis."""
    model = keras.Sequential([
        keras.Input((15, 15, 2)),
        rk.layers.LiftingConv2D(3, 3, "p4m", padding=2, activation="relu"),
        rk.layers.GroupConv2D(4, 3, "p4m", strides=2, padding="same_equiv"),
        rk.layers.BatchNormalization(),
        rk.layers.GroupMaxPooling2D(3, strides=2, padding="same"),
        rk.layers.GroupConv2D(3, 1, "p4m"),
        rk.layers.GroupAveragePooling2D(2),
        rk.layers.GroupPooling("mean", keepdims=True),
        rk.layers.GlobalSpatialPooling2D("max"),
        keras.layers.Flatten(),
        keras.layers.Dense(3),
    ])
    bn = model.layers[2]
    rng = np.random.RandomState(1)
    bn.moving_mean.assign(rng.rand(4).astype("float32"))
    bn.moving_variance.assign(1 + rng.rand(4).astype("float32"))
    plain = rk.export.to_plain_keras(model)
    assert _keras_only(plain)
    x = rng.rand(4, 15, 15, 2).astype("float32")
    assert relative_error(plain.predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-5


def test_layers_without_a_plain_form_and_bad_models_are_errors():
    with pytest.raises(ValueError, match="'conv1'.*NonStationaryLiftingConv2D.*position"):
        rk.export.to_plain_keras(rk.zoo.load("p4cnn_soft_mnist6_180", compile=False))
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no relaxed_keras layer"):
        rk.export.to_plain_keras(plain)
    with pytest.raises(TypeError, match="keras.Model"):
        rk.export.to_plain_keras(rk.layers.GroupPooling())
    partial = rk.zoo.load("p4cnn_partial_mnist6_180", compile=False)
    partial.get_layer("conv2").stochastic_inference = True
    with pytest.raises(ValueError, match="'conv2'.*stochastic_inference"):
        rk.export.to_plain_keras(partial)
    inputs = keras.Input((None, None, 1))
    dynamic = keras.Model(inputs, rk.layers.LiftingConv2D(2, 3, "p4", padding=1)(inputs))
    with pytest.raises(ValueError, match="fixed spatial input size"):
        rk.export.to_plain_keras(dynamic)
