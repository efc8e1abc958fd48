"""Non-stationary continuous filters: soft equivariance with a frequency
``omega'`` (van der Ouderaa, Romero & van der Wilk 2022, Sec. 4, Eq. 2, 7).

The kernel may depend on the absolute input element ``v`` as well as on the
relative one (Eq. 2): ``k(v^-1 u, v) = NN([gamma_omega(a_rel);
gamma_omega'(a_abs)])`` with random Fourier features ``gamma`` (Eq. 7,
`relaxed_keras.kernels.fourier`). ``omega`` sets the spectrum of the filter
space, ``omega'`` that of the domain space, one value per group dimension
(``x``, ``y`` and, on SE(2), ``theta``):

* ``omega' = 0``: the domain features are constant, the kernel is stationary
  and the layer is a strictly equivariant convolution (exactly: the same
  code path computes both).
* ``omega = omega' = 0``: the kernel is constant: invariant (sum) pooling
  over the receptive field and the group.
* ``omega' > 0`` in a dimension relaxes the equivariance of that subgroup
  (rotations and translations separately).

Choices where the paper is silent (there is no public code):

* Coordinates: taps on ``[-1, 1]^2`` (as the SIREN layers), absolute
  positions normalised to ``[-1, 1]`` over the layer's input, angles by the
  principal logarithm divided by ``pi`` (``[-1, 1)``), so the three
  dimensions share a scale and ``omega`` means the same in each.
* The relative element of a group convolution is ``u^-1 v`` expressed as
  ``(u^-1 y, theta_v - theta_u)``, the convention of the continuous
  layers of this library (equivalent to the paper's ``v^-1 u``); the
  absolute element is the input element ``v = (x_v, theta_v)`` (Sec. 4.1
  works in the input domain).
* ``W`` is drawn from a standard normal with the layer seed and stored as a
  non-trainable weight, so a reloaded model is identical. No disc mask by
  default (the paper does not mention one; with it, ``omega = omega' = 0``
  would no longer pool over the whole window).
* Two computation paths. When the translation part of ``omega'`` is fixed
  at zero, the kernel does not depend on the position and the layer is one
  `keras.ops.conv` (the rotation part of ``omega'`` only changes the kernel
  per group element). Otherwise every output position has its own kernel:
  input patches and an einsum, over chunks of whole output rows (about
  ``chunk_size`` positions) so the memory of the generated kernels and of
  the input windows is bounded (peak memory grows linearly with the chunk
  size; BENCHMARKS.md, "Non-stationary (soft) layers: time and memory
  against `chunk_size` (CPU)"). In training each chunk is rematerialised
  (`keras.remat`, ``rematerialize=True``): the backward pass regenerates
  a chunk's kernels instead of keeping every chunk's, so training memory
  is bounded by the chunk size too.
"""

import math

import keras
import numpy as np
from keras import ops
# Not exported by `keras`; the scope class itself is (`keras.StatelessScope`).
from keras.src.backend import in_stateless_scope

from relaxed_keras import groups as groups_lib
from relaxed_keras.arguments import boolean
from relaxed_keras.arguments import finite_float
from relaxed_keras.arguments import non_negative_float
from relaxed_keras.initialization import initializer_for
from relaxed_keras.kernels import continuous as kernels_lib
from relaxed_keras.kernels.fourier import fourier_features
from relaxed_keras.kernels.fourier import principal_angle
from relaxed_keras.layers.continuous_conv import BaseContinuousGroupConv
from relaxed_keras.layers.continuous_conv import ContinuousGroupConv2D
from relaxed_keras.layers.continuous_conv import element_transform
from relaxed_keras.layers.continuous_conv import inverse_act
from relaxed_keras.layers.constants import float_vector
from relaxed_keras.layers.omega_prime import OmegaPrimeParametrization

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
    return keras.backend.backend() != "jax" and in_stateless_scope()


def _frequencies(value, dims, name):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        values = [float(value)] * len(dims)
    else:
        values = [float(v) for v in value]
        if len(values) != len(dims):
            raise ValueError(
                f"`{name}` must be a scalar or one value per dimension "
                f"{dims}. Received: {name}={value!r}"
            )
    if any(not v >= 0 for v in values):
        raise ValueError(f"`{name}` must be non-negative. Received: {value!r}")
    return values


class NonStationaryMixin:
    """Soft (non-stationary) kernels on top of the continuous engine.

    Args:
        omega: filter-space frequency, scalar or per dimension.
        omega_prime: domain-space frequency ``omega'``, scalar or per
            dimension (``x, y`` for lifting and T(2); ``x, y, theta`` for the
            SE(2) group convolution).
        learn_omega_prime: ``False`` (fixed, the cross-validation mode),
            ``True`` (every dimension) or a list of dimension names, e.g.
            ``["theta"]``. Learned values are kept in ``[0, max_omega_prime]``.
        omega_prime_penalty: ``lambda``: adds ``lambda * ||omega'||^2`` over
            the learned dimensions to the layer losses (Sec. 5.3), so
            `model.fit` minimises it.
        num_features: ``D`` random Fourier features per space.
        chunk_size: output positions per chunk of the position-dependent
            path, rounded down to whole output rows (at least one row);
            each chunk generates its own kernels and input windows
            (``None``: automatic, at most 2^24 generated kernel values).
        rematerialize: with more than one chunk, wrap each chunk in
            `keras.remat`: the backward pass recomputes the chunk's kernels
            instead of storing every chunk's kernels and kernel-network
            activations, so training memory is bounded by ``chunk_size``
            too (forward memory always is). ``False`` keeps them: faster
            backward, memory growing with the number of positions. Values
            and gradients are the same either way (tested). Inside
            `stateless_call` on TensorFlow and torch the chunks are always
            kept (their recomputation would read the stored variables).
        max_omega_prime: upper bound of learned values (positive; a learned
            ``omega_prime`` must start at or below it).
        normalize_kernel: scale the generated kernels by one scalar per call
            so that their fan-in variance is 1 (weight standardisation,
            Qiao et al. 2019). Our choice, default on: with a ReLU kernel
            network the kernel magnitudes grow during training, batch
            normalisation's moving statistics lag behind, and the model in
            inference mode disagreed with the trained one (MNIST6-180:
            99.5 % train-mode vs 50 % inference accuracy). One global scalar
            (over all elements and positions) keeps every special case
            exact; it is computed from the kernels only, never from data.
        omega_prime_parametrization: ``"softplus"`` (``omega' = c *
            softplus(weight)``, positive, default) or ``"linear"``
            (``omega' = c * weight`` clipped to ``[0, max_omega_prime]``);
            see `relaxed_keras.layers.omega_prime`.
        omega_prime_lr_factor: ``c`` of the parametrisation: Adam moves
            the weight at the kernels' learning rate, ``omega'`` about
            ``c`` times as fast (1.0: no handicap). The penalty is computed
            on ``omega'`` itself.
    """

    def __init__(self, filters, kernel_size, group="se2_8", **kwargs):
        soft = _pop_soft(kwargs)
        group = _se2_group(group, type(self).__name__)
        super().__init__(filters, kernel_size, group, **_default_network(kwargs))
        self._init_soft(**soft)

    def get_config(self):
        return {**super().get_config(), **self.soft_config()}

    def _init_soft(
        self,
        omega,
        omega_prime,
        learn_omega_prime,
        omega_prime_penalty,
        num_features,
        chunk_size,
        max_omega_prime,
        omega_prime_lr_factor,
        omega_prime_parametrization,
        normalize_kernel,
        rematerialize,
    ):
        self.normalize_kernel = boolean(normalize_kernel, "normalize_kernel")
        self.rematerialize = boolean(rematerialize, "rematerialize")
        self.omega_prime_lr_factor = finite_float(
            omega_prime_lr_factor, "omega_prime_lr_factor", positive=True
        )
        self.omega = _frequencies(omega, self.relative_dims, "omega")
        self.omega_prime = _frequencies(omega_prime, self.absolute_dims, "omega_prime")
        if learn_omega_prime is True:
            learned = list(self.absolute_dims)
        elif not learn_omega_prime:
            learned = []
        else:
            # One dimension may be named alone ("theta" is ["theta"]).
            learned = ([learn_omega_prime] if isinstance(learn_omega_prime, str)
                       else list(learn_omega_prime))
            unknown = [d for d in learned if d not in self.absolute_dims]
            if unknown:
                raise ValueError(
                    f"`learn_omega_prime` names dimensions of {self.absolute_dims}. "
                    f"Received: {learn_omega_prime!r}"
                )
        self.learn_omega_prime = learned
        self.max_omega_prime = finite_float(
            max_omega_prime, "max_omega_prime", positive=True
        )
        self.omega_prime_parametrization = omega_prime_parametrization
        self._omega_map = OmegaPrimeParametrization(
            omega_prime_parametrization, self.omega_prime_lr_factor,
            self.max_omega_prime,
        )
        self._omega_map.check_start(
            {d: self.omega_prime[self.absolute_dims.index(d)] for d in learned},
            f"omega_prime={omega_prime!r}",
        )
        # lambda of lambda * ||omega'||^2.
        self.omega_prime_penalty = non_negative_float(
            omega_prime_penalty, "omega_prime_penalty"
        )
        if self.omega_prime_penalty and not learned:
            raise ValueError(
                "`omega_prime_penalty` only acts on learned frequencies: set "
                "`learn_omega_prime=True` (or a list of dimensions)."
            )
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(
                f"`num_features` must be a positive integer. Received: {num_features!r}"
            )
        self.num_features = num_features
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise ValueError(
                f"`chunk_size` must be a positive integer or None. Received: {chunk_size!r}"
            )
        self.chunk_size = chunk_size

    @property
    def coordinate_dim(self):
        return 4 * self.num_features

    @property
    def uses_position_path(self):
        """True when the kernel depends on the absolute position."""
        fixed = dict(zip(self.absolute_dims, self.omega_prime))
        return any(
            d in self.learn_omega_prime or fixed[d] != 0.0 for d in ("x", "y")
        )

    def build_distribution(self):
        seed = self.seed if self.seed is not None else None
        self.rff_filter = self.add_weight(
            autocast=False,  # float32 geometry under mixed precision
            name="rff_filter",
            shape=(self.num_features, len(self.relative_dims)),
            initializer=initializer_for(keras.initializers.RandomNormal(seed=seed)),
            trainable=False,
        )
        self.rff_domain = self.add_weight(
            autocast=False,  # float32 geometry under mixed precision
            name="rff_domain",
            shape=(self.num_features, len(self.absolute_dims)),
            initializer=initializer_for(keras.initializers.RandomNormal(
                seed=None if seed is None else seed + 1
            )),
            trainable=False,
        )
        if self.learn_omega_prime:
            initial = [
                self._omega_map.to_weight(
                    self.omega_prime[self.absolute_dims.index(d)])
                for d in self.learn_omega_prime
            ]
            self.omega_prime_variable = self.add_weight(
                autocast=False,  # float32 geometry under mixed precision
                name="omega_prime",
                shape=(len(initial),),
                initializer=keras.initializers.Constant(initial),
                regularizer=self._omega_map.penalty(self.omega_prime_penalty),
                constraint=self._omega_map.constraint(),
            )
        else:
            self.omega_prime_variable = None

    def omega_prime_vector(self):
        """``omega'`` per dimension as a tensor (learned entries included)."""
        if self.omega_prime_variable is None:
            return float_vector(self.omega_prime)
        learned = self._omega_map.value(self.omega_prime_variable)
        entries = []
        for index, dim in enumerate(self.absolute_dims):
            if dim in self.learn_omega_prime:
                entries.append(learned[self.learn_omega_prime.index(dim)])
            else:
                entries.append(ops.convert_to_tensor(
                    float(self.omega_prime[index]), dtype=learned.dtype))
        return ops.stack(entries)

    # ------------------------------------------------------------------
    def relative_coordinates(self, out_elements, in_elements):
        """``[N_out, k, k, N_in, d_rel]`` (``N_in = 1`` for lifting)."""
        grid = kernels_lib.kernel_grid(self.kernel_size[0])
        angle, mirror, _ = element_transform(out_elements)
        spatial = inverse_act(angle, mirror, grid)[:, :, :, None, :]
        if self.lifting:
            return spatial
        in_angle, _, _ = element_transform(in_elements)
        delta = principal_angle(in_angle[None, :] - angle[:, None])
        n_out, k, n_in = spatial.shape[0], self.kernel_size[0], delta.shape[1]
        spatial = ops.broadcast_to(spatial, (n_out, k, k, n_in, 2))
        delta = ops.broadcast_to(delta[:, None, None, :, None], (n_out, k, k, n_in, 1))
        return ops.concatenate([spatial, delta], axis=-1)

    def absolute_coordinates(self, positions, in_elements):
        """``[S, 1, k, k, N_in, d_abs]`` from positions ``[S, k, k, 2]``."""
        xy = positions[:, None, :, :, None, :]
        if self.lifting:
            return xy
        in_angle, _, _ = element_transform(in_elements)
        theta = principal_angle(in_angle)
        s, k, n_in = positions.shape[0], self.kernel_size[0], theta.shape[0]
        xy = ops.broadcast_to(xy, (s, 1, k, k, n_in, 2))
        theta = ops.broadcast_to(
            ops.reshape(theta, (1, 1, 1, 1, -1, 1)), (s, 1, k, k, n_in, 1)
        )
        return ops.concatenate([xy, theta], axis=-1)

    def kernels_at(self, positions, out_elements, in_elements):
        """Folded kernels ``[S, k, k, N_in * C_in, N_out * F]`` at ``S``
        output positions (``[S, k, k, 2]`` absolute tap positions)."""
        rel = fourier_features(
            self.relative_coordinates(out_elements, in_elements),
            self.rff_filter,
            float_vector(self.omega),
        )
        absolute = fourier_features(
            self.absolute_coordinates(positions, in_elements),
            self.rff_domain,
            self.omega_prime_vector(),
        )
        shape = (positions.shape[0],) + tuple(rel.shape)
        features = ops.concatenate(
            [ops.broadcast_to(rel[None], shape), ops.broadcast_to(absolute, shape)],
            axis=-1,
        )
        return self.fold_kernel(self.kernel_network(features), in_elements)

    def conv_kernel(self, out_elements, in_elements=None):
        """Stationary kernel (valid when the translation part of ``omega'``
        is zero: the position then does not matter)."""
        k = self.kernel_size[0]
        origin = ops.zeros((1, k, k, 2), "float32")
        kernel = self.kernels_at(origin, out_elements, in_elements)[0]
        if self.normalize_kernel:
            kernel = kernel * self.kernel_scale(ops.mean(ops.square(kernel)), kernel.shape)
        return kernel

    def kernel_scale(self, mean_square, kernel_shape):
        """One scalar that gives the generated kernels a fan-in variance of
        1: ``1 / sqrt(mean(K^2) * k * k * C_in_total)``."""
        fan_in = kernel_shape[-4] * kernel_shape[-3] * kernel_shape[-2]
        return ops.rsqrt(mean_square * fan_in + 1e-12)

    # ------------------------------------------------------------------
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
        if keras.backend.backend() != "jax":
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

    def convolve(self, features, out_elements, in_elements=None, training=None):
        if not self.uses_position_path:
            return super().convolve(
                features, out_elements, in_elements, training=training
            )
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

    def equivariance_summary(self):
        omega_prime = ops.convert_to_numpy(self.omega_prime_vector())
        return {
            **self.group.full_equivariance_summary(),
            "omega": list(self.omega),
            "omega_prime": [float(v) for v in np.asarray(omega_prime).reshape(-1)],
            "omega_prime_dims": list(self.absolute_dims),
        }

    def soft_config(self):
        return {
            "omega": self.omega,
            "omega_prime": self.omega_prime,
            "learn_omega_prime": self.learn_omega_prime,
            "omega_prime_penalty": self.omega_prime_penalty,
            "num_features": self.num_features,
            "chunk_size": self.chunk_size,
            "max_omega_prime": self.max_omega_prime,
            "omega_prime_lr_factor": self.omega_prime_lr_factor,
            "omega_prime_parametrization": self.omega_prime_parametrization,
            "normalize_kernel": self.normalize_kernel,
            "rematerialize": self.rematerialize,
        }


def _se2_group(group, name):
    group = groups_lib.get(group)
    if not isinstance(group, groups_lib.SE2):
        raise ValueError(
            f"{name} supports the rotation group `SE2(num_elements=N)` "
            f"(soft E(2) is not implemented). Received: group={group!r}"
        )
    return group


_SOFT_DEFAULTS = dict(
    omega=1.0,
    omega_prime=0.0,
    learn_omega_prime=False,
    omega_prime_penalty=0.0,
    num_features=32,
    chunk_size=None,
    max_omega_prime=100.0,
    omega_prime_lr_factor=1.0,
    omega_prime_parametrization="softplus",
    normalize_kernel=True,
    rematerialize=True,
)


def _pop_soft(kwargs):
    return {key: kwargs.pop(key, value) for key, value in _SOFT_DEFAULTS.items()}


def _default_network(kwargs):
    kwargs.setdefault("kernel_network", kernels_lib.MLPKernel(32, 3, "relu"))
    kwargs.setdefault("mask", False)
    return kwargs


@keras.saving.register_keras_serializable(package="relaxed_keras")
class NonStationaryLiftingConv2D(NonStationaryMixin, BaseContinuousGroupConv):
    """Soft lifting convolution ``R^2 -> SE(2)`` (Eq. 2 with ``v`` in R^2).

    Relative element: the tap ``u^-1 y`` (2-D); absolute element: the input
    position ``(x_v, y_v)``, so ``omega'`` has the dimensions ``x, y``. See
    the module docstring; the kernel network (default a 3-layer ReLU
    `MLPKernel` of width 32) maps ``4 D`` Fourier features to the kernel.

    Args:
        filters, kernel_size, group: as `ContinuousLiftingConv2D`
            (``group=SE2(num_elements=N)``).
        omega, omega_prime, learn_omega_prime, omega_prime_penalty,
        num_features, chunk_size, rematerialize, max_omega_prime: see
            `NonStationaryMixin`.
        **kwargs: `BaseContinuousGroupConv` arguments.

    Example:

    >>> layer = NonStationaryLiftingConv2D(8, 3, group="se2_4", omega_prime=0.5)
    >>> features, elements = layer(np.zeros((2, 16, 16, 1), "float32"))
    >>> tuple(features.shape)
    (2, 14, 14, 4, 8)
    """

    lifting = True
    relative_dims = ("x", "y")
    absolute_dims = ("x", "y")


@keras.saving.register_keras_serializable(package="relaxed_keras")
class NonStationaryGroupConv2D(NonStationaryMixin, ContinuousGroupConv2D):
    """Soft SE(2) group convolution ``[features, elements] -> (features,
    elements)``.

    Relative element ``u^-1 v = (u^-1 y, theta_v - theta_u)``, absolute
    element ``v = (x_v, y_v, theta_v)``: ``omega'`` has the dimensions
    ``x, y, theta``, so rotations (``theta``) and translations (``x, y``)
    relax separately.

    Example:

    >>> lift = NonStationaryLiftingConv2D(4, 3, group="se2_4")
    >>> gconv = NonStationaryGroupConv2D(4, 3, group="se2_4",
    ...                                  omega_prime=[0.0, 0.0, 1.0])
    >>> x, g = gconv(lift(np.zeros((2, 16, 16, 1), "float32")))
    """

    relative_dims = ("x", "y", "theta")
    absolute_dims = ("x", "y", "theta")


@keras.saving.register_keras_serializable(package="relaxed_keras")
class NonStationaryConv2D(NonStationaryLiftingConv2D):
    """Soft translation-equivariant convolution on T(2):
    ``[B, H, W, C] -> [B, H', W', filters]``.

    ``omega' = 0`` is an ordinary (continuous-kernel) convolution;
    ``omega' > 0`` lets the filter depend on the absolute position.
    Implemented as the soft lifting onto the trivial rotation group.

    Example:

    >>> layer = NonStationaryConv2D(8, 3, omega_prime=1.0, padding="same")
    >>> tuple(layer(np.zeros((2, 16, 16, 3), "float32")).shape)
    (2, 16, 16, 8)
    """

    def __init__(self, filters, kernel_size, **kwargs):
        group = kwargs.pop("group", None)
        if group is not None:
            raise ValueError(
                "NonStationaryConv2D is the translation (T(2)) layer and takes "
                "no `group`; for a rotation group use "
                "NonStationaryLiftingConv2D / NonStationaryGroupConv2D. "
                f"Received: group={group!r}"
            )
        if kwargs.pop("sample_offset", False):
            raise ValueError(
                "NonStationaryConv2D has no rotation grid to offset: "
                "`sample_offset` must be False."
            )
        kwargs["sample_offset"] = False
        super().__init__(filters, kernel_size, groups_lib.SE2(1), **kwargs)

    def call(self, inputs, training=None):
        features, _ = super().call(inputs, training=training)
        return features[:, :, :, 0, :]

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)[0]
        return shape[:3] + (shape[4],)

    def equivariance_summary(self):
        return {**super().equivariance_summary(), "group": "T(2)"}

    def get_config(self):
        config = super().get_config()
        config.pop("group", None)
        config.pop("sample_offset", None)
        return config

