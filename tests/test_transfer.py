"""Transfer controls of `rk.zoo.load`: a new head, the backbone as a
feature extractor, freezing; and `rk.testing.assert_equivariant`."""

import os

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import relative_error
from tests.helpers import to_numpy

PRESET = "p4cnn_strict_mnist6_180"


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).rand(4, 28, 28, 1).astype("float32")


def test_num_classes_replaces_only_the_head(images):
    preset = rk.zoo.load(PRESET, compile=False)
    model = rk.zoo.load(PRESET, num_classes=5)
    assert model.output_shape == (None, 5)
    assert model.get_layer("logits").kernel.shape == (
        preset.get_layer("logits").kernel.shape[0], 5)
    for old, new in zip(preset.layers, model.layers):
        if old.name != "logits":
            for a, b in zip(old.weights, new.weights):
                np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    # Same backbone: the extracted features agree exactly.
    features = [rk.zoo.feature_extractor(m, "avg").predict(images, verbose=0)
                for m in (preset, model)]
    np.testing.assert_array_equal(*features)
    # Compiled and trainable on 5 classes.
    model.fit(images, np.arange(4) % 5, epochs=1, verbose=0)


def test_num_classes_equal_to_the_presets_keeps_its_head(images):
    preset = rk.zoo.load(PRESET, compile=False)
    same = rk.zoo.load(PRESET, compile=False, num_classes=preset.output_shape[-1])
    np.testing.assert_array_equal(preset.predict(images, verbose=0),
                                  same.predict(images, verbose=0))


@pytest.mark.parametrize("pooling, shape", [
    (None, (4, 11, 11, 4, 10)), ("avg", (4, 10)), ("max", (4, 10))])
def test_feature_extractor_shapes_and_values(images, pooling, shape):
    """``pooling=None``: the maps before the global pooling; ``"avg"`` /
    ``"max"``: their mean / max over space and group (checked in numpy)."""
    maps = rk.zoo.load(PRESET, include_top=False).predict(images, verbose=0)
    features = rk.zoo.load(PRESET, include_top=False, pooling=pooling)
    out = features.predict(images, verbose=0)
    assert out.shape == shape
    if pooling is not None:
        reduce = np.mean if pooling == "avg" else np.max
        assert relative_error(out, reduce(maps, axis=(1, 2, 3))) < 1e-5


def test_pooled_features_of_a_strict_preset_are_invariant():
    """28x28: every strided layer of the P4CNN is exact there
    (`rk.diagnostics.exactness_report`)."""
    x = np.random.RandomState(1).rand(2, 28, 28, 1).astype("float32")
    model = rk.zoo.load(PRESET, compile=False)
    rk.testing.assert_equivariant(rk.zoo.feature_extractor(model, "avg"), x,
                                  group="p4", atol=1e-5)
    rk.testing.assert_equivariant(rk.zoo.feature_extractor(model, None), x,
                                  group="p4", atol=1e-5)


def test_feature_extractor_of_continuous_models():
    x = np.random.RandomState(2).rand(2, 28, 28, 1).astype("float32")
    for mode in ("partial", "soft"):
        model = rk.zoo.build("p4cnn", equivariance=mode)
        out = rk.zoo.feature_extractor(model, "max").predict(x, verbose=0)
        maps = rk.zoo.feature_extractor(model, None).predict(x, verbose=0)
        assert out.shape == (2, 10) and maps.shape == (2, 11, 11, 4, 10)


def test_feature_extractor_saves_and_loads(tmp_path, images):
    features = rk.zoo.load(PRESET, include_top=False, pooling="avg")
    path = os.path.join(tmp_path, "features.keras")
    features.save(path)
    again = keras.saving.load_model(path)
    assert relative_error(again.predict(images, verbose=0),
                          features.predict(images, verbose=0)) < 1e-6


def test_frozen_backbone_trains_only_the_head(images):
    model = rk.zoo.load(PRESET, num_classes=3, compile=False)
    rk.zoo.set_backbone_trainable(model, False)
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]
    before = [to_numpy(w) for w in model.weights]
    rk.zoo.compile_classifier(model, 1e-2)
    model.fit(images, np.arange(4) % 3, epochs=2, verbose=0)
    moved = [not np.array_equal(a, to_numpy(w)) for a, w in zip(before, model.weights)]
    head = [w.path.startswith("logits/") for w in model.weights]
    assert moved == head
    rk.zoo.set_backbone_trainable(model, True)
    assert len(model.trainable_weights) > 2


@pytest.mark.parametrize("kwargs, error, words", [
    ({"num_classes": 0}, ValueError, "num_classes"),
    ({"num_classes": 2.0}, ValueError, "num_classes"),
    ({"num_classes": True}, ValueError, "num_classes"),
    ({"pooling": "mean", "include_top": False}, ValueError, "pooling"),
    ({"pooling": "avg"}, ValueError, "include_top=False"),
    ({"num_classes": 3, "include_top": False}, ValueError, "num_classes"),
    ({"include_top": "no"}, TypeError, "include_top"),
])
def test_bad_transfer_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        rk.zoo.load(PRESET, **kwargs)


def test_transfer_helpers_need_a_zoo_model():
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    for call in (lambda: rk.zoo.with_num_classes(plain, 3),
                 lambda: rk.zoo.feature_extractor(plain),
                 lambda: rk.zoo.set_backbone_trainable(plain, False)):
        with pytest.raises(ValueError, match="zoo model"):
            call()


# ----------------------------------------------------- assert_equivariant
def test_assert_equivariant_passes_for_exact_layers_and_models():
    x = np.random.RandomState(3).rand(2, 9, 9, 1).astype("float32")
    lifting = rk.layers.LiftingConv2D(4, 3, group="p4m")
    rk.testing.assert_equivariant(lifting, x, group="p4m")  # rank-5 output
    gconv = rk.layers.GroupConv2D(3, 3, group="p4m")
    rk.testing.assert_equivariant(gconv, lifting(x), group="p4m")  # rank 5 in
    pooled = lambda t: rk.layers.GroupPooling("max")(lifting(t))  # noqa: E731
    rk.testing.assert_equivariant(pooled, x, group="p4m")  # rank-4 output


def test_assert_equivariant_reports_every_failing_element():
    x = np.random.RandomState(4).rand(2, 28, 28, 1).astype("float32")
    model = rk.zoo.build("z2cnn")
    with pytest.raises(AssertionError) as info:
        rk.testing.assert_equivariant(model, x, group="p4")
    message = str(info.value)
    assert "elements [1, 2, 3]" in message
    for element in ("rotation 90 deg", "rotation 180 deg", "rotation 270 deg"):
        assert element in message
    # A loose enough tolerance passes the same model.
    rk.testing.assert_equivariant(model, x, group="p4", atol=1e3)


def test_assert_equivariant_fails_on_nan_and_checks_its_arguments():
    x = np.ones((1, 5, 5, 1), "float32")
    with pytest.raises(AssertionError):
        rk.testing.assert_equivariant(lambda t: t * np.nan, x, group="p4")
    with pytest.raises(ValueError, match="atol"):
        rk.testing.assert_equivariant(lambda t: t, x, atol=-1.0)
    with pytest.raises(ValueError, match="rtol"):
        rk.testing.assert_equivariant(lambda t: t, x, rtol=float("inf"))
    with pytest.raises(ValueError, match="elements"):
        rk.testing.assert_equivariant(lambda t: t, x, group="p4", elements=[4])
