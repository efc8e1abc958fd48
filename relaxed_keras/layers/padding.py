"""Explicit spatial padding and the exactness condition of strided layers.

All convolutions and poolings of relaxed_keras pad explicitly and then run
with ``padding="valid"``: Keras's ``"same"`` pads differently on torch than
on TensorFlow/JAX when the stride is larger than 1, and padding decides
whether a strided layer is exactly equivariant. The one exception is a
stride-1 convolution padded by ``(k - 1) / 2`` on every side, which all
backends pad identically inside ``ops.conv(padding="same")`` without a copy
of the input (`SpatialSamplingMixin._pad_for_conv`).

A layer with kernel ``k`` (dilation included), stride ``s`` and padding
``(before, after)`` on an input of size ``i`` samples windows starting at
``s * x - before``. Rotating or mirroring the input maps that window grid onto
itself - the layer commutes exactly with the transformation - iff the grid is
symmetric about the centre of the input:

    2 * before == s * (o - 1) + k - i,   o = (i + before + after - k) // s + 1.

With symmetric padding ``p`` this is Eq. 3 of Edixhoven et al. (2023),
``(i + 2p - k) mod s == 0``.

Padding modes:

* ``"valid"``: no padding.
* ``"same"``: TensorFlow's rule, ``ceil(i / s)`` outputs, the odd extra pixel
  after. Matches `keras.layers.Conv2D(padding="same")` on TF/JAX.
* an integer ``p``: ``p`` pixels on every side.
* ``"valid_equiv"`` / ``"same_equiv"`` (as in GroCo): start from ``valid`` or
  from the symmetric ``(k - 1) // 2`` and add the least extra *symmetric*
  padding for which the condition holds. When the parity of ``i - k`` makes
  that impossible (odd ``i - k`` with an even stride) no padding can help and
  a `ValueError` suggests input sizes that work.
"""

import math

PADDING_MODES = ("valid", "same", "valid_equiv", "same_equiv")


def standardize_padding(padding):
    """Validate ``padding``: one of `PADDING_MODES` or a non-negative int."""
    if isinstance(padding, str):
        value = padding.lower()
        if value in PADDING_MODES:
            return value
    elif isinstance(padding, int) and not isinstance(padding, bool):
        if padding >= 0:
            return padding
    raise ValueError(
        f"`padding` must be one of {PADDING_MODES} or a non-negative integer. "
        f"Received: padding={padding!r}"
    )


def compute_padding(padding, size, kernel_size, stride):
    """``(before, after)`` padding of one spatial axis.

    Args:
        padding: a standardized padding value.
        size: input size along the axis, or None when unknown.
        kernel_size: effective kernel size (dilation included).
        stride: stride along the axis.
    """
    if padding == "valid":
        return 0, 0
    if isinstance(padding, int):
        return padding, padding
    if padding == "same":
        if stride == 1:
            total = kernel_size - 1
        else:
            _require_size(size, padding, stride)
            out = math.ceil(size / stride)
            total = max((out - 1) * stride + kernel_size - size, 0)
        return total // 2, total - total // 2
    base = 0 if padding == "valid_equiv" else (kernel_size - 1) // 2
    if stride == 1:
        return base, base
    _require_size(size, padding, stride)
    for extra in range(stride + 1):
        if (size + 2 * (base + extra) - kernel_size) % stride == 0:
            return base + extra, base + extra
    raise ValueError(
        f"padding={padding!r} cannot make this layer exactly equivariant for "
        f"input size {size} (kernel size {kernel_size}, stride {stride}): no "
        "symmetric padding p satisfies (i + 2p - k) mod s == 0 (Edixhoven et "
        "al. 2023, Eq. 3). Use an input size such as "
        f"{_nearest_sizes(size, kernel_size, stride)}, or padding='same'/"
        "'valid' to accept approximate equivariance."
    )


def equals_same(kernel_size, stride, before, after):
    """True when ``(before, after)`` padding is what ``ops.conv(padding=
    "same")`` does on every backend: stride 1, odd effective kernel, and
    ``(k - 1) / 2`` on both sides."""
    half = (kernel_size - 1) // 2
    return stride == 1 and kernel_size % 2 == 1 and before == after == half


def output_size(size, kernel_size, stride, before, after):
    """Number of windows along one axis (None when ``size`` is None)."""
    if size is None:
        return None
    return (size + before + after - kernel_size) // stride + 1


def is_exact(size, kernel_size, stride, before, after):
    """True when the window grid is symmetric about the input centre."""
    out = output_size(size, kernel_size, stride, before, after)
    if out is None or out < 1:
        return False
    return 2 * before == stride * (out - 1) + kernel_size - size


def _require_size(size, padding, stride):
    if size is None:
        raise ValueError(
            f"padding={padding!r} with stride {stride} needs a known spatial "
            "input size; build the layer with a static height and width."
        )


def _nearest_sizes(size, kernel_size, stride):
    good = [
        i
        for i in range(max(kernel_size, size - stride), size + stride + 1)
        if (i - kernel_size) % stride == 0
    ]
    return " or ".join(str(i) for i in good)
