"""Small constant tensors built inside ``call`` without numpy.

`keras.ops.convert_to_tensor` turns a list or numpy array into a tensor
through numpy, and under torch.compile (``jit_compile=True`` on the torch
backend) a numpy array inside the compiled function is a graph break:
TorchDynamo cannot read its dtype, splits the training step into many
graphs and recompiles the pieces. Python scalars convert without numpy, so
short constant vectors are stacked from them.
"""

from keras import ops


def float_vector(values, dtype="float32"):
    """``[len(values)]`` tensor from Python numbers, built without numpy.

    Example:

    >>> tuple(float_vector([0.5, 1.0]).shape)
    (2,)
    """
    values = [float(v) for v in values]
    if not values:
        return ops.zeros((0,), dtype)
    return ops.stack([ops.convert_to_tensor(v, dtype=dtype) for v in values])
