"""Mixed precision (``mixed_bfloat16``) for every kind of layer: training
runs, the convolutions compute in bfloat16, the geometry (group elements,
kernel networks, learned symmetry parameters) stays float32, and outputs
match the float32 model with the same weights to bfloat16 accuracy."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import relative_error

CASES = [
    ("p4cnn", "strict", {}),
    ("p4cnn", "relaxed", {}),
    ("p4cnn", "partial", {}),
    ("p4cnn", "soft", {}),
    ("resnet_ck", "relaxed", dict(width=8, kernel_size=3)),
]


def _build(name, mode, kwargs):
    return rk.zoo.build(name, equivariance=mode, num_classes=3, **kwargs)


@pytest.fixture
def mixed_policy():
    keras.config.set_dtype_policy("mixed_bfloat16")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name,mode,kwargs", CASES, ids=lambda c: str(c))
def test_mixed_bfloat16_trains_and_matches_float32(mixed_policy, name, mode, kwargs):
    keras.utils.set_random_seed(0)
    model = _build(name, mode, kwargs)
    x = np.random.RandomState(0).rand(4, *model.input_shape[1:]).astype("float32")
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, np.array([0, 1, 2, 0]), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert {v.dtype for v in model.weights} == {"float32"}
    for layer in model._flatten_layers():
        if hasattr(layer, "kernel_network"):
            assert layer.kernel_network.compute_dtype == "float32"
    low = model(x, training=False)
    assert keras.backend.standardize_dtype(low.dtype) == "bfloat16"

    keras.config.set_dtype_policy("float32")
    reference = _build(name, mode, kwargs)
    reference.set_weights(model.get_weights())
    assert relative_error(low, reference(x, training=False)) < 3e-2


def test_translation_relaxed_position_path_under_mixed_bfloat16(mixed_policy):
    """The non-stationary layer's per-position kernels (the T(2) path)."""
    layer = rk.layers.NonStationaryConv2D(3, 3, omega_prime=1.0, padding=1,
                                          chunk_size=16, seed=0)
    x = np.random.RandomState(1).rand(2, 8, 8, 2).astype("float32")
    out = layer(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    keras.config.set_dtype_policy("float32")
    reference = rk.layers.NonStationaryConv2D.from_config(
        {**layer.get_config(), "dtype": "float32"})
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    assert relative_error(out, reference(x)) < 3e-2


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_spatial_layer_norm_computes_its_moments_in_float32(policy):
    """As Keras's LayerNormalization: moments in float32, only the output
    rounded to the compute dtype (moments in bfloat16 were 0.05 off)."""
    low = policy.split("_")[1]
    x = np.random.RandomState(0).rand(2, 14, 14, 4, 3) * 0.5 + 8.0
    x = keras.ops.convert_to_numpy(
        keras.ops.cast(keras.ops.cast(x.astype("float32"), low), "float32"))
    out = rk.layers.SpatialLayerNormalization(dtype=policy)(x)
    assert keras.backend.standardize_dtype(out.dtype) == low
    reference = rk.layers.SpatialLayerNormalization(dtype="float32")(x)
    error = np.abs(keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
                   - keras.ops.convert_to_numpy(reference)).max()
    assert error < 8e-3


def test_low_precision_variables_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        rk.layers.ContinuousLiftingConv2D(4, 3, "se2_4", dtype="bfloat16")
