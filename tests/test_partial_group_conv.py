"""Partial group convolutions (learned theta / mirror probability),
Augerino and the learned-equivariance read-out."""

import math
import os

import keras
import numpy as np
import pytest
from keras import ops

import relaxed_keras as rk
from relaxed_keras import layers as L
from relaxed_keras.groups import E2
from relaxed_keras.groups import SE2
from tests.helpers import gradient
from tests.helpers import relative_error
from tests.helpers import to_numpy
from tests.models import small_partial

SCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def partial_and_strict(group, rng):
    partial = L.PartialGroupConv2D(3, 3, group, initial_mirror_logit=5.0,
                                   padding="same", distribution_lr_factor=0.1)
    strict = L.ContinuousGroupConv2D(3, 3, group, padding="same")
    x = rng.randn(2, 9, 9, group.size, 2).astype("float32")
    inputs = [x, group.grid_elements()]
    partial(inputs)
    strict(inputs)
    strict.kernel_network.set_weights(partial.kernel_network.get_weights())
    strict.bias.assign(rng.randn(3).astype("float32"))
    partial.bias.assign(to_numpy(strict.bias).astype("float32"))
    return partial, strict, inputs


@pytest.mark.parametrize("group", [SE2(4), E2(8), SE2(3), SE2(5)],
                         ids=["se2_4", "e2_8", "se2_3", "se2_5"])
def test_full_distribution_reproduces_the_strict_layer(group, rng):
    """theta = 1 and p > 0.5: inference output == the strict layer's on the
    same grid, element by element (odd N_rot too: the inference grid used
    to be the strict one shifted by pi / N_rot); training angles are the
    strict sampler's shifted grid."""
    partial, strict, inputs = partial_and_strict(group, rng)
    assert float(to_numpy(partial.learned_theta())) == 1.0
    y_partial, e_partial = partial(inputs)
    y_strict, e_strict = strict(inputs)
    assert relative_error(y_partial, y_strict) < 1e-5
    angles = np.mod(to_numpy(e_partial)[:, 0], 2 * math.pi)
    np.testing.assert_allclose(np.cos(angles), np.cos(to_numpy(e_strict)[:, 0]), atol=1e-6)
    step = 2 * math.pi / group.num_rotations
    offsets = []
    for _ in range(30):
        sampled = to_numpy(partial.output_elements(None, training=True))
        rotations = np.sort(np.mod(sampled[: group.num_rotations, 0], 2 * math.pi))
        np.testing.assert_allclose(np.diff(rotations), step, atol=1e-5)
        offsets.append(np.mod(rotations[0], step))
    assert 0.3 * step < np.mean(offsets) < 0.7 * step  # uniform offset


def test_theta_restricts_the_sampled_rotations():
    layer = L.PartialGroupConv2D(2, 3, SE2(8), initial_theta=0.25)
    layer.build([(None, 8, 8, 8, 1), (8, 3)])
    assert abs(float(to_numpy(layer.learned_theta())) - 0.25) < 1e-6
    # Stored scaled: the weight named theta holds theta / c.
    assert abs(float(to_numpy(layer.theta)) - 2.5) < 1e-5
    for training in (False, True):
        for _ in range(10):
            angles = to_numpy(layer.output_elements(None, training))[:, 0]
            assert np.all(angles >= -math.pi / 4 - 1e-6)
            assert np.all(angles < math.pi / 4 + 1e-6)
    grid = to_numpy(layer.output_elements(None, False))[:, 0]
    assert grid[0] == 0.0  # element 0 is the identity on the inference grid
    odd = L.PartialGroupConv2D(2, 3, SE2(5), initial_theta=0.5)
    odd.build([(None, 8, 8, 5, 1), (5, 3)])
    grid = to_numpy(odd.output_elements(None, False))[:, 0]
    assert abs(grid[0]) < 1e-7  # odd N_rot too
    np.testing.assert_allclose(np.sort(grid), math.pi * 0.5 * np.arange(-2, 3) * 2 / 5,
                               atol=1e-6)  # symmetric about the identity


def loss_wrt(model, name, x, y, value):
    """Loss of a training-mode call as a function of one variable's value."""
    trainable = list(model.trainable_variables)
    index = [v.path for v in trainable].index(name)
    values = [ops.convert_to_tensor(v) for v in trainable]
    non_trainable = [ops.convert_to_tensor(v) for v in model.non_trainable_variables]

    def fn(v):
        current = list(values)
        current[index] = v
        logits, _ = model.stateless_call(current, non_trainable, x, training=True)
        return ops.mean(SCE(y, logits))

    return gradient(fn, value)


def test_gradients_reach_theta_and_mirror_logit(rng):
    keras.utils.set_random_seed(0)
    model = small_partial("e2_8")
    x = rng.rand(8, 12, 12, 1).astype("float32")
    y = rng.randint(0, 3, 8)
    layer = model.get_layer("partial")
    for variable in (layer.theta, layer.mirror_logit):
        grad = loss_wrt(model, variable.path, x, y, to_numpy(variable).astype("float32"))
        assert np.isfinite(grad) and abs(float(grad)) > 1e-7, variable.path


@pytest.mark.parametrize("factor", [0.1, 1.0])
def test_distribution_learns_slower_by_the_factor_under_adam(factor, rng):
    """Adam's first step moves a weight by lr: theta moves by c * lr."""
    model = small_partial("se2_4", distribution_lr_factor=factor)
    layer = model.get_layer("partial")
    assert abs(float(to_numpy(layer.theta)) - 0.9 / factor) < 1e-5
    before = float(to_numpy(layer.learned_theta()))
    model.compile(keras.optimizers.Adam(0.01), SCE)
    model.fit(rng.rand(8, 12, 12, 1).astype("float32"), rng.randint(0, 3, 8),
              batch_size=8, epochs=1, verbose=0)
    moved = abs(float(to_numpy(layer.learned_theta())) - before)
    assert 0.8 * factor * 0.01 < moved < 1.2 * factor * 0.01


@pytest.mark.inductor
def test_fit_jit_compile_predict_and_learned_equivariance(tmp_path, rng):
    model = small_partial("e2_8")
    layer = model.get_layer("partial")
    x = rng.rand(32, 12, 12, 1).astype("float32")
    y = rng.randint(0, 3, 32)
    model.compile(keras.optimizers.Adam(0.05), SCE, jit_compile=True)
    logger = rk.callbacks.LearnedEquivarianceLogger()
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0,
                        callbacks=[logger, rk.callbacks.GumbelTemperatureSchedule()])
    # Theta trained under jit_compile (8 Adam steps of up to 0.1 * 0.05 each;
    # the steps' signs vary with the sampled offsets, so the net move can be
    # small, but it is never zero unless no gradient arrives).
    assert abs(float(to_numpy(layer.learned_theta())) - 0.9) > 1e-5
    # Temperature annealed to its end over epochs * steps = 8 calls.
    assert float(to_numpy(layer.gumbel_step)) == 8.0
    assert abs(float(to_numpy(layer.temperature())) - 1e-4) < 1e-7
    assert len(history.history["partial/rotation_range_deg"]) == 2
    assert "partial/mirror_probability" in history.history
    assert len(logger.rows) == 2
    a = model.predict(x[:8], verbose=0)
    np.testing.assert_array_equal(a, model.predict(x[:8], verbose=0))
    stochastic = rk.diagnostics.stochastic_predict(model, x[:8], num_samples=4)
    assert stochastic.shape == a.shape and np.abs(stochastic - a).max() > 0
    rows = rk.diagnostics.learned_equivariance(model, plot=str(tmp_path / "eq.png"))
    assert os.path.getsize(tmp_path / "eq.png") > 1000
    by_name = {row["layer"]: row for row in rows}
    assert by_name["lift"]["rotation_range_deg"] == 360.0
    partial_row = by_name["partial"]
    assert abs(partial_row["rotation_range_deg"]
               - 360 * float(to_numpy(layer.learned_theta()))) < 1e-3
    assert 0 < partial_row["mirror_probability"] < 1
    assert "partial" in rk.diagnostics.format_learned_equivariance(rows)


def test_mirror_switched_off_masks_the_mirrored_elements(rng):
    model = small_partial("e2_8", mirror_logit=-5.0)
    x = rng.rand(4, 12, 12, 1).astype("float32")
    layer = model.get_layer("partial")
    features, elements = layer([model.get_layer("lift")(x)[0], E2(8).grid_elements()])
    np.testing.assert_array_equal(to_numpy(elements)[:, 2], [1, 1, 1, 1, 0, 0, 0, 0])
    assert np.all(to_numpy(features)[:, :, :, 4:] == 0)
    assert float(to_numpy(layer.mirror_probability())) < 0.5


def test_partial_layer_errors_and_config():
    with pytest.raises(ValueError, match="distribution_lr_factor"):
        L.PartialGroupConv2D(2, 3, "se2_4", distribution_lr_factor=0)
    with pytest.raises(ValueError, match="min_theta"):
        L.PartialGroupConv2D(2, 3, "se2_4", initial_theta=1.5)
    layer = L.PartialGroupConv2D(2, 3, "e2_8", distribution_lr_factor=0.5,
                                 initial_theta=0.5, temperature_decay_steps=7)
    clone = L.PartialGroupConv2D.from_config(layer.get_config())
    assert clone.distribution_lr_factor == 0.5 and clone.initial_theta == 0.5
    assert clone.temperature_decay_steps == 7 and clone.group == E2(8)


def test_augerino_learns_its_rotation_range(rng):
    network = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu"),
                                keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(3)])
    layer = L.Augerino(network, num_samples=4, initial_theta=0.2,
                       width_penalty=0.1, seed=0)
    x = rng.rand(5, 10, 10, 1).astype("float32")
    out = layer(x)
    assert tuple(out.shape) == (5, 3)
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(out))
    # The width regulariser enters the losses: -lambda (pi theta)^2.
    assert abs(float(to_numpy(layer.losses[0])) + 0.1 * (math.pi * 0.2) ** 2) < 1e-6
    trainable = [ops.convert_to_tensor(v) for v in layer.trainable_variables]
    index = [v.path for v in layer.trainable_variables].index(layer.theta.path)
    non_trainable = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]
    target = rng.randn(5, 3).astype("float32")

    def fn(theta):
        values = list(trainable)
        values[index] = theta
        y, _ = layer.stateless_call(values, non_trainable, x, training=True)
        return ops.sum(ops.square(ops.subtract(y, target)))

    grad = gradient(fn, 0.2)
    assert np.isfinite(grad) and abs(float(grad)) > 1e-6
    config = layer.get_config()
    clone = L.Augerino.from_config(config)
    assert clone.num_samples == 4 and clone.width_penalty == 0.1
    rows = rk.diagnostics.learned_equivariance(layer)
    assert abs(rows[0]["rotation_range_deg"] - 72.0) < 1e-4


@pytest.mark.parametrize("name,kwargs", [
    ("p4cnn", {"width": 4, "input_shape": (16, 16, 1)}),
    ("cnn7", {"num_hidden_layers": 2}),
])
def test_zoo_partial_mode_builds_trains_and_round_trips(name, kwargs, tmp_path, rng):
    model = rk.zoo.build(name, equivariance="partial", group="e2_4",
                         continuous_options={"distribution_lr_factor": 0.5}, **kwargs)
    partial_layers = [layer for layer in model.layers
                      if isinstance(layer, L.PartialGroupConv2D)]
    assert partial_layers and all(l.distribution_lr_factor == 0.5 for l in partial_layers)
    shape = model.input_shape[1:]
    x = rng.rand(4, *shape).astype("float32")
    model.compile("adam", SCE)
    model.fit(x, rng.randint(0, 2, 4), epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert relative_error(loaded.predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-5
    assert loaded.get_config()["continuous_options"] == {"distribution_lr_factor": 0.5}


def test_partial_lifting_layer_takes_its_own_continuous_options():
    """The lifting layer of a partial model gets the continuous-conv options
    it has (seed, bias, activation, offsets) and none of the partial
    layers' distribution options (it used to drop seed and use_bias)."""
    model = rk.zoo.build("p4cnn", equivariance="partial", group="se2_4", width=2,
                         continuous_options={"seed": 3, "use_bias": False,
                                             "sample_offset": False,
                                             "distribution_lr_factor": 0.5})
    lifting = model.get_layer("conv1")
    assert isinstance(lifting, L.ContinuousLiftingConv2D)
    partial = [l for l in model.layers if isinstance(l, L.PartialGroupConv2D)]
    for layer in [lifting] + partial:
        config = layer.get_config()
        assert config["seed"] == 3 and config["use_bias"] is False
        assert config["sample_offset"] is False
    assert all(l.distribution_lr_factor == 0.5 for l in partial)
    assert "distribution_lr_factor" not in lifting.get_config()


@pytest.mark.parametrize("equivariance", ["none", "strict", "relaxed"])
def test_continuous_options_outside_continuous_modes_is_a_value_error(equivariance):
    """Strict, relaxed and plain models have no continuous layer to take
    ``continuous_options``: they used to be dropped without a word."""
    with pytest.raises(ValueError, match="continuous_options apply to equivariance="):
        rk.zoo.build("p4cnn", equivariance=equivariance, width=2,
                     continuous_options={"distribution_lr_factor": 3.0})
    # Empty options are no options.
    rk.zoo.build("p4cnn", equivariance=equivariance, width=2, continuous_options={})


def test_cnn13_partial_variant_builds_with_nine_partial_layers(rng):
    model = rk.zoo.build("cnn13", variant="partial_gcnn", equivariance="partial",
                         group="se2_4", input_shape=(8, 8, 3))
    layers = [l for l in model.layers if isinstance(l, L.PartialGroupConv2D)]
    assert len(layers) == 8  # lifting + 8 partial group convs
    assert model(rng.rand(2, 8, 8, 3).astype("float32")).shape == (2, 10)
