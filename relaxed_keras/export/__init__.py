"""Export trained models to forms that do not need this library.

`to_plain_keras(model)` rewrites a model into Keras's own layers (the
expanded kernels as `Conv2D` weights): the result saves as `.keras` and
loads wherever Keras runs. `model.export(path, format=...)` (Keras's own
exporters: SavedModel, ONNX, OpenVINO, LiteRT) works on the zoo models
directly.
"""

from relaxed_keras.export.plain_keras import to_plain_keras

__all__ = ["to_plain_keras"]
