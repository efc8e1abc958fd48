"""Keras callbacks for training relaxed models (work with `model.fit` on
every backend)."""

import warnings

import keras

from relaxed_keras.diagnostics.learned_equivariance import learned_equivariance
from relaxed_keras.arguments import boolean
from relaxed_keras.arguments import positive_int


def _flatten(model):
    return list(model._flatten_layers(include_self=False, recursive=True))


class GumbelTemperatureSchedule(keras.callbacks.Callback):
    """Anneal the Gumbel-sigmoid temperature of partial layers over `fit`.

    At the start of training it sets every `PartialGroupConv2D`'s horizon
    to ``epochs * steps_per_epoch`` (so the temperature decays linearly
    from ``temperature_start`` to ``temperature_end`` over the whole run,
    as the reference code) and, with ``reset=True``, restarts the counter.
    A `fit` that resumes at ``initial_epoch`` restarts it at
    ``initial_epoch * steps_per_epoch``, where the uninterrupted run would
    be (as Keras's epoch-indexed schedules do), so the temperature still
    reaches ``temperature_end`` at the last epoch.

    Args:
        total_steps: horizon to use instead of ``epochs * steps`` (a
            positive integer); needed when `fit` cannot know its steps per
            epoch (a `tf.data` pipeline of unknown cardinality, a generator
            without ``steps_per_epoch``).
        reset: restart the step counter at the start of `fit` (at 0, or at
            ``initial_epoch * steps_per_epoch`` when `fit` knows its steps
            per epoch).
    """

    def __init__(self, total_steps=None, reset=True):
        super().__init__()
        if total_steps is not None:
            total_steps = positive_int(total_steps, "total_steps")
        self.total_steps = total_steps
        self.reset = boolean(reset, "reset")
        self._resume_layers = []

    def on_train_begin(self, logs=None):
        # The layers whose counter the first `on_epoch_begin` moves to
        # `initial_epoch * steps` (a `fit` that resets and knows its steps).
        self._resume_layers = []
        layers = [layer for layer in _flatten(self.model)
                  if hasattr(layer, "gumbel_decay_steps") and layer.built]
        if not layers:
            warnings.warn(
                "GumbelTemperatureSchedule: the model has no built partial layer "
                "with a Gumbel-sigmoid (mirror) distribution; nothing to anneal.",
                stacklevel=2,
            )
            return
        total = self.total_steps
        if total is None:
            steps = self.params.get("steps")
            if not steps:
                # Counting each epoch as one step would end the schedule
                # after `epochs` steps, without a word.
                raise ValueError(
                    "GumbelTemperatureSchedule needs the number of training "
                    "steps, and this `fit` does not know its steps per epoch "
                    "(a data set of unknown cardinality or a generator). Pass "
                    "`steps_per_epoch` to `fit`, or "
                    "GumbelTemperatureSchedule(total_steps=...)."
                )
            total = (self.params.get("epochs") or 1) * steps
        for layer in layers:
            layer.gumbel_decay_steps.assign(float(max(1, total)))
            if self.reset:
                layer.gumbel_step.assign(0.0)
        if self.reset and self.params.get("steps"):
            self._resume_layers = layers

    def on_epoch_begin(self, epoch, logs=None):
        # Keras tells callbacks `initial_epoch` only here: the first epoch
        # of a resumed `fit`. The counter used to restart at 0 there, and a
        # run resumed halfway ended at the temperature of its middle.
        layers, self._resume_layers = self._resume_layers, []
        if epoch and layers:
            start = float(epoch * self.params["steps"])
            for layer in layers:
                layer.gumbel_step.assign(start)


class LearnedEquivarianceLogger(keras.callbacks.Callback):
    """Log the learned equivariance of every layer at each epoch's end.

    Adds ``{layer}/rotation_range_deg``, ``{layer}/mirror_probability`` and
    (soft layers) ``{layer}/omega_prime_<i>`` to the epoch logs, so they land
    in the `History` returned by `fit`; ``self.rows`` keeps the full
    `learned_equivariance` rows per epoch.
    """

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        rows = learned_equivariance(self.model)
        self.rows.append(rows)
        if logs is None:
            return
        for row in rows:
            name = row["layer"]
            for key in ("rotation_range_deg", "mirror_probability"):
                if row.get(key) is not None:
                    logs[f"{name}/{key}"] = float(row[key])
            omega = row.get("omega_prime")
            if omega is not None:
                values = omega if isinstance(omega, list) else [omega]
                for i, value in enumerate(values):
                    logs[f"{name}/omega_prime_{i}"] = float(value)
