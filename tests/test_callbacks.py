"""`relaxed_keras.callbacks` in `model.fit` and the training helpers of
`relaxed_keras.zoo.training` (arguments, label formats)."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from relaxed_keras.zoo import training
from tests.helpers import to_numpy


def _gumbel_state(model):
    """(step counter, horizon, temperature) of the first mirror layer
    (every partial layer of the model gets the same values)."""
    rows = {
        (float(to_numpy(layer.gumbel_step)),
         float(to_numpy(layer.gumbel_decay_steps)),
         float(to_numpy(layer.temperature())))
        for layer in model.layers if hasattr(layer, "gumbel_decay_steps")
    }
    assert len(rows) == 1, rows
    return rows.pop()


def test_gumbel_schedule_resumed_fit_ends_at_the_final_temperature():
    """A `fit` resumed at ``initial_epoch`` follows the schedule of the
    uninterrupted run: the counter starts at ``initial_epoch * steps`` and
    the temperature reaches ``temperature_end`` at the last epoch (it used
    to restart at 0 and end at 0.25, the temperature of the run's middle).
    `validation_data` does not move the counter and `steps_per_epoch` sets
    the horizon."""
    model = rk.zoo.build("p4cnn", equivariance="partial", group="e2_4", width=2,
                         input_shape=(12, 12, 1), num_classes=2)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.RandomState(0).rand(8, 12, 12, 1).astype("float32")
    y = np.array([0, 1] * 4)
    layer = next(layer for layer in model.layers if hasattr(layer, "gumbel_step"))
    end = layer.temperature_end
    assert layer.temperature_start - end > 0.1

    class CounterAtEpochStart(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.counters = []

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.counters.append(_gumbel_state(self.model)[0])

    # 4 steps per epoch; the whole run is 4 epochs, 16 steps.
    schedule = rk.callbacks.GumbelTemperatureSchedule()
    model.fit(x, y, batch_size=2, epochs=4, validation_data=(x, y), verbose=0,
              callbacks=[schedule])
    step, horizon, temperature = _gumbel_state(model)
    assert (step, horizon) == (16.0, 16.0) and abs(temperature - end) < 1e-7
    counters = CounterAtEpochStart()
    model.fit(x, y, batch_size=2, epochs=4, initial_epoch=2, verbose=0,
              callbacks=[schedule, counters])
    step, horizon, temperature = _gumbel_state(model)
    assert counters.counters == [8.0, 12.0]
    assert (step, horizon) == (16.0, 16.0) and abs(temperature - end) < 1e-7
    # Without a reset the counter goes on from where it was.
    model.fit(x, y, batch_size=2, epochs=3, initial_epoch=2, verbose=0,
              callbacks=[rk.callbacks.GumbelTemperatureSchedule(reset=False)])
    assert _gumbel_state(model)[:2] == (20.0, 12.0)
    # steps_per_epoch: the horizon is epochs * steps_per_epoch.
    model.fit(x, y, batch_size=2, epochs=3, steps_per_epoch=2, initial_epoch=1,
              verbose=0, callbacks=[schedule])
    step, horizon, temperature = _gumbel_state(model)
    assert (step, horizon) == (6.0, 6.0) and abs(temperature - end) < 1e-7


def _classifier():
    """A small classifier whose predictions differ between images."""
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(3, kernel_initializer=keras.initializers.RandomNormal(seed=0)),
    ])
    x = np.random.RandomState(1).rand(40, 12, 12, 1).astype("float32")
    y = np.random.RandomState(2).randint(0, 3, 40)
    return model, x, y


def test_measure_reads_column_and_one_hot_labels_and_checks_its_arguments():
    """`measure` gives the same numbers for integer labels ``[N]``,
    ``[N, 1]`` and one-hot ``[N, classes]``: ``[N, 1]`` labels used to
    broadcast against the predictions (an N x N comparison: test accuracy
    21 % against 20 %) and to read as all-zero labels in the rotation sweep
    (2.5 % at 0 degrees against 20 %). Labels of another length and
    non-positive sizes are a ValueError naming the argument."""
    model, x, y = _classifier()
    predicted = np.argmax(model.predict(x, verbose=0), axis=-1)
    assert len(set(predicted.tolist())) > 1 and (predicted == 0).mean() != (predicted == y).mean()
    reference = training.measure(model, x, y, batch_size=16, sweep_size=40)
    expected = round(100 * float((predicted == y).mean()), 3)
    assert reference["test_accuracy"] == expected
    assert reference["rotation_sweep"][0] == {"angle": 0.0, "accuracy": round(expected, 2)}
    for labels in (y[:, None], np.eye(3)[y]):
        assert training.measure(model, x, labels, batch_size=16, sweep_size=40) == reference
    for labels in (y[:-1], y.reshape(4, 10), y[:, None, None]):
        with pytest.raises(ValueError, match="y_test"):
            training.measure(model, x, labels)
    for name in ("batch_size", "sweep_size"):
        for value in (0, -5, 2.5):
            with pytest.raises(ValueError, match=name):
                training.measure(model, x, y, **{name: value})
