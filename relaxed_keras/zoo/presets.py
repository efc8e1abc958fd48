"""Pretrained presets: one folder per preset, verified on load.

A preset folder holds

* ``config.json``: ``{"architecture": name, "config": model config}``,
* ``model.weights.h5``: the weights (base parameters only),
* ``metadata.json``: data set and split, recipe, seed, backend and
  versions, measured numbers, the sha256 of the weights and the logits of a
  fixed probe batch (`probe_batch`),
* ``README.md``: the model card (`relaxed_keras.zoo.cards`).

The presets shipped with the package live in ``relaxed_keras/zoo/presets``
(package data, so `load` works after a plain ``pip install``).
"""

import difflib
import hashlib
import json
import math
import os

import numpy as np

from relaxed_keras import backend_policy
from relaxed_keras.initialization import skip_random_initialization
from relaxed_keras.models.registry import build

PRESETS_DIR = os.path.join(os.path.dirname(__file__), "presets")
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
CARD_FILE = "README.md"


def list_presets():
    """Names of the shipped presets, sorted."""
    if not os.path.isdir(PRESETS_DIR):
        return []
    return sorted(
        name
        for name in os.listdir(PRESETS_DIR)
        if os.path.exists(os.path.join(PRESETS_DIR, name, METADATA_FILE))
    )


def preset_path(name):
    """Folder of a preset: a shipped preset's name or a folder path (e.g.
    the output of ``relaxed-keras finetune``).

    Raises:
        ValueError: unknown name (lists close matches).
    """
    if os.path.isdir(str(name)) and os.path.exists(
        os.path.join(str(name), METADATA_FILE)
    ):
        return str(name)
    available = list_presets()
    if name not in available:
        close = difflib.get_close_matches(str(name), available, n=3, cutoff=0.5)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"Unknown preset {name!r}.{hint} Available presets: {available} "
            "(or pass a preset folder)."
        )
    return os.path.join(PRESETS_DIR, name)


def load_metadata(name):
    """The ``metadata.json`` of a preset as a dict."""
    return _read_json(os.path.join(preset_path(name), METADATA_FILE))


def load_config(name):
    """The ``config.json`` of a preset, ``{"architecture": name, "config":
    {model arguments}}`` (checked)."""
    path = os.path.join(preset_path(name), CONFIG_FILE)
    config = _read_json(path)
    _check_config(config, f"The preset file {path}")
    return config


def sha256_of(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_from_config(config):
    """Rebuild the (untrained) model of a ``config.json`` dict."""
    _check_config(config, "A preset config")
    arguments = dict(config.get("config", {}))
    model_name = arguments.pop("name", None)
    model = build(config["architecture"], **arguments)
    if model_name:
        model.name = model_name
    return model


def load(name, compile=True, learning_rate=1e-3, jit_compile="auto",
         num_classes=None, include_top=True, pooling=None):
    """Load a pretrained preset under the current backend.

    Verifies the sha256 of the weights file against the metadata, rebuilds
    the model from ``config.json`` and loads the weights. The model takes raw
    images in ``[0, 1]`` (it contains its input normalisation) and returns
    logits.

    Args:
        name: a name from `list_presets()` or a preset folder.
        compile: compile with Adam(``learning_rate``), sparse categorical
            cross-entropy on logits and accuracy, ready for `model.fit`.
        learning_rate: Adam's learning rate when compiling.
        jit_compile: `model.compile`'s ``jit_compile`` when compiling:
            ``"auto"`` (Keras's choice), ``True`` or ``False``; see
            `compile_classifier`.
        num_classes: a new, initialised head with this many classes; every
            other weight comes from the preset (``None`` or the preset's own
            number: its trained head).
        include_top: ``False`` returns the backbone as a feature extractor
            (never compiled; `relaxed_keras.zoo.transfer.feature_extractor`).
        pooling: with ``include_top=False``: ``None`` (the last feature
            maps), ``"avg"`` or ``"max"`` (pooled over space and group to
            ``[B, C]``).

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: unknown preset, or a missing, truncated or corrupt
            weights file (never a half-loaded model).

    Example:

    >>> model = rk.zoo.load("p4cnn_partial_mnist6_180")  # doctest: +SKIP
    >>> model.fit(x, y, epochs=1)  # doctest: +SKIP
    """
    from relaxed_keras.zoo import transfer

    transfer.check_load_arguments(num_classes, include_top, pooling)
    folder = preset_path(name)
    metadata = _read_json(os.path.join(folder, METADATA_FILE))
    config = load_config(folder)
    weights = os.path.join(folder, WEIGHTS_FILE)
    if not os.path.exists(weights):
        raise ValueError(f"Preset {name!r} has no weights file {weights}.")
    expected = metadata.get("weights_sha256")
    actual = sha256_of(weights)
    if expected != actual:
        raise ValueError(
            f"The weights of preset {name!r} are corrupt or were modified: "
            f"sha256 {actual} does not match the metadata's {expected} "
            f"({weights}). Reinstall the package or retrain the preset."
        )
    # Every weight is assigned from the file: no random draws (seconds of
    # XLA compilation under JAX).
    with skip_random_initialization():
        model = build_from_config(config)
    try:
        model.load_weights(weights)
    except Exception as error:  # the h5 reader's own errors vary
        raise ValueError(
            f"Could not load the weights of preset {name!r} from {weights}: "
            f"{type(error).__name__}: {error}"
        ) from None
    if not include_top:
        return transfer.feature_extractor(model, pooling)
    if num_classes is not None and num_classes != model.get_config()["num_classes"]:
        model = transfer.with_num_classes(model, num_classes)
    if compile:
        compile_classifier(model, learning_rate, jit_compile=jit_compile)
    return model


def compile_classifier(model, learning_rate=1e-3, jit_compile="auto",
                       optimizer=None):
    """Adam, sparse categorical cross-entropy on logits, accuracy.

    Args:
        model: the `keras.Model` to compile.
        learning_rate: Adam's learning rate.
        optimizer: a Keras optimizer to use instead of Adam (the recipes'
            AdamW with a schedule, `relaxed_keras.zoo.optimization`).
        jit_compile: ``"auto"`` (default), ``True`` or ``False``, passed to
            `model.compile`. Keras's ``"auto"`` on a CPU-only machine
            compiles on JAX and runs TensorFlow and torch op by op: the
            faster choice for TensorFlow (fed through `tf.data`) and JAX
            in the measurements of ``BENCHMARKS.md``, and for short torch
            runs. ``True`` on torch trains the strict P4CNN 1.3-1.5x
            faster per step after 1-2 minutes of compilation on 2 CPU
            cores (partial and soft models compile for several minutes).
            On torch with ``True``, the trainable parameters get zero
            gradients here, so that the first compiled `fit` compiles its
            step once instead of twice (see `_compile_torch_step_once`).

    Returns:
        ``model``, compiled.
    """
    import keras

    if not (jit_compile == "auto" or isinstance(jit_compile, bool)):
        raise ValueError(
            "`jit_compile` must be 'auto', True or False. "
            f"Received: jit_compile={jit_compile!r}"
        )
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    _compile_torch_step_once(model)
    return model


def _compile_torch_step_once(model):
    """torch, ``jit_compile=True``: give every trainable parameter a zero
    gradient. Keras's torch `train_step` calls `zero_grad()`, and dynamo
    guards on each parameter's ``.grad is None``: None before the first
    step, a tensor at every later one, so the step is compiled twice
    (strict P4CNN on 2 CPU cores: 63 s, then 40 s more in the second
    `fit`; `TORCH_LOGS=recompiles` names the guard; with zero gradients
    the second `fit` took 0.5 s). `zero_grad` clears the gradients before
    every backward pass, so the step computes the same function: the
    losses agree to float rounding (second `fit` 2.364625 against
    2.364635, the recompiled graph summing in another order).
    Written with `keras.ops` and the parameter's ``.grad`` attribute; no
    torch import."""
    from keras import ops

    if (not backend_policy.active("zero_grads_before_compile")
            or model.jit_compile is not True):
        return
    for variable in model.trainable_variables:
        if variable.value.grad is None:
            variable.value.grad = ops.zeros_like(variable.value)


def probe_batch(input_shape, size=8):
    """A fixed batch for cross-backend checks: the first ``size`` test
    digits of the shipped MNIST subset for 28x28x1 inputs (smooth, realistic
    images), seeded uniform noise otherwise."""
    input_shape = tuple(input_shape)
    if input_shape == (28, 28, 1):
        from relaxed_keras.datasets.mnist import load_mnist_subset

        _, (x_test, _) = load_mnist_subset()
        return x_test[:size, :, :, None].astype("float32") / 255.0
    return np.random.RandomState(0).rand(size, *input_shape).astype("float32")


def trainable_parameters(model):
    """Entries of the model's trainable weights (`count_params` also
    counts batch-norm statistics and fixed buffers such as random Fourier
    features and Gumbel schedule counters)."""
    return int(sum(math.prod(weight.shape) for weight in model.trainable_weights))


METADATA_OBJECT_KEYS = ("recipe", "split", "environment")


def _read_json(path):
    """A preset's JSON file, which must hold an object: config.json and
    metadata.json are indexed by key (a list used to end in a TypeError
    or AttributeError)."""
    if not os.path.exists(path):
        raise ValueError(f"Missing preset file {path}.")
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as error:  # JSONDecodeError, encoding
        raise ValueError(f"Corrupt preset file {path}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"Corrupt preset file {path}: it must hold a JSON object. "
            f"Received a {type(data).__name__}: {str(data)[:200]}"
        )
    if os.path.basename(path) == METADATA_FILE:
        for key in METADATA_OBJECT_KEYS:
            if key in data and not isinstance(data[key], dict):
                raise ValueError(
                    f"Corrupt preset file {path}: {key!r} must be a JSON "
                    f"object. Received: {str(data[key])[:200]}"
                )
    return data


def _check_config(config, where):
    """``{"architecture": name, "config": {model arguments}}``."""
    if (not isinstance(config, dict)
            or not isinstance(config.get("architecture"), str)):
        raise ValueError(
            f"{where} must be {{'architecture': name, 'config': {{...}}}}. "
            f"Received: {str(config)[:200]}"
        )
    if not isinstance(config.get("config", {}), dict):
        raise ValueError(
            f"{where}: 'config' must be a JSON object (the model's "
            f"arguments). Received: {str(config['config'])[:200]}"
        )
