"""ReLU for feature maps on a group."""

import keras
from keras import ops

from relaxed_keras import backend_policy


@keras.saving.register_keras_serializable(package="relaxed_keras")
class ReLU(keras.layers.ReLU):
    """`keras.layers.ReLU` with a select form for compiled torch training.

    The same layer, arguments, config and results as Keras's. One
    difference in how it computes: where the model that holds it is
    compiled with ``jit_compile=True`` on the torch backend (the zoo's
    models tell their layers, see `relaxed_keras.models.ZooModel`), a plain
    ReLU on a group feature map ``[B, H, W, |G|, C]`` is computed as
    ``where(x <= 0, 0, x)``: the same values (NaN stays NaN) and the same
    gradient (0 at ``x = 0``, as Keras's ReLU on every backend). The
    reason is torch inductor's code (torch 2.13, CPU): for ``torch.relu``
    the training graph stores a boolean mask for the backward pass, written
    with masked 10-lane vector stores when ``C = 10``; for the select it
    recomputes the comparison from a tensor it keeps anyway (P4CNN
    training without dropout 1.82x faster). Eager torch and the rank-4
    maps of an ordinary CNN keep Keras's ReLU, where the select is slower;
    those and the other ReLU forms tried: BENCHMARKS.md, "Tried and
    rejected".
    TensorFlow and JAX always run Keras's ReLU. In a model that is not
    one of the zoo's, call ``use_compiled_torch_select(model,
    model.jit_compile)`` (this module) after `compile` for the same
    effect.

    Example:

    >>> x = keras.ops.convert_to_tensor([[-1.0, 0.0, 2.0]])
    >>> keras.ops.convert_to_numpy(relaxed_keras.layers.ReLU()(x)).tolist()
    [[0.0, 0.0, 2.0]]
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Set by `ZooModel.jit_compile` (True only for torch with
        # jit_compile=True); a Python bool, so torch.compile guards on it.
        self._compiled_torch_select = False

    def call(self, inputs):
        if (self._compiled_torch_select and len(inputs.shape) == 5
                and self.negative_slope == 0 and self.max_value is None
                and self.threshold == 0):
            return ops.where(inputs <= 0, ops.zeros_like(inputs), inputs)
        return super().call(inputs)


def use_compiled_torch_select(model, jit_compile):
    """Tell the `ReLU` layers of ``model`` whether it is compiled with
    torch.compile (``jit_compile`` true on the torch backend)."""
    select = backend_policy.active("select_relu") and bool(jit_compile)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, ReLU):
            layer._compiled_torch_select = select
