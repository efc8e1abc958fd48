"""Relaxed group convolutions: Eq. 5-7 of the anisotropic-noise study."""

import keras
import numpy as np
import pytest
from keras import ops

import relaxed_keras as rk
from tests.helpers import equivariance_errors
from tests.helpers import gradient
from tests.helpers import relative_error
from tests.helpers import to_numpy

EXACT = 1e-5


def make(lifting, group="p4", on=None, **kwargs):
    cls = rk.layers.RelaxedLiftingConv2D if lifting else rk.layers.RelaxedGroupConv2D
    layer = cls(4, 3, group, relaxed_weights_on=on, padding="same", **kwargs)
    g = rk.groups.get(group)
    shape = (2, 9, 9, 3) if lifting else (2, 9, 9, g.size, 3)
    x = np.random.rand(*shape).astype("float32")
    layer(x)
    return layer, x, g


def set_relaxed_weights(layer, values):
    layer.relaxed_weights.assign(np.asarray(values, "float32"))


CASES = [
    (True, "p4", None),
    (True, "p4m", None),
    (False, "p4", "input"),
    (False, "p4", "output"),
    (False, "p4m", "input"),
    (False, "p4m", "output"),
]
IDS = [f"{'lift' if c[0] else 'gconv'}-{c[1]}-{c[2]}" for c in CASES]


@pytest.mark.parametrize("lifting,group,on", CASES, ids=IDS)
def test_equal_weights_are_exactly_equivariant(lifting, group, on):
    layer, x, g = make(lifting, group, on)
    np.testing.assert_array_equal(to_numpy(layer.relaxed_weights), 1.0)
    assert max(equivariance_errors(layer, x, g)) < EXACT
    # Any constant per bank keeps it exact.
    set_relaxed_weights(layer, np.array([[0.3], [-1.2], [2.0]]) * np.ones((1, g.size)))
    assert max(equivariance_errors(layer, x, g)) < EXACT


@pytest.mark.parametrize("lifting,group,on", CASES, ids=IDS)
def test_error_is_non_zero_and_grows_with_the_perturbation(lifting, group, on):
    layer, x, g = make(lifting, group, on)
    direction = np.random.RandomState(1).randn(3, g.size).astype("float32")
    errors = []
    for scale in [1e-3, 1e-2, 1e-1, 0.5]:
        set_relaxed_weights(layer, 1.0 + scale * direction)
        errors.append(max(equivariance_errors(layer, x, g)))
    assert errors[0] > 1e-5
    assert all(a < b for a, b in zip(errors, errors[1:])), errors


@pytest.mark.parametrize("lifting,group,on", CASES, ids=IDS)
def test_constant_weights_equal_strict_conv_with_summed_kernel(lifting, group, on):
    layer, x, g = make(lifting, group, on)
    c = np.array([0.5, -1.5, 2.0], "float32")
    set_relaxed_weights(layer, c[:, None] * np.ones((1, g.size), "float32"))
    strict_cls = rk.layers.LiftingConv2D if lifting else rk.layers.GroupConv2D
    strict = strict_cls(4, 3, group, padding="same")
    strict(x)
    banks = to_numpy(layer.kernel)  # [L, kh, kw, G_in, C, F]
    strict.kernel.assign(np.tensordot(c, banks, axes=1).astype("float32"))
    strict.bias.assign(to_numpy(layer.bias).astype("float32"))
    assert relative_error(layer(x), strict(x)) < EXACT


def test_input_indexing_weighs_input_elements_and_output_indexing_outputs():
    """w_l(h) = a_h for every l equals the strict layer applied to the input
    with group slice h scaled by a_h (Eq. 5); with ``"output"`` indexing it
    scales output slice g instead."""
    g = rk.groups.get("p4")
    a = np.array([0.5, 2.0, -1.0, 3.0], "float32")
    for on in ["input", "output"]:
        layer, x, _ = make(False, "p4", on, use_bias=False)
        set_relaxed_weights(layer, np.ones((3, 1), "float32") * a[None])
        strict = rk.layers.GroupConv2D(4, 3, g, padding="same", use_bias=False)
        strict(x)
        strict.kernel.assign(to_numpy(layer.kernel).sum(axis=0).astype("float32"))
        scale = a.reshape(1, 1, 1, 4, 1)
        if on == "input":
            expected = strict(x * scale)
        else:
            expected = to_numpy(strict(x)) * scale
        assert relative_error(layer(x), expected) < EXACT


@pytest.mark.parametrize("squared", [False, True])
def test_regulariser_matches_a_hand_computation(squared):
    layer, x, g = make(False, "p4", alpha=0.01, squared=squared)
    w = np.random.RandomState(2).randn(3, 4).astype("float32")
    set_relaxed_weights(layer, w)
    expected = 0.0
    for bank in w:
        for wg in bank:
            for wh in bank:
                expected += (wg - wh) ** 2 if squared else abs(wg - wh)
    expected *= 0.01
    assert len(layer.losses) == 1
    assert float(to_numpy(layer.losses[0])) == pytest.approx(expected, rel=1e-5)
    set_relaxed_weights(layer, np.ones((3, 4)))
    assert float(to_numpy(layer.losses[0])) == 0.0
    no_reg, _, _ = make(False, "p4", alpha=0.0)
    assert no_reg.losses == []


@pytest.mark.parametrize("lifting", [True, False])
def test_gradients_reach_the_relaxed_weights(lifting):
    layer, x, g = make(lifting, "p4")
    target = np.random.rand(*layer.compute_output_shape(x.shape)).astype("float32")
    kernel, bias = layer.kernel.value, layer.bias.value
    order = [v.path for v in layer.trainable_variables]
    # Non-trainable state (the inference kernel cache) goes in unchanged.
    state = [v.value for v in layer.non_trainable_variables]

    def loss(w):
        values = {"kernel": kernel, "bias": bias, "relaxed_weights": w}
        trainable = [values[p.split("/")[-1]] for p in order]
        out, _ = layer.stateless_call(trainable, state, x)
        return ops.sum(ops.square(ops.subtract(out, target)))

    grad = gradient(loss, np.ones((3, 4), "float32"))
    assert grad.shape == (3, 4)
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 1e-3


def test_relaxed_weights_learn_under_fit_and_regulariser_enters_the_loss():
    model = rk.models.build("cnn7", input_shape=(12, 12, 1), equivariance="relaxed",
                            num_hidden_layers=2, alpha=1.0)
    x = np.random.rand(16, 12, 12, 1).astype("float32")
    y = np.random.randint(0, 10, 16)
    layer = model.get_layer("conv1")
    before = to_numpy(layer.relaxed_weights).copy()
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=True)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    after = to_numpy(layer.relaxed_weights)
    assert np.abs(after - before).max() > 1e-3
    assert len(model.losses) == 3  # one regulariser per relaxed layer


def test_config_and_saving_round_trip(tmp_path):
    layer, x, g = make(False, "p4m", "output", alpha=0.5, squared=True, num_filter_banks=2)
    config = layer.get_config()
    assert config["num_filter_banks"] == 2 and config["relaxed_weights_on"] == "output"
    clone = rk.layers.RelaxedGroupConv2D.from_config(config)
    clone.build(x.shape)
    set_relaxed_weights(layer, np.random.rand(2, 8))
    clone.set_weights(layer.get_weights())
    assert relative_error(clone(x), layer(x)) == 0.0
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, rk.layers.RelaxedGroupConv2D.from_config(config)(inputs))
    model.layers[1].set_weights(layer.get_weights())
    path = str(tmp_path / "relaxed.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert relative_error(loaded(x), layer(x)) < 1e-6
    names = sorted(v.path.split("/")[-1] for v in loaded.layers[1].weights)
    assert names == ["bias", "kernel", "relaxed_weights"]


def test_parameter_counts():
    lift = rk.layers.RelaxedLiftingConv2D(6, 3, "p4", num_filter_banks=3, use_bias=False)
    lift.build((None, 28, 28, 1))
    assert lift.count_params() == 3 * 9 * 6 + 3 * 4
    conv = rk.layers.RelaxedGroupConv2D(6, 3, "p4m", num_filter_banks=2)
    conv.build((None, 28, 28, 8, 5))
    assert conv.count_params() == 2 * 9 * 8 * 5 * 6 + 6 + 2 * 8


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_filter_banks=0), "num_filter_banks"),
        (dict(num_filter_banks=2.0), "num_filter_banks"),
        (dict(relaxed_weights_on="sideways"), "relaxed_weights_on"),
        (dict(alpha=-1.0), "alpha"),
        (dict(alpha=None), "alpha"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rk.layers.RelaxedGroupConv2D(4, 3, "p4", **kwargs)
    with pytest.raises(ValueError, match="no group axis"):
        rk.layers.RelaxedLiftingConv2D(4, 3, "p4", relaxed_weights_on="input")
