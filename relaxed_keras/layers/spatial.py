"""Window geometry and output layout shared by group convolutions and
spatial poolings."""

import keras
from keras import ops

from relaxed_keras import backend_policy
from relaxed_keras.layers import padding as padding_lib


def standardize_pair(value, name):
    """An int or a pair of positive ints -> tuple of two ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and all(v > 0 for v in value)
    ):
        return tuple(int(v) for v in value)
    raise ValueError(
        f"`{name}` must be a positive integer or a pair of positive integers. "
        f"Received: {name}={value!r}"
    )


def as_floating(x, dtype):
    """Integer or boolean inputs (raw images, e.g. ``uint8``) cast to
    ``dtype``, the layer's compute dtype; floating inputs pass unchanged
    (Keras has cast those already). Convolution and padding with ``-inf``
    need a floating type on every backend."""
    if "float" in keras.backend.standardize_dtype(x.dtype):
        return x
    return ops.cast(x, dtype)


def check_quarter_turn_pairs(layer_name, group, **pairs):
    """Rotations by angles other than 180 degrees swap height and width, so
    a layer equivariant to them needs the same window along both: a
    ValueError naming the first argument whose pair differs. Rotations by
    180 degrees (``group.order <= 2``) keep the axes: any pair is fine."""
    if group.order <= 2:
        return
    for name, pair in pairs.items():
        if pair[0] != pair[1]:
            raise ValueError(
                f"{layer_name}: rotations by angles other than 180 degrees "
                f"need the same `{name}` along height and width (square "
                "windows and strides: a quarter turn swaps the axes). "
                f"Received: {name}={pair} for {group!r}"
            )


def pad_spatial(x, pads, value=0.0):
    """``x`` ``[B, H, W, ...]`` padded with ``value`` by ``pads = ((top,
    bottom), (left, right))`` pixels.

    `keras.ops.pad`, unlike the other ops, creates a Keras `Operation` on
    every eager call, and each creation advances a global name counter.
    Under torch.compile (``jit_compile=True`` on torch) that mutation broke
    the graph inside every padded layer and made TorchDynamo guard on the
    counter, so the function recompiled at every step until it hit its
    recompile limit and fell back to eager. On torch the padding is
    therefore a concatenation with constant blocks (the same values);
    TensorFlow and JAX keep `ops.pad`.
    """
    if not any(p for pair in pads for p in pair):
        return x
    if not backend_policy.active("pad_by_concatenation"):
        widths = [(0, 0), pads[0], pads[1]] + [(0, 0)] * (len(x.shape) - 3)
        return ops.pad(x, widths, constant_values=value)
    for axis, (before, after) in ((1, pads[0]), (2, pads[1])):
        edge = x[:, :1] if axis == 1 else x[:, :, :1]
        fill = ops.full_like(edge, value)
        parts = [x]
        if before:
            parts.insert(0, ops.repeat(fill, before, axis=axis))
        if after:
            parts.append(ops.repeat(fill, after, axis=axis))
        x = ops.concatenate(parts, axis=axis)
    return x


class SpatialSamplingMixin:
    """Padding, output size and exactness of a windowed spatial operation.

    Needs ``kernel_size``, ``strides``, ``padding`` and optionally
    ``dilation_rate`` attributes.
    """

    @property
    def effective_kernel_size(self):
        dilation = getattr(self, "dilation_rate", (1, 1))
        return tuple(
            (k - 1) * d + 1 for k, d in zip(self.kernel_size, dilation)
        )

    def spatial_padding(self, spatial_shape):
        """``((top, bottom), (left, right))`` for an input ``(H, W)``."""
        return tuple(
            padding_lib.compute_padding(self.padding, size, k, s)
            for size, k, s in zip(
                spatial_shape, self.effective_kernel_size, self.strides
            )
        )

    def _pad(self, x, spatial_shape, value=0.0):
        return pad_spatial(x, self.spatial_padding(spatial_shape), value)

    def _pad_for_conv(self, x, spatial_shape):
        """Pad ``x`` for `ops.conv`; returns ``(x, conv_padding)``.

        Stride 1 with ``(k - 1) / 2`` pixels on every side (odd effective
        kernel) is exactly what ``padding="same"`` does on every backend, so
        the convolution pads internally and the input is not copied: on JAX
        the explicit pad alone made a strict p4 layer's training step 1.4x
        slower than the same `Conv2D` (the layer now: BENCHMARKS.md, "Layers
        against the dense limit (CPU)"). Everything else is padded
        explicitly and convolved ``"valid"``.
        """
        pads = self.spatial_padding(spatial_shape)
        if all(
            padding_lib.equals_same(k, s, *pair)
            for k, s, pair in zip(self.effective_kernel_size, self.strides, pads)
        ):
            return x, "same"
        return self._pad(x, spatial_shape), "valid"

    def _output_spatial_shape(self, spatial_shape):
        """Output ``(H, W)``; a `ValueError` when an axis would have no
        window (as `keras.layers.Conv2D` raises)."""
        pads = self.spatial_padding(spatial_shape)
        sizes = tuple(
            padding_lib.output_size(size, k, s, *pad)
            for size, k, s, pad in zip(
                spatial_shape, self.effective_kernel_size, self.strides, pads
            )
        )
        if any(size is not None and size < 1 for size in sizes):
            raise ValueError(
                f"{type(self).__name__} ({self.name!r}): the input's spatial "
                f"size {tuple(spatial_shape)} is smaller than the window "
                f"(kernel_size={self.kernel_size}, effective size with "
                f"dilation {self.effective_kernel_size}, strides="
                f"{self.strides}, padding={self.padding!r}, i.e. {pads}): "
                f"the output size would be {sizes}. Use a larger input, a "
                "smaller kernel or more padding."
            )
        return sizes

    def sampling_geometry(self, spatial_shape):
        """Per spatial axis: size, kernel, stride, padding, output, exact.

        Used by `relaxed_keras.diagnostics.exactness_report`.
        """
        pads = self.spatial_padding(spatial_shape)
        rows = []
        for size, k, s, pad in zip(
            spatial_shape, self.effective_kernel_size, self.strides, pads
        ):
            rows.append(
                {
                    "size": size,
                    "kernel_size": k,
                    "stride": s,
                    "padding": pad,
                    "output_size": padding_lib.output_size(size, k, s, *pad),
                    "exact": padding_lib.is_exact(size, k, s, *pad),
                }
            )
        return rows


def validate_group_features(layer_name, shape, lifting, group):
    """Check ``[B, H, W, C]`` (lifting) or ``[B, H, W, |G|, C]`` input
    shapes; returns the number of channels."""
    rank = 4 if lifting else 5
    if len(shape) != rank:
        expected = (
            "[batch, height, width, channels]"
            if lifting
            else f"[batch, height, width, {group.size}, channels]"
        )
        raise ValueError(
            f"{layer_name} expects inputs of rank {rank} {expected}. "
            f"Received: input_shape={tuple(shape)}"
        )
    if not lifting and shape[3] != group.size:
        raise ValueError(
            f"{layer_name} with {group!r} expects a group axis (axis 3) of "
            f"size {group.size}. Received: input_shape={tuple(shape)}"
        )
    if shape[-1] is None:
        raise ValueError(
            f"{layer_name} needs a known number of input channels. "
            f"Received: input_shape={tuple(shape)}"
        )
    return shape[-1]


def group_features_spec(lifting, group, channels):
    """`keras.InputSpec` of a built layer's input: ``[B, H, W, C]``
    (lifting) or ``[B, H, W, |G|, C]`` with the channels it was built for.
    Without it, a built layer called on other channels ran ``ops.conv`` as
    a grouped convolution and returned a wrong result without a word."""
    if lifting:
        return keras.InputSpec(ndim=4, axes={-1: channels})
    return keras.InputSpec(ndim=5, axes={3: group.size, -1: channels})


def check_built_features(layer_name, shape, lifting, group, channels):
    """The check `group_features_spec` makes, for layers whose inputs are
    lists (continuous layers: ``[features, elements]``)."""
    received = validate_group_features(layer_name, shape, lifting, group)
    if received != channels:
        raise ValueError(
            f"{layer_name} was built for inputs with {channels} channels (last "
            f"axis). Received: input_shape={tuple(shape)}"
        )


def channels_last_op(op, x, *args, **kwargs):
    """``op(x, *args, **kwargs)`` for a Keras spatial op (`ops.conv`,
    `ops.max_pool`, `ops.average_pool`) on a channels-last ``[B, H, W, C]``
    batch.

    On torch, Keras 3.15 runs these ops on a `.contiguous()` NCHW copy of
    the input (the convolution then copies it back to channels-last memory
    for oneDNN) and returns a non-contiguous view: two copies of the input
    per convolution in the forward pass and two of its gradient in the
    backward one, and a copy wherever the pooled view is reshaped. The
    same op with ``data_format="channels_first"`` on the transposed *view*
    reads the channels-last memory directly (oneDNN's convolution and
    torch's poolings have channels-last kernels), and its output
    transposed back is already contiguous ``[B, H, W, C]``: the same
    numbers without the copies (eager torch: the ``jit_compile=False``
    rows of BENCHMARKS.md, "P4CNN per `jit_compile` setting (CPU,
    sequential run)"). TensorFlow and JAX call the op unchanged.
    """
    if not backend_policy.active("channels_first_views"):
        return op(x, *args, **kwargs)
    y = op(ops.transpose(x, (0, 3, 1, 2)), *args, data_format="channels_first", **kwargs)
    return ops.transpose(y, (0, 2, 3, 1))


def folds_group_axis(training=None):
    """Whether elementwise work on ``[B, H, W, |G|, C]`` maps runs on the
    folded ``[B, H, W, |G| * C]`` view: always on TensorFlow and JAX, on
    torch outside training (``training`` falsy).

    The compilers vectorise along the minor axis, which on the rank-5 view
    is the C channels of one group element (10 in the P4CNN). XLA on CPU
    then leaves bias adds, batch statistics and dropout masks out of the
    convolution's fusion; torch's inductor fills 10 of 16 vector lanes
    with masked loads and stores, and on the folded view the P4CNN's
    compiled `predict` runs its elementwise kernels in about half the time
    (the results: BENCHMARKS.md, "P4CNN per `jit_compile` setting (CPU,
    sequential run)"). Training on torch keeps the rank-5 view, where the
    folded bias and batch statistics were slower (BENCHMARKS.md, "Tried
    and rejected").

    Args:
        training: whether the caller is in a training step (the layer's
            ``training`` argument).
    """
    return not (backend_policy.active("unfolded_training") and training)


def fold_group_axis(x):
    """``[B, H, W, |G|, C]`` -> ``[B, H, W, |G| * C]`` (group-major)."""
    shape = ops.shape(x)
    return ops.reshape(x, (shape[0], shape[1], shape[2], shape[3] * shape[4]))


def _group_tiling(channels, group_size, dtype):
    """``[C, |G| C]``: entry ``(c, g C + c)`` is 1, all others 0."""
    return ops.tile(ops.eye(channels, dtype=dtype), (1, group_size))


def tile_over_group(vector, group_size):
    """A per-channel ``[C]`` vector -> ``[|G| * C]``, repeated for every
    group element in the group-major order of `fold_group_axis`.

    Both forms below hand the feature-map loops a plain ``[|G| C]``
    vector, and both are exact (each output is a copy of one input, or one
    input times 1 plus zeros; the product only while torch's TF32 matmuls
    stay off on GPUs, their default):

    - TensorFlow and JAX: a concatenation of ``|G|`` copies, which XLA
      keeps as its own small operation. Not a broadcast and reshape: XLA
      fuses the broadcast into the consuming loop as a modulo on the
      channel index, which the loop vectoriser cannot handle (JAX P4CNN
      training at 1.35-1.39x the dense limit's time). Not a product with a
      0/1 matrix: the dot's reshape lands in the consumer and grows
      `predict`'s YNNPACK fusion past its size limit (jaxlib 0.10.2), so
      the first layer's feature maps make extra passes through memory.
    - torch: the product with the ``[C, |G| C]`` 0/1 matrix (entry ``(c,
      g C + c)`` is 1). inductor fuses a concatenation into the consuming
      loop and derives the rank-5 loop over C again (10 of 16 vector lanes
      in the P4CNN); a product is an external kernel, so the loop runs over
      ``|G| C``.

    The resulting P4CNN times: BENCHMARKS.md, "P4CNN per `jit_compile`
    setting (CPU, sequential run)".
    """
    if backend_policy.active("tile_by_matmul"):
        tiling = _group_tiling(vector.shape[-1], group_size, vector.dtype)
        return ops.matmul(vector, tiling)
    return ops.concatenate([vector] * group_size, axis=-1)


def mean_over_group(vector, group_size):
    """``[|G| * C]`` (group-major) -> ``[C]``: the mean over the group
    elements, as a product with the ``[C, |G| C]`` 0/1 matrix of
    `tile_over_group`'s torch form. It runs only for the batch statistics
    in training on TensorFlow and JAX, where the P4CNN already trains at the
    dense limit's speed; a reshape and mean was not measured against it."""
    channels = vector.shape[-1] // group_size
    tiling = _group_tiling(channels, group_size, vector.dtype)
    return ops.matmul(tiling, vector) / group_size


def to_group_layout(y, bias, group_size, filters, training=None):
    """``[B, H, W, |G| * filters]`` convolution output -> ``[B, H, W, |G|,
    filters]``, plus ``bias[c]`` on every group element (``bias``: a
    tensor, the layer's bias variable or None).

    Where `folds_group_axis` says so (TensorFlow and JAX; torch outside
    training) the bias is tiled over the group-major channels and added
    *before* the reshape, where the compilers fuse it into the
    convolution's elementwise loop over ``|G| filters`` channels; on the
    rank-5 view it falls out of XLA's fusion (JAX P4CNN `predict` on CPU
    2.2x faster folded; BENCHMARKS.md, "P4CNN per `jit_compile` setting
    (CPU, sequential run)"). Otherwise it is added after the reshape.

    Args:
        training: the calling layer's ``training`` argument.
    """
    if bias is not None:
        # A variable goes through convert_to_tensor first (JAX tracing).
        bias = ops.cast(ops.convert_to_tensor(bias), y.dtype)
    fold_bias = bias is not None and folds_group_axis(training)
    if fold_bias:
        y = y + tile_over_group(bias, group_size)
    shape = ops.shape(y)
    y = ops.reshape(y, (shape[0], shape[1], shape[2], group_size, filters))
    if bias is not None and not fold_bias:
        y = y + bias
    return y
