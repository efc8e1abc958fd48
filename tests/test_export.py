"""`model.export` of zoo presets in the formats Keras offers on each
backend, run in the exporting runtime and compared with `model.predict`.

TensorFlow: SavedModel, LiteRT and OpenVINO; JAX: SavedModel; torch: ONNX
(onnxruntime), `torch.export` and OpenVINO. Not here, with the reason in
docs/known_limits.md: ONNX on TensorFlow and JAX and OpenVINO on JAX (the
converters fail on plain Keras models too).
"""

import importlib.util
import os

import keras
import numpy as np
import pytest

import relaxed_keras as rk

BACKEND = keras.backend.backend()
# One small preset per mode.
PRESETS = ["z2cnn_none_mnist6_180", "p4cnn_strict_mnist6_180",
           "p4cnn_relaxed_mnist6_180", "p4cnn_partial_mnist6_180",
           "p4cnn_soft_mnist6_180"]
FORMATS = {"tensorflow": ["tf_saved_model", "litert", "openvino"],
           "jax": ["tf_saved_model"],
           "torch": ["onnx", "torch", "openvino"]}[BACKEND]
# Formats measured on every preset; the others on the strict one.
EVERY_PRESET = {"tensorflow": "tf_saved_model", "jax": "tf_saved_model",
                "torch": "onnx"}[BACKEND]
NEEDS = {"onnx": "onnxruntime", "openvino": "openvino",
         "tf_saved_model": "tensorflow", "litert": "tensorflow", "torch": "torch"}
FILES = {"onnx": "model.onnx", "torch": "model.pt2", "openvino": "model.xml",
         "litert": "model.tflite", "tf_saved_model": "saved_model"}


def _run(fmt, path, x):
    """The artifact's outputs for ``x`` in its own runtime."""
    if fmt == "onnx":
        import onnxruntime

        runtime = onnxruntime.InferenceSession(path)
        return runtime.run(None, {runtime.get_inputs()[0].name: x})[0]
    if fmt == "tf_saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        return loaded.serve(x).numpy()
    if fmt == "litert":
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=path)
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    if fmt == "openvino":
        import openvino

        compiled = openvino.Core().compile_model(
            path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return compiled(x)[0]
    import torch

    return torch.export.load(path).module()(torch.from_numpy(x)).detach().numpy()


def _export_kwargs(fmt, batch):
    if fmt != "torch":
        return {}
    import torch

    # torch.export fixes every dimension unless told otherwise.
    return {"dynamic_shapes": ({0: torch.export.Dim("batch", min=1, max=batch)},)}


CASES = [(name, fmt) for fmt in FORMATS for name in PRESETS
         if fmt == EVERY_PRESET or name == "p4cnn_strict_mnist6_180"]


@pytest.mark.parametrize("name, fmt", CASES)
def test_exported_preset_matches_predict(tmp_path, name, fmt):
    if importlib.util.find_spec(NEEDS[fmt]) is None:
        pytest.skip(f"{NEEDS[fmt]} is not installed (pip install .[export])")
    x = rk.zoo.presets.probe_batch((28, 28, 1))
    model = rk.zoo.load(name, compile=False)  # never called: export calls it
    path = os.path.join(tmp_path, FILES[fmt])
    model.export(path, format=fmt, verbose=False, **_export_kwargs(fmt, 64))
    expected = model.predict(x, verbose=0)
    actual = np.asarray(_run(fmt, path, x))
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    assert scale > 0
    assert np.abs(actual - expected).max() / scale < 1e-4


def test_export_stores_the_expanded_kernels(tmp_path):
    """The traced graph reads the kernel cache: no kernel expansion runs
    while the artifact is traced (only the cache's refresh before it)."""
    model = rk.zoo.load("p4cnn_strict_mnist6_180", compile=False)
    model(rk.zoo.presets.probe_batch((28, 28, 1)))
    counts = []
    for layer in model.layers:
        if hasattr(layer, "compute_conv_kernel"):
            original = layer.compute_conv_kernel

            def counted(*args, _original=original, **kwargs):
                counts.append(1)
                return _original(*args, **kwargs)

            layer.compute_conv_kernel = counted
    convs = len([layer for layer in model.layers
                 if hasattr(layer, "compute_conv_kernel")])
    fmt = EVERY_PRESET
    if importlib.util.find_spec(NEEDS[fmt]) is None:
        pytest.skip(f"{NEEDS[fmt]} is not installed")
    model.export(os.path.join(tmp_path, FILES[fmt]), format=fmt, verbose=False)
    assert convs == 7 and len(counts) == convs  # the refresh, once per layer
