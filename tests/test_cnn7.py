"""The PlainCNN / P4CNN / RelaxedP4CNN models of the anisotropic-noise study."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import relative_error


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "mode,expected", [("none", 25750), ("strict", 25400), ("relaxed", 27544)]
)
def test_parameter_counts_match_table_2(mode, expected):
    model = rk.models.build("cnn7", equivariance=mode)
    assert trainable_count(model) == expected


@pytest.mark.parametrize("mode", ["strict", "relaxed"])
def test_equivariant_modes_are_invariant_at_initialisation(mode):
    model = rk.models.build("cnn7", input_shape=(16, 16, 1), equivariance=mode,
                            num_hidden_layers=3)
    x = np.random.rand(2, 16, 16, 1).astype("float32")
    error = rk.diagnostics.equivariance_error(model, x, metric="relative")
    assert error < 1e-5


def test_plain_cnn_is_not_invariant():
    model = rk.models.build("cnn7", input_shape=(16, 16, 1), equivariance="none",
                            num_hidden_layers=3)
    x = np.random.rand(2, 16, 16, 1).astype("float32")
    assert rk.diagnostics.equivariance_error(model, x, group="p4", metric="relative") > 1e-3


def test_model_saves_and_rebuilds_from_config(tmp_path):
    model = rk.models.build("cnn7", input_shape=(12, 12, 1), equivariance="relaxed",
                            num_hidden_layers=2)
    x = np.random.rand(2, 12, 12, 1).astype("float32")
    path = str(tmp_path / "cnn7.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, rk.models.CNN7)
    assert relative_error(loaded.predict(x, verbose=0), model.predict(x, verbose=0)) < 1e-6


def test_registry_errors():
    with pytest.raises(ValueError, match="equivariance"):
        rk.models.build("cnn7", equivariance="sparse")
    with pytest.raises(ValueError, match="cnn7"):
        rk.models.build("cnn8")
    assert "cnn7" in rk.models.list_architectures()
    assert "Anisotropic" in rk.models.describe("cnn7")


@pytest.mark.slow
def test_three_models_train_on_a_slice_of_noisy_rotated_mnist():
    (x_train, y_train), (x_test, y_test) = rk.datasets.noisy_rotated_mnist(
        "aniso", sigma=0.1, source="subset"
    )
    x_train, y_train = x_train[:256], y_train[:256]
    for mode in ["none", "strict", "relaxed"]:
        model = rk.models.build("cnn7", equivariance=mode, num_hidden_layers=2)
        model.compile(
            optimizer=keras.optimizers.Adam(0.002),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(x_train, y_train, batch_size=64, epochs=3, verbose=0)
        losses = history.history["loss"]
        assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], mode
        loss, accuracy = model.evaluate(x_test[:128], y_test[:128], verbose=0)
        assert np.isfinite(loss) and 0.0 <= accuracy <= 1.0, mode
