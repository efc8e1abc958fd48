"""Converted tensors of `to_plain_keras` and the layout changes between
them."""

import keras
import numpy as np
from keras import ops


class Value:
    """A converted tensor: ``kind`` is ``"plain"`` (the source tensor's own
    layout), ``"group"`` (a ``[B, H, W, G, C]`` map flattened to ``[B, H,
    W, G * C]``) or ``"elements"`` (a continuous layer's constant elements
    ``[N, 3]`` as numpy)."""

    def __init__(self, tensor, kind="plain", group_size=None, channels=None):
        self.tensor = tensor
        self.kind = kind
        self.group_size = group_size
        self.channels = channels

    @property
    def spatial(self):
        return tuple(self.tensor.shape[1:3])


class Names:
    """Unique names for the layers of one conversion: a converted layer
    keeps its source layer's name, helpers get a suffix (``conv1_pad``)."""

    taken = set()

    @classmethod
    def reset(cls, reserved=()):
        cls.taken = set(reserved)

    @classmethod
    def fresh(cls, layer, suffix=""):
        base = f"{layer.name}{suffix}" if hasattr(layer, "name") else f"{layer}{suffix}"
        name, index = base, 1
        while name in cls.taken:
            name, index = f"{base}_{index}", index + 1
        cls.taken.add(name)
        return name


def static_spatial(layer, value):
    """The fixed ``(H, W)`` a converted convolution or pooling needs."""
    height, width = value.tensor.shape[1:3]
    if height is None or width is None:
        raise ValueError(
            f"to_plain_keras: layer {layer.name!r} ({type(layer).__name__}) "
            "needs a fixed spatial input size to compute its padding; build "
            "the model with `input_shape=(H, W, C)`. Received: input shape "
            f"{tuple(value.tensor.shape)}"
        )
    return int(height), int(width)


def to_group(value, layer):
    """A rank-5 plain value flattened to the group layout (no-op for a
    group value)."""
    if value.kind == "group":
        return value
    shape = value.tensor.shape
    if value.kind != "plain" or len(shape) != 5:
        raise ValueError(
            f"to_plain_keras: layer {layer.name!r} ({type(layer).__name__}) "
            "expects group feature maps [batch, height, width, group, "
            f"channels]. Received: a {value.kind} tensor of shape {tuple(shape)}"
        )
    flat = keras.layers.Reshape(
        (shape[1], shape[2], shape[3] * shape[4]), name=Names.fresh(layer, "_fold")
    )(value.tensor)
    return Value(flat, "group", int(shape[3]), int(shape[4]))


def to_plain(value, name):
    """A group value back in the source layout ``[B, H, W, G, C]``."""
    if value.kind != "group":
        return value
    height, width = value.spatial
    tensor = keras.layers.Reshape(
        (height, width, value.group_size, value.channels),
        name=Names.fresh(name, "_unfold"),
    )(value.tensor)
    return Value(tensor)


def numpy(x):
    """A backend tensor or variable as a float32 numpy array."""
    return np.asarray(ops.convert_to_numpy(ops.convert_to_tensor(x)), "float32")
