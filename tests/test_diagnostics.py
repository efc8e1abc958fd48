"""equivariance_error, exactness_report and rotation_sweep."""

import os

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.models import small_gcnn


def strided_model(size, group="p4"):
    inputs = keras.Input((size, size, 3))
    x = rk.layers.LiftingConv2D(4, 3, group, padding="same")(inputs)
    x = rk.layers.GroupConv2D(4, 3, group, strides=2, padding=1, name="down")(x)
    x = rk.layers.GroupMaxPooling2D(2, name="pool")(x)
    x = rk.layers.GroupPooling()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2)(x))


def test_equivariance_error_metrics_on_exact_and_broken_models():
    x = np.random.rand(2, 33, 33, 3).astype("float32")
    exact = strided_model(33)  # 33 -> 17 -> pool 2 on 17: broken at pool
    errors = rk.diagnostics.equivariance_error(
        exact, x, layer_name="down", metric="relative", per_element=True
    )
    assert set(errors) == {1, 2, 3} and max(errors.values()) < 1e-5
    broken = rk.diagnostics.equivariance_error(exact, x, layer_name="pool")
    assert broken > 1e-4
    # Logits: invariance error, inferred group, every metric non-negative.
    for metric in ["eq14", "relative", "max_abs"]:
        assert rk.diagnostics.equivariance_error(exact, x, metric=metric) > 0
    x34 = np.random.rand(2, 34, 34, 3).astype("float32")
    model34 = strided_model(34)  # (34 + 2 - 3) mod 2 = 1 at "down"
    assert rk.diagnostics.equivariance_error(model34, x34, layer_name="down") > 1e-4


def test_eq14_value_by_hand():
    layer = rk.layers.GroupPooling("max")
    x = np.random.rand(3, 4, 4, 4, 2).astype("float32")
    # GroupPooling output transforms spatially: exact -> 0.
    assert rk.diagnostics.equivariance_error(layer, x, group="p4") < 1e-7

    class Shift(keras.layers.Layer):
        def call(self, t):
            return keras.ops.roll(t, 1, axis=1)

    x = np.random.rand(2, 5, 5, 1).astype("float32")
    got = rk.diagnostics.equivariance_error(
        Shift(), x, group="p4", elements=[2], metric="eq14"
    )
    a = np.roll(np.rot90(x, 2, axes=(1, 2)), 1, axis=1)
    b = np.rot90(np.roll(x, 1, axis=1), 2, axes=(1, 2))
    per_sample = np.sqrt(((a - b) ** 2).reshape(2, -1).sum(1)) / 25
    assert got == pytest.approx(per_sample.mean(), rel=1e-5)


def test_model_error_from_one_predict_pass_equals_the_per_input_calls():
    """On JAX a functional model's f(x), f(T_g x) come from one `predict`
    pass (one batch per input); the errors equal those of the model called
    on each input, per element and metric, on a model whose error is not
    zero (every backend)."""
    inputs = keras.Input((9, 9, 1))
    x = rk.layers.LiftingConv2D(3, 3, "p4")(inputs)
    x = rk.layers.GroupPooling()(x)
    x = keras.layers.Flatten()(x)  # position-dependent: breaks invariance
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    images = np.random.default_rng(1).random((5, 9, 9, 1), "float32")
    group = rk.groups.get("p4")
    reference = keras.ops.convert_to_numpy(model(images, training=False))
    passes = []
    predict = model.predict
    model.predict = lambda *a, **k: passes.append(k["batch_size"]) or predict(*a, **k)
    for metric in ("eq14", "relative", "max_abs"):
        got = rk.diagnostics.equivariance_error(
            model, images, metric=metric, per_element=True, elements=[3, 1]
        )
        assert list(got) == [3, 1]
        for index, value in got.items():
            turned = keras.ops.convert_to_numpy(
                model(group.transform(images, index), training=False))
            diff = np.abs(turned.astype("float64") - reference)
            expected = {
                "max_abs": diff.max(),
                "relative": diff.max() / np.abs(reference).max(),
                "eq14": np.mean(np.sqrt((diff ** 2).sum(1)) / diff.shape[1]),
            }[metric]
            assert expected > 1e-3
            assert value == pytest.approx(expected, rel=1e-4)
    assert passes == ([5] * 3 if keras.backend.backend() == "jax" else [])


def test_equivariance_error_rejects_bad_arguments():
    with pytest.raises(ValueError, match="metric"):
        rk.diagnostics.equivariance_error(
            rk.layers.GroupPooling(), np.zeros((1, 3, 3, 4, 1)), "p4", metric="l3"
        )
    with pytest.raises(ValueError, match="group"):
        rk.diagnostics.equivariance_error(
            keras.layers.ReLU(), np.zeros((1, 3, 3, 1))
        )


def test_equivariance_error_of_continuous_layers_and_group_names():
    """Continuous layers return ``(features, elements)``: the error compares
    the features (it raised AttributeError on the tuple), for a layer and
    for `layer_name=`; the layerwise error takes a group's name."""
    rng = np.random.RandomState(0)
    lifting = rk.layers.ContinuousLiftingConv2D(2, 3, group="se2_4", padding=1)
    x = rng.rand(2, 9, 9, 1).astype("float32")
    assert rk.diagnostics.equivariance_error(lifting, x, metric="relative") < 1e-5
    model = rk.zoo.build("p4cnn", equivariance="partial", group="se2_4", width=2)
    images = rng.rand(2, 28, 28, 1).astype("float32")
    for name in ("conv1", "conv3"):
        error = rk.diagnostics.equivariance_error(model, images, layer_name=name,
                                                  metric="relative")
        assert error < 1e-5, (name, error)
    strict = rk.zoo.build("p4cnn", width=2)
    by_name = rk.diagnostics.layerwise_equivariance_error(strict, images, group="p4")
    assert by_name == rk.diagnostics.layerwise_equivariance_error(strict, images)
    assert len(by_name) == 7 and max(e for _, e in by_name) < 1e-5


def test_exactness_report_sees_keras_padding_and_cropping():
    """Asymmetric ZeroPadding2D / Cropping2D move the image off the centre
    of rotation: the report says so, and the measured error agrees (it
    used to report exact with an error of ~1)."""
    rng = np.random.RandomState(0)
    for border in (keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name="border"),
                   keras.layers.Cropping2D(((1, 0), (1, 0)), name="border")):
        # 10 -> 11 or 9 pixels: the strided conv alone would be exact.
        model = keras.Sequential([keras.Input((10, 10, 1)), border,
                                  rk.layers.LiftingConv2D(2, 3, strides=2)])
        report = rk.diagnostics.exactness_report(model, (10, 10, 1))
        assert report.offending_layers == ["border"], str(report)
        x = rng.rand(2, 10, 10, 1).astype("float32")
        assert rk.diagnostics.equivariance_error(model, x, metric="relative") > 1e-2
    symmetric = keras.Sequential([keras.Input((9, 9, 1)), keras.layers.ZeroPadding2D(1),
                                  keras.layers.Cropping2D(1),
                                  rk.layers.LiftingConv2D(2, 3, strides=2)])
    assert rk.diagnostics.exactness_report(symmetric, (9, 9, 1)).exact
    with pytest.raises(ValueError, match="sampling_geometry"):
        rk.diagnostics.exactness_report(rk.layers.LiftingConv2D(2, 3, strides=2), (8, 8, 1))


def test_exactness_report_needs_the_same_window_along_both_axes():
    """A quarter turn swaps height and width: pool_size=(1, 3) satisfies
    Eq. 3 along each axis but breaks the invariance (it used to be reported
    exact, with a measured error of 0.03-0.07). With quarter_turns=False
    (p2/p2m models) the same layer is exact."""
    model = keras.Sequential([
        keras.Input((9, 9, 1)), rk.layers.LiftingConv2D(2, 1, "p4"),
        rk.layers.GroupMaxPooling2D((1, 3), strides=1, name="pool"),
        rk.layers.GroupPooling("max"), rk.layers.GlobalSpatialPooling2D("mean")])
    report = rk.diagnostics.exactness_report(model, (9, 9, 1))
    assert report.offending_layers == ["pool"], str(report)
    assert "height and width differ" in str(report)
    x = np.random.RandomState(0).rand(2, 9, 9, 1).astype("float32")
    assert rk.diagnostics.equivariance_error(model, x, metric="relative") > 1e-3
    assert rk.diagnostics.exactness_report(model, (9, 9, 1), quarter_turns=False).exact
    with pytest.raises(ValueError, match="quarter_turns"):
        rk.diagnostics.exactness_report(model, (9, 9, 1), quarter_turns="no")


def test_exactness_report_searches_the_whole_radius():
    model = keras.Sequential([keras.Input((10, 10, 1)),
                              rk.layers.LiftingConv2D(2, 3, strides=2)])
    report = rk.diagnostics.exactness_report(model, (10, 10, 1), search_radius=1)
    assert report.suggested_sizes == (9, 11)


def test_exactness_report_32_vs_33():
    model = strided_model(33)
    report = rk.diagnostics.exactness_report(model, (33, 33, 3))
    # 33 -> same conv 33 -> down (33 + 2 - 3) % 2 = 0 -> 17 -> pool (17-2)%2=1
    assert report.offending_layers == ["pool"]
    report = rk.diagnostics.exactness_report(model, (32, 32, 3))
    assert report.offending_layers == ["down"]
    small, large = report.suggested_sizes
    assert small is not None and large is not None
    for size in (small, large):
        assert rk.diagnostics.exactness_report(model, (size, size, 3)).exact
    text = str(report)
    assert "down" in text and "NO" in text and "nearest exact" in text


def test_exactness_report_covers_keras_layers_and_sequential():
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(2, 3, padding="same"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(2, 3, strides=2, padding="same"),
        ]
    )
    report = rk.diagnostics.exactness_report(model, (28, 28, 1))
    # 14 with k=3, s=2, "same": pads 0+1 -> asymmetric -> not exact.
    assert report.offending_layers == [model.layers[2].name]
    assert rk.diagnostics.exactness_report(model, (30, 30, 1)).exact
    with pytest.raises(ValueError, match="input_shape"):
        rk.diagnostics.exactness_report(model, (28, 28))


def test_rotation_sweep_is_flat_at_multiples_of_90_and_plots(tmp_path):
    model = small_gcnn("p4", input_shape=(12, 12, 1))
    x = np.random.rand(16, 12, 12, 1).astype("float32")
    y = np.random.randint(0, 3, 16)
    path = os.path.join(tmp_path, "sweep.png")
    rows = rk.diagnostics.rotation_sweep(
        model, x, y, angles=[0, 45, 90, 180, 270], plot_path=path
    )
    assert [r["angle"] for r in rows] == [0, 45, 90, 180, 270]
    accuracies = {r["angle"]: r["accuracy"] for r in rows}
    # The small model is exactly invariant at 12x12: equal accuracy at 90s.
    assert accuracies[0] == accuracies[90] == accuracies[180] == accuracies[270]
    assert os.path.getsize(path) > 1000


def test_layerwise_error_on_a_model_with_one_group_layer():
    """A one-output probe returns a bare tensor: the loop used to run over
    the batch instead of the layers (a broadcast error or IndexError)."""
    inputs = keras.Input((8, 8, 1))
    x = rk.layers.LiftingConv2D(2, 3, "p4", padding="same", name="lift")(inputs)
    x = rk.layers.GroupPooling()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(
        keras.layers.GlobalAveragePooling2D()(x)))
    x = np.random.rand(3, 8, 8, 1).astype("float32")
    rows = rk.diagnostics.layerwise_equivariance_error(model, x)
    assert [name for name, _ in rows] == ["lift"] and rows[0][1] < 1e-5


@pytest.mark.parametrize("call,argument", [
    (lambda D, m, x, y: D.exactness_report(m, 9), "input_shape"),
    (lambda D, m, x, y: D.exactness_report(m, (9.0, 9.0, 1)), "input_shape"),
    (lambda D, m, x, y: D.equivariance_error(m, x, elements=2), "elements"),
    (lambda D, m, x, y: D.layerwise_equivariance_error(m, x, quarter_turns=1),
     "quarter_turns"),
    (lambda D, m, x, y: D.rotation_sweep(m, x, 1, angles=(0, 45)), "`y`"),
    (lambda D, m, x, y: D.rotation_sweep(m, x, y[:1], angles=(0, 45)), "`y`"),
    (lambda D, m, x, y: D.rotation_sweep(m, x, y, angles="90"), "angles"),
    (lambda D, m, x, y: D.learned_equivariance("p4cnn"), "model or layer"),
    (lambda D, m, x, y: D.stochastic_predict(m, x, batch_size=0), "batch_size"),
    (lambda D, m, x, y: D.format_learned_equivariance([{"layer": "a"}]), "lacks"),
    # A plain CNN: no equivariant layers, no plot (it wrote an empty figure).
    (lambda D, m, x, y: D.learned_equivariance(
        keras.Sequential([keras.Input((9, 9, 3)), keras.layers.Conv2D(2, 3)]),
        plot=os.devnull), "No equivariant layers"),
])
def test_diagnostics_refuse_bad_arguments(call, argument):
    """TypeError/AttributeError/KeyError before, or (a scalar label) a
    sweep that compared one label with every prediction."""
    model = strided_model(9)
    x = np.random.rand(2, 9, 9, 3).astype("float32")
    with pytest.raises(ValueError, match=argument):
        call(rk.diagnostics, model, x, np.array([0, 1]))
