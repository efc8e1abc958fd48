"""The position-dependent path of the non-stationary (soft) layers.

When the translation part of ``omega'`` is non-zero, every output position
has its own kernel (van der Ouderaa et al. 2022, Eq. 2: ``k`` depends on the
absolute input element). The convolution is then input patches and an
einsum, over chunks of whole output rows (about ``chunk_size`` positions),
so the memory of the generated kernels and of the input windows is bounded
(peak memory grows linearly with the chunk size; BENCHMARKS.md,
"Non-stationary (soft) layers"). In training each chunk is rematerialised
(`keras.remat`, ``rematerialize=True``): the backward pass regenerates a
chunk's kernels instead of keeping every chunk's, so training memory is
bounded by the chunk size too.
"""

import math

import keras
from keras import ops
# Not exported by `keras`; the scope class itself is (`keras.StatelessScope`).
from keras.src.backend import in_stateless_scope

from relaxed_keras import backend_policy

# Generated kernel values per chunk when ``chunk_size=None`` (64 MB float32).
AUTO_CHUNK_ELEMENTS = 2**24


def _rerun_outside_stateless_values():
    """Whether a `keras.remat` chunk would be recomputed with other weights
    than its forward pass used: inside `stateless_call` (a
    `keras.StatelessScope`) on TensorFlow and torch. There the backward
    pass reruns the chunk (`tf.recompute_grad`, `torch.utils.checkpoint`)
    after the scope has ended, so it read the variables' stored values
    instead of the values passed in, and the gradients were wrong (zero for
    the kernel network on TensorFlow; built from the stored weights on
    torch) without a word. Such calls store the chunks instead: the same
    numbers, memory as with ``rematerialize=False``. JAX's `jax.checkpoint`
    reruns the traced function on the values it was given."""
    return backend_policy.active("remat_reads_stored_variables") and in_stateless_scope()


class PositionDependentConvolution:
    """Mixin of `NonStationaryMixin`: the convolution with one kernel per
    output position. Needs ``kernels_at(positions, out_elements,
    in_elements)`` and ``kernel_scale`` from the soft layer and the
    padding and folding helpers of `BaseContinuousGroupConv`."""

    def tap_positions(self, spatial_shape):
        """Float32 ``[P, k, k, 2]`` absolute ``(x, y)`` of every tap of every
        output position, normalised to ``[-1, 1]`` over the input. Built
        with `keras.ops` (see `relaxed_keras.layers.constants`); each
        coordinate is one division of exact integers, ``(2 c - D) / D``
        with ``D = max(W - 1, 1)``, so it is correctly rounded."""
        height, width = spatial_shape
        (top, _), (left, _) = self.spatial_padding(spatial_shape)
        out_h, out_w = self._output_spatial_shape(spatial_shape)
        k = self.kernel_size[0]
        taps = ops.arange(k, dtype="float32")
        rows = (
            ops.arange(out_h, dtype="float32")[:, None] * self.strides[0]
            + taps[None, :] * self.dilation_rate[0]
            - top
        )  # [H', k]
        cols = (
            ops.arange(out_w, dtype="float32")[:, None] * self.strides[1]
            + taps[None, :] * self.dilation_rate[1]
            - left
        )  # [W', k]
        span_x, span_y = max(width - 1, 1), max(height - 1, 1)
        x = (2.0 * cols - span_x) / span_x
        y = (span_y - 2.0 * rows) / span_y
        grid_x = ops.broadcast_to(x[None, :, None, :], (out_h, out_w, k, k))
        grid_y = ops.broadcast_to(y[:, None, :, None], (out_h, out_w, k, k))
        positions = ops.stack([grid_x, grid_y], axis=-1)
        return ops.reshape(positions, (out_h * out_w, k, k, 2))

    def resolved_chunk_size(self, num_positions, n_out, n_in):
        if self.chunk_size is not None:
            return min(self.chunk_size, num_positions)
        per_position = (
            self.kernel_size[0] ** 2 * n_out * n_in * self.in_channels * self.filters
        )
        return int(max(1, min(num_positions, AUTO_CHUNK_ELEMENTS // per_position)))

    def patches(self, x, out_shape):
        """``[B, H', W', k * k, C]`` input windows, tap-major (as the kernel)."""
        k = self.kernel_size[0]
        out_h, out_w = out_shape
        windows = []
        for i in range(k):
            for j in range(k):
                r0, c0 = i * self.dilation_rate[0], j * self.dilation_rate[1]
                windows.append(
                    x[
                        :,
                        r0 : r0 + self.strides[0] * (out_h - 1) + 1 : self.strides[0],
                        c0 : c0 + self.strides[1] * (out_w - 1) + 1 : self.strides[1],
                        :,
                    ]
                )
        return ops.stack(windows, axis=3)

    def convolve_positions(self, x, positions, out_shape, rows, out_elements,
                           in_elements):
        """The position-dependent convolution, ``rows`` output rows at a
        time: ``([B, P, N_out * F], sum of squared kernels)``.

        Each chunk builds its own input windows (``[B, rows * W', k k C]``,
        from the input rows it reads) and kernels, so neither grows with the
        image: only the padded input ``x`` and the outputs are whole.
        TensorFlow and torch run the chunks as an unrolled loop. XLA
        schedules the kernel generation of an unrolled loop's chunks
        together, so chunking barely lowered its memory; on JAX the chunks
        run in `keras.ops.map`, a loop XLA keeps sequential, the rows padded
        to whole chunks and the padding masked out of the sum of squares.
        Peak memory per backend and chunk size: BENCHMARKS.md,
        "Non-stationary (soft) layers: time and memory against `chunk_size`
        (CPU)". Not on TensorFlow: `tf.recompute_grad` inside `tf.map_fn`
        fails to capture the layer's variables.
        """
        out_h, out_w = out_shape
        k, stride, dilation = self.kernel_size[0], self.strides[0], self.dilation_rate[0]
        n_out = self.group.size
        depth = k * k * x.shape[-1]

        def input_rows(first_row, num_rows):
            """Input rows read by output rows ``first_row ...`` (static)."""
            top = first_row * stride
            return top, top + (num_rows - 1) * stride + (k - 1) * dilation + 1

        def convolve_chunk(x_rows, position_chunk, valid=None):
            num_rows = position_chunk.shape[0] // out_w
            windows = ops.reshape(
                self.patches(x_rows, (num_rows, out_w)), (-1, num_rows * out_w, depth)
            )
            kernels = self.kernels_at(position_chunk, out_elements, in_elements)
            squares = ops.square(kernels)
            if valid is not None:
                squares = squares * ops.reshape(valid, (-1, 1, 1, 1, 1))
            kernels = ops.reshape(
                kernels, (position_chunk.shape[0], -1, n_out * self.filters)
            )
            kernels = ops.cast(kernels, windows.dtype)  # compute dtype
            return (ops.einsum("bsc,scf->bsf", windows, kernels), ops.sum(squares))

        if rows >= out_h:
            return convolve_chunk(x, positions)
        if self.rematerialize and not _rerun_outside_stateless_values():
            # Backward recomputes each chunk's windows and kernels (and the
            # kernel network's activations) instead of keeping all of them.
            convolve_chunk = keras.remat(convolve_chunk)
        if not backend_policy.active("chunks_in_map"):
            outputs, sum_square = [], 0.0
            for first in range(0, out_h, rows):
                count = min(rows, out_h - first)
                top, bottom = input_rows(first, count)
                output, chunk_square = convolve_chunk(
                    x[:, top:bottom],
                    positions[first * out_w : (first + count) * out_w],
                )
                outputs.append(output)
                sum_square = sum_square + chunk_square
            return ops.concatenate(outputs, axis=1), sum_square
        num_chunks = -(-out_h // rows)
        _, needed = input_rows(0, num_chunks * rows)
        x = ops.pad(x, [[0, 0], [0, max(0, needed - x.shape[1])], [0, 0], [0, 0]])
        blocks = ops.stack(
            [x[:, slice(*input_rows(i * rows, rows))] for i in range(num_chunks)]
        )
        num_positions = out_h * out_w
        padding = num_chunks * rows * out_w - num_positions
        positions = ops.pad(positions, [[0, padding], [0, 0], [0, 0], [0, 0]])
        positions = ops.reshape(
            positions, (num_chunks, rows * out_w) + tuple(positions.shape[1:])
        )
        valid = ops.reshape(
            ops.cast(ops.arange(num_chunks * rows * out_w) < num_positions, "float32"),
            (num_chunks, rows * out_w),
        )
        outputs, squares = ops.map(
            lambda args: convolve_chunk(*args), (blocks, positions, valid)
        )
        outputs = ops.reshape(
            ops.transpose(outputs, (1, 0, 2, 3)),
            (-1, num_chunks * rows * out_w, outputs.shape[-1]),
        )
        return outputs[:, :num_positions], ops.sum(squares)

    def convolve_at_positions(self, features, out_elements, in_elements=None,
                              training=None):
        """``convolve`` when the kernel depends on the absolute position."""
        x = self.fold_group_axis(features)
        spatial_shape = (x.shape[1], x.shape[2])
        if None in spatial_shape:
            raise ValueError(
                f"{type(self).__name__} with a non-zero translation omega' needs "
                "a known input height and width (absolute positions are "
                f"normalised over the input). Received: shape={tuple(x.shape)}"
            )
        out_h, out_w = self._output_spatial_shape(spatial_shape)
        positions = self.tap_positions(spatial_shape)
        x = self._pad(x, spatial_shape)
        channels = x.shape[-1]
        n_out = self.group.size
        n_in = 1 if self.lifting else self.group.size
        num_positions = out_h * out_w
        chunk = self.resolved_chunk_size(num_positions, n_out, n_in)
        # Whole output rows per chunk (at least one).
        rows = max(1, min(out_h, chunk // out_w))
        y, sum_square = self.convolve_positions(
            x, positions, (out_h, out_w), rows, out_elements, in_elements
        )
        y = ops.reshape(y, (-1, out_h, out_w, n_out * self.filters))
        if self.normalize_kernel:
            # Linear in the kernel: scaling the output = scaling every kernel.
            # Folded kernels: [S, k, k, N_in * C_in, N_out * F].
            k = self.kernel_size[0]
            kernel_shape = (num_positions, k, k, channels, n_out * self.filters)
            size = num_positions * math.prod(kernel_shape[1:])
            scale = self.kernel_scale(sum_square / size, kernel_shape)
            y = y * ops.cast(scale, y.dtype)
        return self.finish(y, out_elements, training=training)
