"""The zoo's trainer: resumable epochs, best-epoch choice, batch-norm
re-estimation, optimiser and schedule (tiny slices of the shipped MNIST
subset; the real trainings never run here)."""

import json
import os

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from relaxed_keras.zoo import checkpoints
from relaxed_keras.zoo import optimization
from relaxed_keras.zoo import training
from relaxed_keras.zoo.statistics import BatchNormEstimator
from tests.helpers import to_numpy

# MNIST6-180 (always offline): 800 training images, the last 200 as
# validation, a small batch-norm Z2CNN.
RECIPE = {
    "architecture": "z2cnn",
    "model": {"equivariance": "none", "width": 4, "dropout": 0.3},
    "dataset": "mnist6_180",
    "dataset_args": {"source": "subset"},
    "train_size": 200,
    "validation_size": 200,
    "test_size": 100,
    "epochs": 3,
    "batch_size": 50,
    "learning_rate": 3e-3,
    "schedule": "cosine",
    "warmup_epochs": 1,
    "weight_decay": 1e-2,
    "batch_norm_images": 128,
}


class _Interrupt(keras.callbacks.Callback):
    """Kills `fit` at the start of epoch ``at`` (0-based), as the end of
    a machine's lease would."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("interrupted")


def test_interrupted_training_resumes_at_the_next_epoch(tmp_path, monkeypatch):
    """A run killed after 2 of 3 epochs continues at epoch 3 from its state
    folder: the history holds epochs 1, 2, 3 once each, the learning rate
    of epoch 3 is the uninterrupted schedule's (the optimizer's step counter
    was restored), and the preset takes the best validation epoch."""
    state = str(tmp_path / "state")
    real = training.callbacks_for
    monkeypatch.setattr(training, "callbacks_for",
                        lambda model: real(model) + [_Interrupt(2)])
    with pytest.raises(KeyboardInterrupt):
        training.train_recipe(RECIPE, state_dir=state, verbose=0)
    records = checkpoints.read_history(state)
    assert [r["epoch"] for r in records] == [1, 2]
    monkeypatch.setattr(training, "callbacks_for", real)
    _, meta = training.train_recipe(RECIPE, output=str(tmp_path / "preset"),
                                    state_dir=state, verbose=0)
    history = meta["history"]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[:2] == records
    steps = 200 // 50
    schedule = optimization.learning_rate_schedule(RECIPE, steps)
    # The rate logged after epoch e is the schedule's at step e * steps.
    for record in history:
        expected = float(to_numpy(schedule(record["epoch"] * steps)))
        assert record["learning_rate"] == pytest.approx(expected, rel=1e-5)
    best = max(history, key=lambda r: (r["val_accuracy"], -r["epoch"]))
    assert meta["chosen_epoch"] == best["epoch"]
    assert meta["epochs_run"] == 3
    assert not os.path.exists(state), "state folder kept after the preset"
    assert meta["figures"] == ["training_curves.png"]
    folder = tmp_path / "preset"
    assert (folder / "training_curves.png").stat().st_size > 10_000
    card = (folder / "README.md").read_text()
    assert f"| chosen epoch | {best['epoch']} of 3 (best validation accuracy) |" in card
    assert "![training curves](training_curves.png)" in card


def test_the_saved_preset_holds_the_best_epoch_weights(tmp_path):
    """The preset's validation accuracy is that of the chosen epoch's
    weights (re-estimating statistics on more images may move it by a few
    images, never to another epoch's value by chance)."""
    model, meta = training.train_recipe(RECIPE, state_dir=str(tmp_path / "s"),
                                        verbose=0)
    chosen = next(r for r in meta["history"] if r["epoch"] == meta["chosen_epoch"])
    assert abs(meta["validation_accuracy"] - 100 * chosen["val_accuracy"]) <= 5.0
    assert meta["batch_norm"]["reestimated_on_train_images"] == 128


def test_a_state_folder_of_another_recipe_is_refused(tmp_path):
    state = str(tmp_path / "state")
    os.makedirs(state)
    with open(os.path.join(state, training.STATE_RECIPE_FILE), "w") as f:
        json.dump(dict(RECIPE, epochs=7), f)
    with pytest.raises(ValueError, match="belongs to another recipe"):
        training.train_recipe(RECIPE, state_dir=state, verbose=0)


def _trained_with_dropout():
    keras.utils.set_random_seed(1)
    model = rk.zoo.build("p4cnn", equivariance="strict", width=3, dropout=0.5,
                         input_shape=(12, 12, 1), num_classes=3)
    rk.zoo.compile_classifier(model, 1e-2)
    x = np.random.RandomState(0).rand(96, 12, 12, 1).astype("float32")
    y = np.arange(96) % 3
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    return model, x


def test_reestimated_statistics_are_the_inference_moments_of_each_input():
    """After re-estimation, each batch norm's moving mean and variance are
    the exact (population) moments of its inference-mode input over the
    images, group axis included, computed after the layers before it were
    corrected (1e-5 relative); a second pass changes nothing."""
    model, x = _trained_with_dropout()
    drift = rk.zoo.reestimate_batch_norm(model, x, batch_size=40)
    assert max(drift.values()) > 1e-3, "dropout 0.5 must have shifted them"
    for layer in BatchNormEstimator(model).layers:
        values = keras.Model(model.inputs, layer.input).predict(x, verbose=0)
        values = np.asarray(values, "float64").reshape(-1, values.shape[-1])
        np.testing.assert_allclose(to_numpy(layer.moving_mean), values.mean(0),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(to_numpy(layer.moving_variance), values.var(0),
                                   rtol=1e-4, atol=1e-6)
    again = rk.zoo.reestimate_batch_norm(model, x, batch_size=40)
    assert max(again.values()) < 1e-4


def test_reestimation_keeps_a_p4cnn_invariant():
    """Statistics per channel shared by the group axis: the re-estimated
    P4CNN is still invariant to 90-degree rotations (1e-5)."""
    model, x = _trained_with_dropout()
    rk.zoo.reestimate_batch_norm(model, x)
    error = rk.diagnostics.equivariance_error(model, x[:8], group="p4",
                                              metric="relative")
    assert error < 1e-5


def test_weight_decay_reaches_kernel_matrices_only():
    """AdamW decays convolution, dense and kernel-network matrices; biases,
    batch norm and the symmetry parameters (relaxed weights, theta,
    omega') are left to their own priors."""
    for mode in ("relaxed", "partial", "soft"):
        model = rk.zoo.build("p4cnn", equivariance=mode, width=2,
                             input_shape=(12, 12, 1), num_classes=2)
        optimizer = optimization.make_optimizer(model, dict(RECIPE), 4)
        assert isinstance(optimizer, keras.optimizers.AdamW)
        optimizer.build(model.trainable_variables)
        decayed = {v.name for v in model.trainable_variables
                   if optimizer._use_weight_decay(v)}
        kept = {v.name for v in model.trainable_variables
                if not optimizer._use_weight_decay(v)}
        assert decayed and all(optimization.DECAYED.match(n) for n in decayed)
        assert {"bias", "gamma", "beta"} <= kept
        assert kept & {"relaxed_weights", "theta", "omega_prime"}, mode
    plain = optimization.make_optimizer(model, dict(RECIPE, weight_decay=0.0), 4)
    assert isinstance(plain, keras.optimizers.Adam)
    assert not isinstance(plain, keras.optimizers.AdamW)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    schedule = optimization.learning_rate_schedule(dict(RECIPE), 10)
    rates = [float(to_numpy(schedule(step))) for step in (0, 5, 10, 20, 30)]
    assert rates[0] == pytest.approx(0.0, abs=1e-9)
    assert rates[1] == pytest.approx(1.5e-3, rel=1e-5)
    assert rates[2] == pytest.approx(3e-3, rel=1e-5)
    assert rates[2] > rates[3] > rates[4]
    assert rates[4] == pytest.approx(0.0, abs=1e-9)
    assert optimization.learning_rate_schedule(
        dict(RECIPE, schedule="constant"), 10) == 3e-3
