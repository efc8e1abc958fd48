"""A trained model rewritten into Keras's own layers (`to_plain_keras`).

The rewrite walks the model's functional graph once, in Keras's own order
(deepest nodes first), and replaces every node by plain Keras layers that
compute the same inference function:

- group feature maps ``[B, H, W, |G|, C]`` travel flattened, as
  ``[B, H, W, |G| C]`` (group-major channels, the layout the group
  convolutions themselves convolve);
- lifting, group, relaxed, continuous and partial convolutions become one
  `Conv2D` (after a `ZeroPadding2D` where they pad) whose kernel is the
  layer's expanded inference kernel: the ``|G|`` transformed copies, the
  relaxed filter banks combined with their weights, the partial layers'
  deterministic inference elements with their mirror mask;
- batch normalisation keeps Keras's `BatchNormalization` with its
  statistics tiled over the group axis; the per-image layer norm becomes
  a `LayerNormalization` over the flattened space-and-group axis;
- group and spatial poolings become reshapes and Keras poolings; dropout,
  an identity at inference, is left out.

Kernels are computed once, here, from the current weights; the result has
no relation to the source model afterwards (fine-tune the source, then
convert again).
"""

import keras

from relaxed_keras.export import converters
from relaxed_keras.export.values import Names
from relaxed_keras.export.values import Value
from relaxed_keras.export.values import to_plain


def _source_graph(model):
    if isinstance(model, keras.Sequential):
        if not model.built or getattr(model, "_functional", None) is None:
            raise ValueError(
                "to_plain_keras: build the Sequential model first (give it "
                "an `Input` or call it once)."
            )
        return model._functional
    if not hasattr(model, "_nodes_by_depth") or not model.inputs:
        raise ValueError(
            "to_plain_keras expects a functional `keras.Model` (every zoo "
            "model is one) or a built `keras.Sequential`. Received: "
            f"{type(model).__name__}"
        )
    return model


def to_plain_keras(model, name=None):
    """Rewrite ``model`` into a `keras.Model` of Keras's own layers.

    The result computes the source model's inference function (logits
    within 1e-4 of `model.predict`, relative to the largest logit: only
    float32 rounding differs); it holds no `relaxed_keras` class, so its
    `.keras` file loads in a process that never imports this library.
    Soft (non-stationary) layers have no such form: their kernel changes
    with the position, and Keras 3 has no layer for position-dependent
    kernels.

    Args:
        model: a functional `keras.Model` (a zoo model) or a built
            `keras.Sequential` with at least one `relaxed_keras` layer.
        name: name of the new model (default: the source's name plus
            ``"_plain"``).

    Returns:
        A functional `keras.Model` with the source's inputs and outputs.

    Example:

    >>> import relaxed_keras as rk  # doctest: +SKIP
    >>> plain = rk.export.to_plain_keras(rk.zoo.load("p4cnn_strict_fashion_mnist"))
    >>> plain.save("p4cnn_plain.keras")  # loads with keras alone
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "to_plain_keras expects a `keras.Model`. Received: "
            f"{type(model).__name__}"
        )
    graph = _source_graph(model)
    layers = list(graph.operations)
    if not converters.is_library_layer(model) and not any(
        converters.is_library_layer(layer) for layer in layers
    ):
        raise ValueError(
            f"to_plain_keras: model {model.name!r} has no relaxed_keras layer "
            "to convert (it is a Keras model of Keras layers already)."
        )
    for layer in layers:
        converters.check_convertible(layer)
    Names.reset()
    values = {}
    new_inputs = []
    for tensor in graph.inputs:
        new = keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype,
                          name=Names.fresh(tensor.name))
        values[id(tensor)] = Value(new)
        new_inputs.append(new)
    depths = sorted(graph._nodes_by_depth, reverse=True)
    for depth in depths:
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            if isinstance(layer, keras.layers.InputLayer):
                continue
            inputs = [values[id(t)] for t in node.input_tensors]
            outputs = converters.convert(layer, inputs, node)
            for tensor, value in zip(node.output_tensors, outputs):
                values[id(tensor)] = value
    new_outputs = []
    for index, tensor in enumerate(graph.outputs):
        value = to_plain(values[id(tensor)], f"output_{index}")
        if value.kind != "plain":
            raise ValueError(
                f"to_plain_keras: output {index} of {model.name!r} is a "
                f"{value.kind} tensor, not a feature tensor."
            )
        new_outputs.append(value.tensor)
    outputs = new_outputs[0] if len(new_outputs) == 1 else new_outputs
    plain = keras.Model(new_inputs[0] if len(new_inputs) == 1 else new_inputs,
                        outputs, name=name or f"{model.name}_plain")
    return plain
