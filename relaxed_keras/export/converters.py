"""Plain-Keras forms of the library's layers, one converter per layer type
(`to_plain_keras`).

Each converter receives the layer, its converted inputs (`Value`s) and the
graph node, adds Keras layers and returns one `Value` per output of the
node. Weights are set right after each new layer is called (it is built
then).
"""

import keras
import numpy as np

from relaxed_keras import layers as L
from relaxed_keras.export.values import Names
from relaxed_keras.export.values import Value
from relaxed_keras.export.values import numpy
from relaxed_keras.export.values import static_spatial
from relaxed_keras.export.values import to_group
from relaxed_keras.export.values import to_plain
from relaxed_keras.layers import padding as padding_lib
from relaxed_keras.layers.continuous_elements import element_transform

# Keras layers that act on every entry alike (or keep the entries' order):
# they run on flattened group maps unchanged.
_ENTRYWISE = (
    keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
    keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum,
    keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
    keras.layers.ELU, keras.layers.Flatten,
)
# Identities at inference.
_INFERENCE_IDENTITIES = (
    keras.layers.Dropout, keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D, keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise, keras.layers.GaussianDropout,
    keras.layers.AlphaDropout, keras.layers.Identity,
)


def is_library_layer(layer):
    return type(layer).__module__.startswith("relaxed_keras.")


def check_convertible(layer):
    """A ValueError, before any conversion, for layers with no plain form."""
    if isinstance(layer, (L.NonStationaryConv2D, L.NonStationaryLiftingConv2D,
                          L.NonStationaryGroupConv2D)):
        raise ValueError(
            f"to_plain_keras: layer {layer.name!r} ({type(layer).__name__}) is "
            "a soft (non-stationary) convolution: its kernel changes with "
            "the position in the image, and Keras 3 has no layer for "
            "position-dependent kernels (no LocallyConnected2D), so it has "
            "no faithful plain form. Export the model with `model.export` "
            "instead, or convert a strict, relaxed or partial model."
        )
    if getattr(layer, "stochastic_inference", False):
        raise ValueError(
            f"to_plain_keras: layer {layer.name!r} samples its group elements "
            "at inference (`stochastic_inference=True`); a plain model has "
            "fixed kernels. Switch it off first."
        )
    if isinstance(layer, keras.Model):
        raise ValueError(
            f"to_plain_keras: nested model {layer.name!r}; convert it on its "
            "own, or build the model as one functional graph."
        )
    if is_library_layer(layer) and _converter(layer) is None:
        raise ValueError(
            f"to_plain_keras: no plain Keras form is known for layer "
            f"{layer.name!r} ({type(layer).__name__})."
        )


def convert(layer, inputs, node):
    converter = _converter(layer)
    if converter is not None:
        return converter(layer, inputs, node)
    if isinstance(layer, _INFERENCE_IDENTITIES):
        return list(inputs)
    return _keras_layer(layer, inputs)


def _converter(layer):
    for cls, function in _CONVERTERS:
        if isinstance(layer, cls):
            return function
    return None


# ----------------------------------------------------------------------
def _clone(layer, name=None):
    config = layer.get_config()
    config["name"] = name or Names.fresh(layer)
    return type(layer).from_config(config)


def _keras_layer(layer, inputs):
    """A Keras layer: a copy with the same weights, on flattened group
    maps where it acts entrywise, else on the source layout."""
    if any(v.kind == "elements" for v in inputs):
        raise ValueError(
            f"to_plain_keras: Keras layer {layer.name!r} receives a continuous "
            "layer's elements tensor; only the library's layers read those."
        )
    grouped = [v for v in inputs if v.kind == "group"]
    if grouped and isinstance(layer, _ENTRYWISE):
        inputs = [to_group(v, layer) for v in inputs]
        out_kind = "plain" if isinstance(layer, keras.layers.Flatten) else "group"
    else:
        inputs = [to_plain(v, f"{layer.name}_input") for v in inputs]
        out_kind = "plain"
    clone = _clone(layer)
    tensors = [v.tensor for v in inputs]
    output = clone(tensors[0] if len(tensors) == 1 else tensors)
    clone.set_weights(layer.get_weights())
    first = inputs[0]
    if out_kind == "group":
        return [Value(output, "group", first.group_size, first.channels)]
    return [Value(output)]


def _conv(layer, value, kernel, bias, group_size, filters):
    """ZeroPadding2D (where the layer pads) and one Conv2D."""
    pads = layer.spatial_padding(static_spatial(layer, value))
    x = value.tensor
    if any(p for pair in pads for p in pair):
        x = keras.layers.ZeroPadding2D(pads, name=Names.fresh(layer, "_pad"))(x)
    conv = keras.layers.Conv2D(
        kernel.shape[-1], kernel.shape[:2], strides=layer.strides,
        padding="valid", dilation_rate=layer.dilation_rate,
        use_bias=bias is not None, name=Names.fresh(layer),
    )
    y = conv(x)
    conv.set_weights([kernel] + ([bias] if bias is not None else []))
    y = _activation(layer, y)
    return Value(y, "group", group_size, filters)


def _activation(layer, y):
    activation = getattr(layer, "activation", None)
    if activation is None or activation is keras.activations.linear:
        return y
    return keras.layers.Activation(
        keras.activations.serialize(activation), name=Names.fresh(layer, "_activation")
    )(y)


def _tiled_bias(layer, group_size):
    if layer.bias is None:
        return None
    return np.tile(numpy(layer.bias), group_size)


def _group_conv(layer, inputs, node):
    """Lifting, group and relaxed convolutions: the expanded kernel
    (`compute_conv_kernel`, relaxed banks combined) as a Conv2D."""
    (value,) = inputs
    if not layer.lifting:
        value = to_group(value, layer)
    kernel = numpy(layer.compute_conv_kernel())
    size = layer.group.size
    return [_conv(layer, value, kernel, _tiled_bias(layer, size), size, layer.filters)]


def _continuous_conv(layer, inputs, node):
    """Continuous and partial convolutions at their deterministic inference
    elements: the kernel network evaluated once; the output elements'
    weights (the partial layers' mirror mask) folded into kernel and
    bias."""
    features = inputs[0]
    in_elements = inputs[1].tensor if len(inputs) > 1 and not layer.lifting else None
    given = inputs[2].tensor if len(inputs) == 3 else None
    if not layer.lifting:
        features = to_group(features, layer)
    if given is not None:
        out_elements = given
    else:
        elements_in = None if in_elements is None else keras.ops.convert_to_tensor(in_elements)
        out_elements = numpy(layer.output_elements(elements_in, False))
    kernel = numpy(layer.conv_kernel(out_elements, in_elements))
    weight = numpy(element_transform(out_elements)[2])
    n_out, filters = out_elements.shape[0], layer.filters
    activation = getattr(layer, "activation", None)
    if activation not in (None, keras.activations.linear) and not np.all(weight == 1):
        raise ValueError(
            f"to_plain_keras: layer {layer.name!r} has an activation and "
            "weighted output elements; only the zoo's form (no activation "
            "in the convolution) is supported."
        )
    scale = np.repeat(weight, filters)
    kernel = kernel * scale
    bias = _tiled_bias(layer, n_out)
    if bias is not None:
        bias = bias * scale
    value = _conv(layer, features, kernel, bias, n_out, filters)
    return [value, Value(out_elements, "elements")]


def _batch_norm(layer, inputs, node):
    """Keras's BatchNormalization with the per-channel statistics tiled
    over the group axis (the same scale and offset for every element)."""
    (value,) = inputs
    if len(value.tensor.shape) == 5:
        value = to_group(value, layer)
    repeat = value.group_size if value.kind == "group" else 1
    config = {k: v for k, v in layer.get_config().items()
              if k in ("axis", "momentum", "epsilon", "center", "scale")}
    norm = keras.layers.BatchNormalization(**config, name=Names.fresh(layer))
    y = norm(value.tensor)
    source = {v.path.split("/")[-1]: numpy(v) for v in layer.weights}
    norm.set_weights([np.tile(source[v.path.split("/")[-1]], repeat)
                      for v in norm.weights])
    return [Value(y, value.kind, value.group_size, value.channels)]


def _layer_norm(layer, inputs, node):
    """Per image and channel over space (and group): Keras's
    LayerNormalization over the flattened positions, channels first."""
    (value,) = inputs
    if len(value.tensor.shape) == 5:
        value = to_group(value, layer)
    shape = value.tensor.shape
    height, width = static_spatial(layer, value)
    channels = value.channels if value.kind == "group" else int(shape[-1])
    positions = height * width * (value.group_size if value.kind == "group" else 1)
    x = keras.layers.Reshape((positions, channels), name=Names.fresh(layer, "_positions"))(value.tensor)
    x = keras.layers.Permute((2, 1), name=Names.fresh(layer, "_channels_first"))(x)
    x = keras.layers.LayerNormalization(
        axis=-1, epsilon=layer.epsilon, center=False, scale=False, name=Names.fresh(layer)
    )(x)
    x = keras.layers.Permute((2, 1), name=Names.fresh(layer, "_channels_last"))(x)
    x = keras.layers.Reshape(tuple(shape[1:]), name=Names.fresh(layer, "_restore"))(x)
    return [Value(x, value.kind, value.group_size, value.channels)]


def _relu(layer, inputs, node):
    (value,) = inputs
    config = layer.get_config()
    relu = keras.layers.ReLU(max_value=config.get("max_value"),
                             negative_slope=config.get("negative_slope", 0.0),
                             threshold=config.get("threshold", 0.0),
                             name=Names.fresh(layer))
    return [Value(relu(value.tensor), value.kind, value.group_size, value.channels)]


def _identity(layer, inputs, node):
    return list(inputs)


def _spatial_pool(layer, inputs, node):
    """Max or average pooling per channel: the same Keras pooling on the
    flattened maps (valid windows, or Keras's "same" where the layer pads
    exactly as it does)."""
    (value,) = inputs
    if len(value.tensor.shape) == 5:
        value = to_group(value, layer)
    spatial = static_spatial(layer, value)
    pads = layer.spatial_padding(spatial)
    if not any(p for pair in pads for p in pair):
        padding = "valid"
    elif pads == tuple(padding_lib.compute_padding("same", n, k, s) for n, k, s in
                       zip(spatial, layer.pool_size, layer.strides)):
        padding = "same"
    else:
        raise ValueError(
            f"to_plain_keras: pooling {layer.name!r} pads {pads} pixels, which "
            "neither 'valid' nor Keras's 'same' pooling does."
        )
    cls = (keras.layers.MaxPooling2D if isinstance(layer, L.GroupMaxPooling2D)
           else keras.layers.AveragePooling2D)
    y = cls(layer.pool_size, layer.strides, padding=padding, name=Names.fresh(layer))(value.tensor)
    return [Value(y, value.kind, value.group_size, value.channels)]


def _global_pool(layer, inputs, node):
    (value,) = inputs
    rank5 = len(value.tensor.shape) == 5
    if rank5:
        value = to_group(value, layer)
    cls = (keras.layers.GlobalAveragePooling2D if layer.mode == "mean"
           else keras.layers.GlobalMaxPooling2D)
    y = cls(keepdims=layer.keepdims, name=Names.fresh(layer))(value.tensor)
    if value.kind != "group":
        return [Value(y)]
    if layer.keepdims:
        return [Value(y, "group", value.group_size, value.channels)]
    y = keras.layers.Reshape((value.group_size, value.channels),
                             name=Names.fresh(layer, "_group"))(y)
    return [Value(y)]


def _pool_group_axis(layer, value, mode, keepdims):
    """``[B, H, W, G * C]`` -> pooled over ``G``: ``[B, H, W, C]``."""
    height, width = static_spatial(layer, value)
    g, c = value.group_size, value.channels
    x = keras.layers.Reshape((height * width, g, c), name=Names.fresh(layer, "_split"))(value.tensor)
    cls = keras.layers.MaxPooling2D if mode == "max" else keras.layers.AveragePooling2D
    x = cls((1, g), name=Names.fresh(layer))(x)
    x = keras.layers.Reshape((height, width, c), name=Names.fresh(layer, "_merge"))(x)
    # A kept group axis of size 1 has the same flattened layout.
    return Value(x, "group", 1, c) if keepdims else Value(x)


def _group_pool(layer, inputs, node):
    (value,) = inputs
    value = to_group(value, layer)
    return [_pool_group_axis(layer, value, layer.mode, layer.keepdims)]


def _channel_map(layer, value, matrix, suffix):
    """A fixed 1x1 convolution (a selection or weighted sum of channels)."""
    conv = keras.layers.Conv2D(matrix.shape[1], 1, use_bias=False,
                               name=Names.fresh(layer, suffix))
    y = conv(value.tensor)
    conv.set_weights([matrix[None, None].astype("float32")])
    return y


def _continuous_pool(layer, inputs, node):
    """Pooling over the sampled elements: weighted mean, or the maximum
    over the elements of non-zero weight (a channel selection first where
    some are masked)."""
    features, elements = inputs
    features = to_group(features, layer)
    weight = numpy(element_transform(elements.tensor)[2])
    n, c = features.group_size, features.channels
    eye = np.eye(c, dtype="float32")
    if layer.mode == "mean":
        matrix = np.concatenate([w / weight.sum() * eye for w in weight], axis=0)
        return [Value(_channel_map(layer, features, matrix, ""))]
    keep = np.flatnonzero(weight > 0)
    if len(keep) < n:
        select = np.zeros((n * c, len(keep) * c), "float32")
        for j, i in enumerate(keep):
            select[i * c:(i + 1) * c, j * c:(j + 1) * c] = eye
        features = Value(_channel_map(layer, features, select, "_select"), "group",
                         len(keep), c)
    return [_pool_group_axis(layer, features, "max", False)]


# Most specific first (the relaxed and partial layers subclass the others).
_CONVERTERS = (
    (L.BaseGroupConv, _group_conv),
    (L.BaseContinuousGroupConv, _continuous_conv),
    (L.BatchNormalization, _batch_norm),
    (L.SpatialLayerNormalization, _layer_norm),
    (L.ReLU, _relu),
    (L.Dropout, _identity),
    ((L.GroupMaxPooling2D, L.GroupAveragePooling2D), _spatial_pool),
    (L.GlobalSpatialPooling2D, _global_pool),
    (L.GroupPooling, _group_pool),
    (L.ContinuousGroupPooling, _continuous_pool),
)
