"""Resumable training: per-epoch history, validation and best weights.

A zoo training runs for an hour or more on a CPU and may be killed at any
moment. Its state folder holds

* ``backup/``: `keras.callbacks.BackupAndRestore`'s checkpoint of the last
  finished epoch (weights, optimizer state and step counter, so learning
  rate schedules resume where they were),
* ``history.json``: one record per finished epoch (training and
  validation metrics, learning rate, seconds, learned equivariance),
* ``best.weights.h5``: the weights of the epoch with the best validation
  accuracy.

`fit` with the callbacks of `resumable_callbacks` continues a killed run
at its next epoch; `read_history` and `best_weights_path` give the trainer
what it needs to write the preset.
"""

import json
import os
import time

import keras
import numpy as np

from relaxed_keras.diagnostics.learned_equivariance import learned_equivariance
from relaxed_keras.zoo.statistics import BatchNormEstimator

# Training images for the per-epoch re-estimation (the final one uses the
# recipe's ``batch_norm_images``): enough for validation accuracy to rank
# the epochs, at a few seconds per epoch.
EPOCH_CALIBRATION_IMAGES = 1024
HISTORY_FILE = "history.json"
BEST_WEIGHTS_FILE = "best.weights.h5"
BACKUP_DIR = "backup"


def read_history(state_dir):
    """The epoch records of a state folder (``[]`` when there are none)."""
    path = os.path.join(state_dir, HISTORY_FILE)
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            records = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Corrupt training history {path}: {error}. Delete the state "
            f"folder {state_dir} to restart the training."
        ) from None
    if not isinstance(records, list):
        raise ValueError(f"Corrupt training history {path}: not a list.")
    return records


def best_record(records, monitor="val_accuracy"):
    """The record with the highest ``monitor`` (the first of equals)."""
    scored = [r for r in records if r.get(monitor) is not None]
    if not scored:
        return None
    return max(scored, key=lambda r: (r[monitor], -r["epoch"]))


def best_weights_path(state_dir):
    return os.path.join(state_dir, BEST_WEIGHTS_FILE)


def _atomic_json(path, value):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=1)
    os.replace(tmp, path)


class EpochRecord(keras.callbacks.Callback):
    """Validate, record and keep the best weights at every epoch's end.

    Before validating it re-estimates the batch-norm statistics on
    ``calibration_images`` (`relaxed_keras.zoo.statistics`), so the
    validation accuracy is that of the model as it would be saved; the
    best epoch is chosen on it.

    Args:
        state_dir: the training's state folder.
        validation_data: ``(x, y)`` of the validation split.
        calibration_images: training images for the batch-norm statistics
            (``None``: keep the moving statistics).
        batch_size: batch size of validation and re-estimation.
    """

    def __init__(self, state_dir, validation_data, calibration_images=None,
                 batch_size=256):
        super().__init__()
        self.state_dir = state_dir
        self.validation_data = validation_data
        self.calibration_images = calibration_images
        self.batch_size = batch_size
        self._records = None
        self._estimator = None
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._records is None:
            # A resumed `fit` starts at the epoch after its backup; records
            # of a later epoch (killed between the two writes) are dropped.
            os.makedirs(self.state_dir, exist_ok=True)
            self._records = [r for r in read_history(self.state_dir)
                             if r["epoch"] < epoch + 1]
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        record = {"epoch": epoch + 1}
        record.update({k: float(v) for k, v in logs.items()
                       if np.ndim(v) == 0 and not k.startswith("val_")})
        record["learning_rate"] = float(keras.ops.convert_to_numpy(
            self.model.optimizer.learning_rate
        ))
        if self.calibration_images is not None:
            if self._estimator is None:
                self._estimator = BatchNormEstimator(self.model, self.batch_size)
            if self._estimator.layers:
                self._estimator(
                    self.calibration_images[:EPOCH_CALIBRATION_IMAGES]
                )
        if self.validation_data is not None:
            x_val, y_val = self.validation_data
            val = self.model.evaluate(x_val, y_val, batch_size=self.batch_size,
                                      verbose=0, return_dict=True)
            for key, value in val.items():
                logs[f"val_{key}"] = float(value)
                record[f"val_{key}"] = float(value)
        record["learned_equivariance"] = _compact(learned_equivariance(self.model))
        record["seconds"] = round(time.time() - self._start, 2)
        best = best_record(self._records)
        if "val_accuracy" in record and (
            best is None or record["val_accuracy"] > best["val_accuracy"]
        ):
            self.model.save_weights(best_weights_path(self.state_dir),
                                    overwrite=True)
        self._records.append(record)
        _atomic_json(os.path.join(self.state_dir, HISTORY_FILE), self._records)


def _compact(rows):
    """The learned quantities of `learned_equivariance` rows, by layer."""
    out = {}
    for row in rows:
        entry = {}
        for key in ("rotation_range_deg", "mirror_probability", "omega_prime",
                    "relaxed_weights_spread"):
            value = row.get(key)
            if value is not None:
                entry[key] = np.round(np.asarray(value, "float64"), 5).tolist()
        if entry:
            out[row["layer"]] = entry
    return out


def resumable_callbacks(state_dir, validation_data, calibration_images=None,
                        batch_size=256):
    """``[EpochRecord, BackupAndRestore]`` for one training's state folder.

    The record comes first: if the process dies between the two writes,
    the backup still points at the previous epoch, which `fit` then runs
    again and records anew."""
    return [
        EpochRecord(state_dir, validation_data, calibration_images, batch_size),
        keras.callbacks.BackupAndRestore(
            os.path.join(state_dir, BACKUP_DIR), delete_checkpoint=False
        ),
    ]
