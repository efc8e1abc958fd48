"""Constructor arguments outside their documented range are refused with a
ValueError naming the argument (instead of being truncated or accepted)."""

import keras
import numpy as np
import pytest

from relaxed_keras import layers as L


@pytest.mark.parametrize(
    "kwargs, name",
    [
        # Used to be truncated to 2 steps.
        (dict(temperature_decay_steps=2.7), "temperature_decay_steps"),
        (dict(temperature_decay_steps=True), "temperature_decay_steps"),
        (dict(temperature_decay_steps=0), "temperature_decay_steps"),
        # The Gumbel-sigmoid divides by the temperature.
        (dict(temperature_start=-1.0), "temperature_start"),
        (dict(temperature_start=0.0), "temperature_start"),
        (dict(temperature_end=0.0), "temperature_end"),
        (dict(temperature_end=float("nan")), "temperature_end"),
        (dict(distribution_lr_factor=float("inf")), "distribution_lr_factor"),
        (dict(distribution_lr_factor="x"), "distribution_lr_factor"),
        (dict(initial_mirror_logit=float("nan")), "initial_mirror_logit"),
        (dict(min_theta=0.0), "min_theta"),
        (dict(initial_theta=1.5), "initial_theta"),
    ],
)
def test_partial_conv_rejects_out_of_range_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        L.PartialGroupConv2D(2, 3, group="e2_4", **kwargs)


def test_partial_conv_keeps_integral_decay_steps_and_round_trips():
    layer = L.PartialGroupConv2D(2, 3, group="e2_4", temperature_decay_steps=50.0,
                                 temperature_start=0.2, temperature_end=0.7)
    assert layer.temperature_decay_steps == 50
    assert isinstance(layer.temperature_decay_steps, int)
    clone = L.PartialGroupConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("bounds", [(2.0, 1.0), (0.0, float("nan"))])
def test_clip_rejects_an_empty_or_nan_interval(bounds):
    with pytest.raises(ValueError, match="min_value <= max_value"):
        L.Clip(*bounds)


def test_clip_with_equal_bounds_clips_and_round_trips():
    clip = L.Clip(1, 1)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(clip(np.array([0.0, 2.0], "float32"))), [1.0, 1.0]
    )
    assert L.Clip.from_config(clip.get_config()).get_config() == clip.get_config()


@pytest.mark.parametrize("make, name", [
    (lambda: L.GlobalSpatialPooling2D(keepdims="no"), "keepdims"),  # read as True
    (lambda: L.GlobalSpatialPooling2D(keepdims=1), "keepdims"),  # torch TypeError
    (lambda: L.RelaxedGroupConv2D(2, 3, "p4", squared="no"), "squared"),
    (lambda: L.RelaxedGroupConv2D(2, 3, "p4", alpha=float("inf")), "alpha"),
    (lambda: L.RelaxedWeightsRegularizer(alpha=-1.0), "alpha"),
    (lambda: L.Augerino(keras.layers.Dense(2), initial_theta="abc"), "initial_theta"),
    (lambda: L.Augerino(keras.layers.Dense(2), width_penalty=-1.0), "width_penalty"),
    # Truthy strings used to read as True (use_bias="no" even reached the
    # config); a negative epsilon gave NaN on constant maps.
    (lambda: L.GroupConv2D(2, 3, "p4", use_bias="no"), "use_bias"),
    (lambda: L.RelaxedLiftingConv2D(2, 3, "p4", use_bias="no"), "use_bias"),
    (lambda: L.ContinuousGroupConv2D(2, 3, "se2_4", use_bias="no"), "use_bias"),
    (lambda: L.ContinuousGroupConv2D(2, 3, "se2_4", mask="no"), "mask"),
    (lambda: L.ContinuousLiftingConv2D(2, 3, "se2_4", sample_offset="no"), "sample_offset"),
    (lambda: L.ContinuousGroupConv2D(2, 3, "se2_4", resample="no"), "resample"),
    (lambda: L.NonStationaryConv2D(2, 3, normalize_kernel="no"), "normalize_kernel"),
    (lambda: L.NonStationaryConv2D(2, 3, rematerialize="no"), "rematerialize"),
    (lambda: L.NonStationaryConv2D(2, 3, omega_prime_lr_factor=0.0), "omega_prime_lr_factor"),
    (lambda: L.NonStationaryConv2D(2, 3, omega_prime_lr_factor=float("inf")),
     "omega_prime_lr_factor"),
    (lambda: L.SpatialLayerNormalization(epsilon=-1e-3), "epsilon"),
    (lambda: L.SpatialLayerNormalization(epsilon="1e-5"), "epsilon"),
    # Always resamples: resample=False used to be dropped without a word.
    (lambda: L.PartialGroupConv2D(2, 3, "se2_4", resample=False), "resample"),
])
def test_layer_arguments_that_were_misread(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_partial_layer_takes_resample_true_and_keeps_it_out_of_its_config():
    layer = L.PartialGroupConv2D(2, 3, "se2_4", resample=True)
    assert layer.resample and "resample" not in layer.get_config()


@pytest.mark.parametrize("make", [
    lambda **kw: L.LiftingConv2D(2, 3, "p4", **kw),
    lambda **kw: L.GroupConv2D(2, 3, "p4m", **kw),
    lambda **kw: L.RelaxedGroupConv2D(2, 3, "p4", **kw),
    lambda **kw: L.ContinuousGroupConv2D(2, 3, "se2_8", **kw),
    lambda **kw: L.NonStationaryLiftingConv2D(2, 3, "se2_4", **kw),
], ids=["lifting", "group_p4m", "relaxed", "continuous", "soft"])
@pytest.mark.parametrize("argument", ["strides", "dilation_rate"])
def test_quarter_turn_layers_refuse_different_height_and_width(make, argument):
    """A quarter turn swaps height and width: strides=(1, 2) or
    dilation_rate=(1, 2) used to be accepted, and exactness_report called
    the model exact while its invariance error was 0.03-0.07."""
    with pytest.raises(ValueError, match=argument):
        make(**{argument: (1, 2)})


def test_half_turn_groups_keep_anisotropic_windows():
    for group in ("p2", "p2m"):
        layer = L.GroupConv2D(2, (3, 5), group, strides=(1, 2), padding="valid")
        assert layer.strides == (1, 2) and layer.kernel_size == (3, 5)


def test_kernel_network_arguments_and_short_configs():
    from relaxed_keras.kernels import continuous as kernels

    for kwargs, name in ((dict(omega_0=float("inf")), "omega_0"),
                         (dict(omega_0="x"), "omega_0"),
                         (dict(output_units=-1), "output_units")):
        with pytest.raises(ValueError, match=name):
            kernels.SIREN(**kwargs)
    # NumPy integers are integers (refused as "must be an integer" before).
    assert kernels.SIREN(hidden_units=np.int64(8)).hidden_units == 8
    # The short config form the error message promises (a TypeError before).
    network = kernels.get({"class_name": "SIREN", "config": {"omega_0": 5.0}})
    assert isinstance(network, kernels.SIREN) and network.omega_0 == 5.0
    with pytest.raises(ValueError, match="SIREN or MLPKernel"):
        kernels.get({"class_name": "Dense", "config": {"units": 3}})


def test_dropout_rate_one_drops_everything_like_keras():
    """`rk.layers.Dropout(1.0)` raised on its first training call."""
    x = np.ones((2, 3, 3, 4, 2), "float32")
    ours = L.Dropout(1.0, seed=0)(x, training=True)
    theirs = keras.layers.Dropout(1.0, seed=0)(x, training=True)
    assert np.all(keras.ops.convert_to_numpy(ours) == 0)
    assert np.all(keras.ops.convert_to_numpy(theirs) == 0)


def test_gumbel_schedule_needs_known_steps_and_warns_without_layers():
    """Unknown steps per epoch (a generator without ``steps_per_epoch``)
    used to count each epoch as one step: the schedule ended after
    ``epochs`` steps without a word."""
    import relaxed_keras as rk

    with pytest.raises(ValueError, match="total_steps"):
        rk.callbacks.GumbelTemperatureSchedule(total_steps=0)
    model = rk.zoo.build("p4cnn", equivariance="partial", group="e2_4", width=2,
                         input_shape=(12, 12, 1), num_classes=2)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.rand(8, 12, 12, 1).astype("float32")
    y = np.array([0, 1] * 4)

    class Batches(keras.utils.PyDataset):
        """Four batches, length unknown to `fit` (as a tf.data pipeline of
        unknown cardinality)."""

        def __getitem__(self, index):
            if index >= 4:
                raise IndexError(index)
            return x[2 * index: 2 * index + 2], y[2 * index: 2 * index + 2]

        @property
        def num_batches(self):
            return None

    schedule = rk.callbacks.GumbelTemperatureSchedule()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(Batches(), epochs=1, verbose=0, callbacks=[schedule])
    model.fit(Batches(), epochs=1, steps_per_epoch=4, verbose=0, callbacks=[schedule])
    steps = [float(keras.ops.convert_to_numpy(layer.gumbel_decay_steps))
             for layer in model.layers if hasattr(layer, "gumbel_decay_steps")]
    assert steps and all(s == 4.0 for s in steps)
    plain = rk.zoo.build("z2cnn", width=2, input_shape=(12, 12, 1), num_classes=2)
    plain.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.warns(UserWarning, match="nothing to anneal"):
        plain.fit(x, y, epochs=1, verbose=0, callbacks=[schedule])
