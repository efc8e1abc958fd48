"""Standard Keras behaviour: shapes, config, fit/predict/jit, saving,
mixed precision, regularizers/constraints, parameter counts, bad input."""

import os

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import relative_error
from tests.helpers import to_numpy
from tests.models import small_gcnn

CONV_CASES = [
    (rk.layers.LiftingConv2D, dict(filters=3, kernel_size=3), (2, 9, 9, 2)),
    (
        rk.layers.LiftingConv2D,
        dict(filters=3, kernel_size=4, strides=2, padding="same", group="p4m"),
        (2, 10, 10, 2),
    ),
    (
        rk.layers.GroupConv2D,
        dict(filters=3, kernel_size=3, padding="same_equiv", strides=2),
        (2, 9, 9, 4, 2),
    ),
    (
        rk.layers.GroupConv2D,
        dict(filters=2, kernel_size=3, group="p4m", padding=1, use_bias=False),
        (2, 7, 8, 8, 3),
    ),
]
POOL_CASES = [
    (rk.layers.GroupMaxPooling2D, dict(pool_size=2), (2, 8, 8, 4, 3)),
    (
        rk.layers.GroupAveragePooling2D,
        dict(pool_size=3, strides=2, padding="same"),
        (2, 8, 8, 3),
    ),
    (rk.layers.GroupPooling, dict(mode="mean"), (2, 5, 5, 8, 3)),
    (rk.layers.GroupPooling, dict(mode="max", keepdims=True), (2, 5, 5, 4, 3)),
]
ELEMENTWISE_CASES = [
    (rk.layers.BatchNormalization, dict(momentum=0.9, epsilon=1e-5), (2, 5, 5, 4, 3)),
    (rk.layers.Dropout, dict(rate=0.3, seed=1), (2, 5, 5, 8, 3)),
    (rk.layers.ReLU, dict(max_value=6.0), (2, 5, 5, 4, 3)),
]
ALL_CASES = CONV_CASES + POOL_CASES + ELEMENTWISE_CASES


def case_id(case):
    return f"{case[0].__name__}-{'-'.join(f'{k}={v}' for k, v in case[1].items())}"


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_compute_output_shape_matches_call(case):
    cls, kwargs, shape = case
    layer = cls(**kwargs)
    out = layer(np.random.rand(*shape).astype("float32"))
    assert tuple(out.shape) == layer.compute_output_shape(shape)


@pytest.mark.parametrize("case", ALL_CASES, ids=case_id)
def test_config_round_trip_gives_the_same_layer(case):
    cls, kwargs, shape = case
    layer = cls(**kwargs)
    x = np.random.rand(*shape).astype("float32")
    out = layer(x)
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone.build(shape)
    clone.set_weights(layer.get_weights())
    assert relative_error(clone(x), out) == 0.0
    # Registered: generic Keras deserialization finds the class.
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert type(revived) is cls


@pytest.mark.parametrize("group", [pytest.param("p4", marks=pytest.mark.inductor), "p4m"])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_predict_and_jit_compile(group, jit_compile):
    model = small_gcnn(group)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    x = np.random.rand(32, 12, 12, 1).astype("float32")
    y = np.random.randint(0, 3, size=32)
    kernel = model.layers[1].kernel
    before = to_numpy(kernel).copy()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert np.abs(to_numpy(kernel) - before).max() > 0
    predictions = model.predict(x, batch_size=16, verbose=0)
    assert predictions.shape == (32, 3)
    assert relative_error(predictions, model(x, training=False)) < 1e-5


@pytest.mark.parametrize("fmt", ["keras", "weights.h5"])
def test_save_and_load_reproduce_outputs(tmp_path, fmt):
    model = small_gcnn("p4m")
    x = np.random.rand(4, 12, 12, 1).astype("float32")
    expected = model.predict(x, verbose=0)
    path = os.path.join(tmp_path, f"model.{fmt}")
    if fmt == "keras":
        model.save(path)
        loaded = keras.saving.load_model(path)
    else:
        model.save_weights(path)
        loaded = small_gcnn("p4m")
        loaded.load_weights(path)
    assert relative_error(loaded.predict(x, verbose=0), expected) < 1e-6


def test_checkpoint_holds_base_parameters_only(tmp_path):
    layer = rk.layers.GroupConv2D(5, 3, "p4m")
    layer.build((None, 9, 9, 8, 2))
    names = sorted(v.path.split("/")[-1] for v in layer.weights)
    assert names == ["bias", "kernel"]
    assert tuple(layer.kernel.shape) == (3, 3, 8, 2, 5)  # not |G| copies


def test_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = rk.layers.GroupConv2D(4, 3, "p4", padding="same")
        x = np.random.rand(2, 8, 8, 4, 3).astype("float32")
        out = layer(x)
        assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
        assert keras.backend.standardize_dtype(layer.kernel.dtype) == "float32"
        keras.config.set_dtype_policy("float32")
        reference = rk.layers.GroupConv2D.from_config(layer.get_config())
        reference.build(x.shape)
        reference.set_weights(layer.get_weights())
        assert relative_error(out, reference(x)) < 3e-2
    finally:
        keras.config.set_dtype_policy("float32")


def test_regularizers_and_constraints_are_used():
    layer = rk.layers.LiftingConv2D(
        3,
        3,
        "p4",
        kernel_regularizer=keras.regularizers.L2(0.1),
        bias_regularizer=keras.regularizers.L1(0.5),
        kernel_constraint=keras.constraints.NonNeg(),
        bias_initializer="ones",
    )
    model = keras.Sequential([keras.Input((8, 8, 1)), layer, rk.layers.GroupPooling()])
    kernel = to_numpy(layer.kernel)
    expected = 0.1 * np.sum(kernel**2) + 0.5 * 3
    assert float(to_numpy(sum(model.losses))) == pytest.approx(expected, 1e-5)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
    model.fit(
        np.random.rand(8, 8, 8, 1).astype("float32"),
        -np.ones((8, 6, 6, 3), "float32"),
        epochs=2,
        verbose=0,
    )
    assert to_numpy(layer.kernel).min() >= 0.0


@pytest.mark.parametrize(
    "layer,input_shape,expected",
    [
        # k*k*C_in*filters + filters
        (rk.layers.LiftingConv2D(10, 3, "p4"), (None, 28, 28, 1), 100),
        (rk.layers.LiftingConv2D(10, 3, "p4m", use_bias=False), (None, 9, 9, 3), 270),
        # k*k*|G|*C_in*filters + filters
        (rk.layers.GroupConv2D(10, 3, "p4"), (None, 9, 9, 4, 10), 3610),
        (rk.layers.GroupConv2D(10, 4, "p4m"), (None, 9, 9, 8, 10), 12810),
        (rk.layers.GroupMaxPooling2D(2), (None, 8, 8, 4, 10), 0),
    ],
)
def test_parameter_counts(layer, input_shape, expected):
    layer.build(input_shape)
    assert layer.count_params() == expected


def test_parameter_count_of_a_stack():
    # 3*3*1*4+4 | BN 4*4 (8 trainable) | 3*3*4*4*4+4 | 0 | 0 | 3*3*4*4*4+4 | 4*3+3
    model = small_gcnn("p4")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 40 + 8 + 580 + 580 + 15


@pytest.mark.parametrize(
    "make,shape,match",
    [
        (lambda: rk.layers.LiftingConv2D(2, 3), (1, 8, 8, 4, 1), "rank 4"),
        (lambda: rk.layers.GroupConv2D(2, 3), (1, 8, 8, 1), "rank 5"),
        (lambda: rk.layers.GroupConv2D(2, 3, "p4"), (1, 8, 8, 8, 1), "size 4"),
        (lambda: rk.layers.GroupPooling(), (1, 8, 8, 1), "group feature maps"),
        (lambda: rk.layers.GroupMaxPooling2D(), (1, 8, 8), "batch, height"),
        # Inputs smaller than the window: no output pixel (Keras's Conv2D
        # raises too; TensorFlow's convolution returned garbage).
        (lambda: rk.layers.LiftingConv2D(2, 9), (1, 8, 8, 1), r"output size would be \(0, 0\)"),
        (lambda: rk.layers.GroupConv2D(2, 3, dilation_rate=4), (1, 8, 8, 4, 1),
         r"spatial size \(8, 8\) is smaller than the window"),
        (lambda: rk.layers.GroupMaxPooling2D(9), (1, 8, 8, 4, 1), "output size"),
        (lambda: rk.layers.ContinuousLiftingConv2D(2, 9, "se2_4"), (1, 8, 8, 1),
         "output size"),
        (lambda: rk.layers.NonStationaryConv2D(2, 9), (1, 8, 8, 1), "output size"),
        # Pooling windows made of padding only (-inf maxima, 0 / 0 averages).
        (lambda: rk.layers.GroupMaxPooling2D(2, padding=2), (1, 8, 8, 4, 1),
         "below pool_size"),
        (lambda: rk.layers.GroupAveragePooling2D(2, padding=2), (1, 8, 8, 1),
         "below pool_size"),
    ],
)
def test_bad_input_shapes_raise_clear_errors(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make()(np.zeros(shape, "float32"))


def test_inputs_smaller_than_the_window_fail_when_the_model_is_built():
    inputs = keras.Input((8, 8, 1))
    with pytest.raises(ValueError, match="output size would be"):
        rk.layers.LiftingConv2D(2, 9)(inputs)
    # Padding that keeps one input pixel per window is fine.
    y = rk.layers.GroupAveragePooling2D(2, padding=1)(np.ones((1, 8, 8, 1), "float32"))
    assert y.shape == (1, 5, 5, 1) and np.all(to_numpy(y) == 1.0)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: rk.layers.GroupConv2D(2, 3, group="p5x"), "group"),
        (lambda: rk.layers.GroupConv2D(2, 3, group=rk.CyclicGroup(2.5)), "order"),
        (lambda: rk.layers.GroupConv2D(2, 3, padding="full"), "padding"),
        (lambda: rk.layers.GroupConv2D(2, 3, padding=-1), "padding"),
        (lambda: rk.layers.GroupConv2D(0, 3), "filters"),
        (lambda: rk.layers.GroupConv2D(2, (3, 0)), "kernel_size"),
        (lambda: rk.layers.GroupConv2D(2, (3, 5), group="p4"), "square"),
        (lambda: rk.layers.GroupPooling(mode="sum"), "mode"),
        (lambda: rk.layers.GroupMaxPooling2D(padding="reflect"), "padding"),
        # Arguments these layers used to drop silently.
        (lambda: rk.layers.NonStationaryConv2D(2, 3, group="se2_8"), "group"),
        (lambda: rk.layers.NonStationaryConv2D(2, 3, sample_offset=True), "sample_offset"),
        (lambda: rk.layers.PointwiseGroupConv2D(2, kernel_size=3), "kernel_size"),
    ],
)
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_non_square_kernels_for_half_turns():
    layer = rk.layers.LiftingConv2D(2, (3, 5), group="c2")
    x = np.random.rand(1, 9, 9, 1).astype("float32")
    out = layer(x)
    rotated = layer(x[:, ::-1, ::-1])
    assert relative_error(rotated, rk.groups.get("c2").transform(out, 1)) < 1e-5


@pytest.mark.parametrize("make,built_on,called_on", [
    (lambda: rk.layers.LiftingConv2D(3, 3, "p4"), (1, 6, 6, 1), (1, 6, 6, 2)),
    (lambda: rk.layers.RelaxedLiftingConv2D(3, 3, "p4"), (1, 6, 6, 1), (1, 6, 6, 2)),
    (lambda: rk.layers.GroupConv2D(3, 3, "p4"), (1, 6, 6, 4, 2), (1, 6, 6, 8, 2)),
    (lambda: rk.layers.GroupConv2D(3, 3, "p4"), (1, 6, 6, 4, 2), (1, 6, 6, 4, 3)),
    (lambda: rk.layers.ContinuousLiftingConv2D(3, 3, "se2_4"), (1, 6, 6, 1),
     (1, 6, 6, 2)),
    (lambda: rk.layers.GroupPooling(), (1, 6, 6, 4, 2), (1, 6, 6, 4)),
])
def test_built_layers_refuse_inputs_of_other_channels_or_rank(make, built_on, called_on):
    """A lifting conv built on 1 channel and called on 2 ran `ops.conv` as a
    grouped convolution, and GroupPooling on a rank-4 map pooled the
    channels, both without a word; Keras's own Conv2D raises."""
    layer = make()
    layer(np.zeros(built_on, "float32"))
    with pytest.raises(ValueError, match="incompatible|was built for"):
        layer(np.zeros(called_on, "float32"))


def test_continuous_group_layers_check_features_and_elements():
    lift = rk.layers.ContinuousLiftingConv2D(3, 3, "se2_4")
    features, elements = lift(np.zeros((1, 6, 6, 1), "float32"))
    gconv = rk.layers.ContinuousGroupConv2D(3, 3, "se2_4")
    gconv([features, elements])
    with pytest.raises(ValueError, match="was built for inputs with 3 channels"):
        gconv([np.zeros((1, 4, 4, 4, 5), "float32"), elements])
    pool = rk.layers.ContinuousGroupPooling()
    assert tuple(pool([features, elements]).shape) == (1, 4, 4, 3)
    with pytest.raises(ValueError, match="elements \\[N, 3\\]"):
        pool([features, elements[:2]])
    with pytest.raises(ValueError, match="expects `\\[features, elements\\]`"):
        rk.layers.ContinuousGroupPooling()(features)
    with pytest.raises(ValueError, match="keepdims"):
        rk.layers.GroupPooling(keepdims="no")


@pytest.mark.parametrize("make", [
    lambda: rk.layers.LiftingConv2D(2, 3, "p4", padding="same"),
    lambda: rk.layers.RelaxedLiftingConv2D(2, 3, "p4", padding=1),
    lambda: rk.layers.GroupMaxPooling2D(3, strides=1, padding="same"),
    lambda: rk.layers.GroupAveragePooling2D(3, strides=1, padding="same"),
], ids=["lifting", "relaxed_lifting", "max_pool", "average_pool"])
def test_integer_images_are_cast_like_float_ones(make):
    """Raw uint8/int32 images: the layers compute in their compute dtype
    (TensorFlow and torch used to fail inside the convolution or the
    -inf padding with a backend error; JAX worked)."""
    images = np.random.RandomState(0).randint(0, 256, (2, 8, 8, 1))
    layer = make()
    expected = to_numpy(layer(images.astype("float32")))
    for dtype in ("uint8", "int32"):
        y = layer(images.astype(dtype))
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
        np.testing.assert_allclose(to_numpy(y), expected, rtol=1e-6)


def test_average_pooling_with_unknown_spatial_size_predicts_two_sizes():
    """Padding counts built from the dynamic shape: on TensorFlow, a model
    with unknown height/width retraced at a second size used to fail with
    "Expected int32, but got None"."""
    for cls in (rk.layers.GroupAveragePooling2D, rk.layers.GroupMaxPooling2D):
        inputs = keras.Input((None, None, 4, 2))
        model = keras.Model(inputs, cls(3, strides=1, padding="same")(inputs))
        for size in (8, 11, 6):
            x = np.random.rand(2, size, size, 4, 2).astype("float32")
            y = model.predict(x, verbose=0)
            assert y.shape == (2, size, size, 4, 2)
            np.testing.assert_allclose(y, to_numpy(cls(3, strides=1, padding="same")(x)),
                                       rtol=1e-6)


def test_kernel_cache_round_trips_its_config():
    cache = rk.layers.KernelCache((3, 3, 4, 2, 5))
    config = cache.get_config()
    clone = rk.layers.KernelCache.from_config(config)
    assert clone.get_config() == config and not clone.trainable
    assert tuple(clone.value.shape) == (3, 3, 4, 2, 5)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(cache))
    assert isinstance(restored, rk.layers.KernelCache)
