"""Writing preset folders (the format `relaxed_keras.zoo.presets` reads):
config, weights, metadata with the weights' sha256 and probe logits, plots
and the model card (`relaxed_keras.zoo.cards`)."""

import json
import os

import numpy as np

from relaxed_keras.zoo.cards import render_model_card
from relaxed_keras.zoo.presets import CARD_FILE
from relaxed_keras.zoo.presets import CONFIG_FILE
from relaxed_keras.zoo.presets import METADATA_FILE
from relaxed_keras.zoo.presets import WEIGHTS_FILE
from relaxed_keras.zoo.presets import probe_batch
from relaxed_keras.zoo.presets import sha256_of
from relaxed_keras.zoo.presets import trainable_parameters


def save_preset(model, folder, architecture, metadata, figures=()):
    """Write a preset folder (config, weights, metadata with sha256 and
    probe logits, plots, model card). Returns the metadata written.

    Args:
        figures: functions ``f(folder)`` that write a PNG into the folder
            and return its path (or ``None`` for no plot); the card shows
            them."""
    os.makedirs(folder, exist_ok=True)
    config = {"architecture": architecture, "config": _jsonable(model.get_config())}
    config["config"].pop("trainable", None)
    with open(os.path.join(folder, CONFIG_FILE), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    weights = os.path.join(folder, WEIGHTS_FILE)
    model.save_weights(weights)
    probe = probe_batch(model.input_shape[1:])
    metadata = dict(metadata)
    metadata["name"] = os.path.basename(os.path.normpath(folder))
    metadata["architecture"] = architecture
    metadata["weights_sha256"] = sha256_of(weights)
    metadata["parameters"] = int(model.count_params())
    metadata["trainable_parameters"] = trainable_parameters(model)
    metadata["probe_logits"] = np.asarray(
        _float32_twin(model).predict(probe, verbose=0), "float64"
    ).round(6).tolist()
    written = [path for path in (figure(folder) for figure in figures) if path]
    if written:
        metadata["figures"] = [os.path.basename(path) for path in written]
    metadata = _jsonable(metadata)
    with open(os.path.join(folder, METADATA_FILE), "w") as f:
        json.dump(metadata, f, indent=2)
        f.write("\n")
    with open(os.path.join(folder, CARD_FILE), "w") as f:
        f.write(render_model_card(metadata))
    return metadata


# Keys of metadata.json that hold JSON objects when present (the CLI and
# the model cards index into them).


def _float32_twin(model):
    """``model`` itself in float32; under a mixed policy, a float32 copy
    with the same weights, so probe logits do not depend on the policy the
    preset was trained with (weights are float32 either way)."""
    import keras

    if model.dtype_policy.name == "float32":
        return model
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        twin = type(model).from_config(model.get_config())
    finally:
        keras.config.set_dtype_policy(previous)
    twin.set_weights(model.get_weights())
    return twin


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value
