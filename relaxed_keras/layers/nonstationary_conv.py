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
  per group element). Otherwise every output position has its own kernel
  (`relaxed_keras.layers.position_path`: chunked patches and an einsum).
* Argument checks and defaults: `relaxed_keras.layers.soft_arguments`.
"""

import keras
import numpy as np
from keras import ops

from relaxed_keras import groups as groups_lib
from relaxed_keras.initialization import initializer_for
from relaxed_keras.kernels import continuous as kernels_lib
from relaxed_keras.kernels.fourier import fourier_features
from relaxed_keras.kernels.fourier import principal_angle
from relaxed_keras.layers.continuous_conv import BaseContinuousGroupConv
from relaxed_keras.layers.continuous_conv import ContinuousGroupConv2D
from relaxed_keras.layers.continuous_elements import element_transform
from relaxed_keras.layers.continuous_elements import inverse_act
from relaxed_keras.layers.constants import float_vector
from relaxed_keras.layers.position_path import PositionDependentConvolution
from relaxed_keras.layers.soft_arguments import SoftArguments
from relaxed_keras.layers.soft_arguments import pop_soft_arguments


class NonStationaryMixin(SoftArguments, PositionDependentConvolution):
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
        soft = pop_soft_arguments(kwargs)
        group = _se2_group(group, type(self).__name__)
        super().__init__(filters, kernel_size, group, **_default_network(kwargs))
        self._init_soft(**soft)

    def get_config(self):
        return {**super().get_config(), **self.soft_config()}

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

    def convolve(self, features, out_elements, in_elements=None, training=None):
        if not self.uses_position_path:
            return super().convolve(
                features, out_elements, in_elements, training=training
            )
        return self.convolve_at_positions(
            features, out_elements, in_elements, training=training
        )

    def equivariance_summary(self):
        omega_prime = ops.convert_to_numpy(self.omega_prime_vector())
        return {
            **self.group.full_equivariance_summary(),
            "omega": list(self.omega),
            "omega_prime": [float(v) for v in np.asarray(omega_prime).reshape(-1)],
            "omega_prime_dims": list(self.absolute_dims),
        }

def _se2_group(group, name):
    group = groups_lib.get(group)
    if not isinstance(group, groups_lib.SE2):
        raise ValueError(
            f"{name} supports the rotation group `SE2(num_elements=N)` "
            f"(soft E(2) is not implemented). Received: group={group!r}"
        )
    return group


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

