"""Train a recipe into a preset; fine-tune and evaluate presets."""

import json
import math
import os
import platform
import shutil
import tempfile

import numpy as np

from relaxed_keras import backend_policy
from relaxed_keras.zoo import presets as presets_lib
from relaxed_keras.zoo.checkpoints import best_record
from relaxed_keras.zoo.checkpoints import best_weights_path
from relaxed_keras.zoo.checkpoints import read_history
from relaxed_keras.zoo.checkpoints import resumable_callbacks
from relaxed_keras.zoo.optimization import make_optimizer
from relaxed_keras.zoo.statistics import batch_norm_layers
from relaxed_keras.zoo.statistics import reestimate_batch_norm
from relaxed_keras.zoo.cards import SWEEP_IMAGES
from relaxed_keras.zoo.recipes import get_recipe
from relaxed_keras.zoo.recipes import validate_recipe
from relaxed_keras.zoo.saving import save_preset

DISTRIBUTIONS = (None, "none", "data_parallel")
PROBE_TEST_SLICE = 200
STATE_RECIPE_FILE = "recipe.json"


def check_distribution(distribute):
    """Raise a `ValueError` unless ``distribute`` is one of `DISTRIBUTIONS`
    and usable on this backend. Returns ``None`` (no distribution) or
    ``"data_parallel"``."""
    import keras

    if distribute not in DISTRIBUTIONS:
        raise ValueError(
            f"`distribute` must be one of {DISTRIBUTIONS}. Received: "
            f"distribute={distribute!r}"
        )
    if distribute in (None, "none"):
        return None
    if not backend_policy.active("data_parallel"):
        raise ValueError(
            "distribute='data_parallel' uses keras.distribution.DataParallel, "
            "which needs KERAS_BACKEND=jax. Received backend "
            f"{keras.backend.backend()!r}"
        )
    return distribute


def set_distribution(distribute):
    """Turn on `keras.distribution.DataParallel` over every local device
    (JAX backend only; Keras's distribution API is JAX-only). Returns the
    number of devices used."""
    import keras

    if check_distribution(distribute) is None:
        return 1
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


def input_statistics(x):
    """Per-channel mean and std of training images (the preset's input
    normalisation)."""
    axes = tuple(range(x.ndim - 1))
    return (
        [round(float(v), 6) for v in x.mean(axis=axes)],
        [round(float(max(v, 1e-6)), 6) for v in x.std(axis=axes)],
    )


def callbacks_for(model):
    """Callbacks a model's layers need during `fit` (the Gumbel schedule of
    partial layers)."""
    from relaxed_keras.callbacks import GumbelTemperatureSchedule

    if any(hasattr(layer, "gumbel_decay_steps") for layer in _all_layers(model)):
        return [GumbelTemperatureSchedule()]
    return []


def measure(model, x_test, y_test, batch_size=256, sweep_size=SWEEP_IMAGES):
    """The numbers a model card reports: test accuracy, accuracy on the
    first `PROBE_TEST_SLICE` test images, invariance error to 90-degree
    rotations (first 32 images), accuracy against rotation angle (first
    ``sweep_size`` images), learned equivariance.

    Args:
        model: classifier returning logits or probabilities.
        x_test: images ``[N, H, W, C]``.
        y_test: integer labels ``[N]`` (or ``[N, 1]``), or one-hot
            ``[N, classes]``.
        batch_size: prediction batch size (also of the rotation sweep).
        sweep_size: number of test images in the rotation sweep.

    Returns:
        dict of the card's numbers (accuracies in percent).
    """
    from relaxed_keras import diagnostics
    from relaxed_keras.arguments import positive_int

    batch_size = positive_int(batch_size, "batch_size")
    sweep_size = positive_int(sweep_size, "sweep_size")
    y_test = _labels(y_test, len(x_test))
    logits = model.predict(x_test, batch_size=batch_size, verbose=0)
    correct = np.argmax(logits, axis=-1) == y_test
    sweep = diagnostics.rotation_sweep(
        model, x_test[:sweep_size], y_test[:sweep_size],
        angles=tuple(range(0, 360, 30)), circle_crop=False,
        batch_size=batch_size,
    )
    return {
        "test_accuracy": round(100 * float(correct.mean()), 3),
        "test_images": int(len(y_test)),
        "slice_accuracy": round(100 * float(correct[:PROBE_TEST_SLICE].mean()), 3),
        "slice_images": int(min(PROBE_TEST_SLICE, len(y_test))),
        "rot90_invariance_error": float(
            diagnostics.equivariance_error(
                model, x_test[:32], group="p4", metric="relative"
            )
        ),
        "rotation_sweep": [
            {"angle": r["angle"], "accuracy": round(100 * r["accuracy"], 2)}
            for r in sweep
        ],
        "learned_equivariance": _rounded(diagnostics.learned_equivariance(model)),
    }


def _labels(y, count):
    """Integer labels ``[count]`` from ``[count]``, ``[count, 1]`` or one-hot
    ``[count, classes]`` labels. ``[N, 1]`` labels used to broadcast against
    the ``[N]`` predictions (an ``N x N`` comparison) and read as one-hot
    with a single class in the rotation sweep (every label 0)."""
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    elif labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or len(labels) != count:
        raise ValueError(
            f"`y_test` must hold one label per image: integer labels "
            f"[{count}] (or [{count}, 1]) or one-hot [{count}, classes]. "
            f"Received: y_test of shape {np.shape(y)}"
        )
    return labels


def train_recipe(recipe, output=None, distribute=None, verbose="auto",
                 epochs=None, train_size=None, test_size=None,
                 jit_compile="auto", state_dir=None):
    """Train one recipe and (with ``output``) write its preset folder.

    The training is resumable: with ``state_dir`` it checkpoints every
    epoch there (`relaxed_keras.zoo.checkpoints`), and a later call with
    the same recipe and folder continues at the next epoch. The preset
    holds the weights of the epoch with the best validation accuracy
    (the last epoch without a validation split), with batch-norm
    statistics re-estimated on training images
    (`relaxed_keras.zoo.statistics`).

    Args:
        recipe: a recipe name (`relaxed_keras.zoo.recipes.list_recipes`), a
            JSON file or a dict.
        output: preset folder to write (its basename becomes the name).
        distribute: ``None`` or ``"data_parallel"`` (JAX).
        verbose: Keras `fit` verbosity.
        epochs, train_size, test_size: override the recipe (smoke runs).
        jit_compile: `model.compile`'s ``jit_compile`` (``"auto"``, ``True``
            or ``False``; `relaxed_keras.zoo.compile_classifier`). Not part
            of the recipe: it changes the speed, not the computed model.
        state_dir: folder of the resumable training state (``None``: a
            temporary folder, no resuming). Deleted once the preset is
            written.

    Returns:
        ``(model, metadata)``.
    """
    import keras

    recipe = get_recipe(recipe)
    for key, value in (("epochs", epochs), ("train_size", train_size),
                       ("test_size", test_size)):
        if value is not None:
            recipe[key] = value
    # The overrides pass the same checks as the recipe (epochs=0 used to
    # end in a KeyError after an empty `fit`).
    validate_recipe(recipe, source="The recipe with its overrides")
    # Check `distribute` and the state folder before the (possibly long)
    # data preparation.
    check_distribution(distribute)
    temporary = state_dir is None
    if not temporary:
        _claim_state_dir(state_dir, recipe)
    from relaxed_keras.datasets import load_dataset

    data = load_dataset(
        recipe["dataset"], train_size=recipe.get("train_size"),
        validation_size=recipe.get("validation_size", 0),
        test_size=recipe.get("test_size"), **recipe.get("dataset_args", {}),
    )
    previous_distribution = keras.distribution.distribution()
    devices = set_distribution(distribute)
    if temporary:
        state_dir = tempfile.mkdtemp(prefix="rk-train-")
    try:
        result = _train(recipe, data, devices, output, verbose, jit_compile,
                        state_dir)
    finally:
        # The distribution is process-wide: give back what the caller had.
        keras.distribution.set_distribution(previous_distribution)
        if temporary:
            # Nothing can resume from a temporary folder: never leave it.
            shutil.rmtree(state_dir, ignore_errors=True)
    if output is not None:
        shutil.rmtree(state_dir, ignore_errors=True)
    return result


def _claim_state_dir(state_dir, recipe):
    """Write the recipe into a new state folder, or check that an existing
    one belongs to the same recipe (resuming another recipe's weights
    would fail late, or silently train a different model)."""
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, STATE_RECIPE_FILE)
    if os.path.exists(path):
        with open(path) as f:
            try:
                stored = json.load(f)
            except ValueError:
                stored = None
        if stored != json.loads(json.dumps(recipe)):
            raise ValueError(
                f"The training state in {state_dir} belongs to another "
                "recipe (or is damaged). Pass another state folder, or delete "
                "this one to restart the training."
            )
        return
    with open(path, "w") as f:
        json.dump(recipe, f, indent=1)


def _train(recipe, data, devices, output, verbose, jit_compile, state_dir):
    import keras

    (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
    keras.utils.set_random_seed(recipe["seed"])
    model_args = dict(recipe["model"])
    model_args.setdefault("input_shape", tuple(x_train.shape[1:]))
    model_args.setdefault("num_classes", int(max(y_train.max(), y_test.max()) + 1))
    model_args["input_normalization"] = input_statistics(x_train)
    model = presets_lib.build(recipe["architecture"], **model_args)
    steps = math.ceil(len(x_train) / recipe["batch_size"])
    presets_lib.compile_classifier(
        model, recipe["learning_rate"], jit_compile=jit_compile,
        optimizer=make_optimizer(model, recipe, steps),
    )
    calibration = None
    if recipe["batch_norm_images"] and batch_norm_layers(model):
        calibration = x_train[:recipe["batch_norm_images"]]
    model.fit(
        x_train, y_train,
        batch_size=recipe["batch_size"], epochs=recipe["epochs"],
        callbacks=callbacks_for(model) + resumable_callbacks(
            state_dir, data["validation"], calibration),
        verbose=verbose,
    )
    records = read_history(state_dir)
    best = best_record(records)
    if best is not None:
        model.load_weights(best_weights_path(state_dir))
    chosen = best or records[-1]
    metadata = {
        "recipe": recipe,
        "dataset": recipe["dataset"],
        "split": {
            "train_images": int(len(y_train)),
            "validation_images": 0 if data["validation"] is None
            else int(len(data["validation"][1])),
            "test_images": int(len(y_test)),
            "note": _split_note(recipe),
        },
        "train_seconds": round(sum(r["seconds"] for r in records), 1),
        "epochs_run": len(records),
        "chosen_epoch": chosen["epoch"],
        "chosen_on": "validation accuracy" if best is not None else "last epoch",
        "final_train_accuracy": round(100 * chosen["accuracy"], 3),
        "environment": environment(devices),
    }
    if calibration is not None:
        drift = reestimate_batch_norm(model, calibration)
        metadata["batch_norm"] = {
            "reestimated_on_train_images": int(len(calibration)),
            "max_log_variance_change": round(max(drift.values()), 4),
        }
    if data["validation"] is not None:
        x_val, y_val = data["validation"]
        metadata["validation_accuracy"] = round(100 * float(np.mean(
            np.argmax(model.predict(x_val, batch_size=256, verbose=0), -1)
            == _labels(y_val, len(x_val))
        )), 3)
    metadata.update(measure(model, x_test, y_test))
    metadata["history"] = records
    if output is not None:
        metadata = save_preset(
            model, output, recipe["architecture"], metadata,
            figures=_figures(records, chosen["epoch"]),
        )
    return model, metadata


def _figures(records, chosen_epoch):
    """Functions writing the card's plots into the preset folder (run by
    `save_preset` before the card is rendered)."""
    from relaxed_keras.zoo import curves

    def training(folder):
        return curves.plot_training_curves(
            records, os.path.join(folder, curves.CURVES_FILE), chosen_epoch)

    def equivariance(folder):
        return curves.plot_learned_equivariance_history(
            records, os.path.join(folder, curves.EQUIVARIANCE_FILE))

    return [training, equivariance]


def environment(devices=1):
    import keras

    versions = {"keras": keras.__version__, "numpy": np.__version__}
    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    versions[module] = __import__(module).__version__
    return {
        "backend": backend,
        "versions": versions,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "devices": devices,
        "dtype_policy": keras.config.dtype_policy().name,
    }


def _split_note(recipe):
    parts = []
    if recipe.get("train_size"):
        parts.append(f"first {recipe['train_size']} training images")
    if recipe.get("validation_size"):
        parts.append(
            f"last {recipe['validation_size']} training images as validation"
        )
    if recipe.get("test_size"):
        parts.append(f"first {recipe['test_size']} test images")
    return "; ".join(parts) or "the data set's full train / test split"


def _rounded(rows):
    out = []
    for row in rows:
        clean = {}
        for key, value in row.items():
            if isinstance(value, float):
                value = round(value, 4)
            elif isinstance(value, list):
                value = [round(v, 4) if isinstance(v, float) else v for v in value]
            elif not isinstance(value, (int, str, type(None), bool)):
                value = str(value)
            clean[key] = value
        out.append(clean)
    return out


def _all_layers(model):
    return list(model._flatten_layers(include_self=False, recursive=True))
