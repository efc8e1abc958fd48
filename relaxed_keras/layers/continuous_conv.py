"""Continuous-kernel group convolutions on SE(2)/E(2) (the shared engine).

Romero & Lohit (2022), Sec. 2 (Eq. 3, 4) and Sec. 3.5; Finzi et al. (2020):
the kernel ``psi`` is a small network (`relaxed_keras.kernels.SIREN` by
default) evaluated at the relative group elements ``u^-1 v`` that a layer
needs, so the layer can use *any* sampled rotations. One network evaluation
produces the kernels of all ``N`` output elements, which are folded into a
single ``keras.ops.conv`` call per layer.

Feature maps keep the library layout ``[B, H, W, N, C]``. The sampled group
elements travel next to them as an elements tensor ``[N, 3]`` (angle, mirror
bit, Monte Carlo weight; see `relaxed_keras.groups.continuous`): a lifting
layer maps ``images -> (features, elements)`` and a group convolution maps
``[features, elements] -> (features, elements)``. With the fixed grid
(inference, or ``sample_offset=False``) and ``N`` rotations dividing 4 the
layers are exactly equivariant to the grid rotations (and mirrors).

Choices where the paper is silent (reference code: ``merlresearch/
partial_gcnn``, see the docstrings below):

* The relative angle enters the kernel network as ``(cos, sin)``, a periodic
  embedding, where the reference feeds ``angle / pi - 1``; that kernel is
  discontinuous at ``+-pi`` and the embedding removes the wrap-around.
* Eq. 4's measure: the lifting sums over space (``mu = 1``), the group
  convolution averages over the *active* input elements
  (``mu(v_j) = w_j / sum_j w_j``), so switched-off elements (weight 0) do not
  count.
"""

import keras
from keras import activations
from keras import initializers
from keras import ops

from relaxed_keras import groups as groups_lib
from relaxed_keras.arguments import boolean
from relaxed_keras.initialization import initializer_for
from relaxed_keras.kernels import continuous as kernels_lib
from relaxed_keras.layers import padding as padding_lib
from relaxed_keras.layers.continuous_elements import check_float32_variables
from relaxed_keras.layers.continuous_elements import continuous_group
from relaxed_keras.layers.continuous_elements import element_transform
from relaxed_keras.layers.continuous_elements import inverse_act
from relaxed_keras.layers.continuous_elements import relative_elements
from relaxed_keras.layers.continuous_elements import standardize_inputs
from relaxed_keras.layers.spatial import SpatialSamplingMixin
from relaxed_keras.layers.spatial import channels_last_op
from relaxed_keras.layers.spatial import check_built_features
from relaxed_keras.layers.spatial import check_quarter_turn_pairs
from relaxed_keras.layers.spatial import standardize_pair
from relaxed_keras.layers.spatial import to_group_layout
from relaxed_keras.layers.spatial import validate_group_features


class BaseContinuousGroupConv(SpatialSamplingMixin, keras.layers.Layer):
    """Shared engine of the continuous lifting and group convolutions.

    Args:
        filters: output channels per group element.
        kernel_size: int: a square ``k x k`` tap grid on ``[-1, 1]^2``
            (odd sizes have a centre tap; even ones, e.g. the P4CNN's 4x4
            top layer, are symmetric too, so quarter turns stay exact).
        group: `SE2` or `E2` (or ``"se2_<N>"``/``"e2_<N>"``).
        kernel_network: template `SIREN` (default: ``SIREN(32, 3,
            omega_0=10)``) or `MLPKernel`, or ``"siren"``/``"mlp"``.
        strides, padding, dilation_rate: as the strict layers (explicit
            padding, then one "valid" convolution).
        activation: applied to the output.
        use_bias: one bias per filter shared over the group axis.
        mask: zero the kernel outside the unit disc (reference behaviour).
        sample_offset: draw a random rotation offset in training (Eq. 4);
            ``False`` uses the fixed grid in training too.
        seed: seed of the layer's `keras.random.SeedGenerator`.
    """

    lifting = False

    def __init__(
        self,
        filters,
        kernel_size,
        group="se2_8",
        kernel_network=None,
        strides=1,
        padding="valid",
        dilation_rate=1,
        activation=None,
        use_bias=True,
        mask=True,
        sample_offset=True,
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise ValueError(
                f"`filters` must be a positive integer. Received: filters={filters!r}"
            )
        self.filters = filters
        self.group = continuous_group(group, type(self).__name__)
        self.kernel_size = standardize_pair(kernel_size, "kernel_size")
        if self.kernel_size[0] != self.kernel_size[1]:
            raise ValueError(
                "`kernel_size` of a continuous kernel must be one integer "
                f"(a square k x k grid on [-1, 1]^2). Received: "
                f"kernel_size={kernel_size!r}"
            )
        self.strides = standardize_pair(strides, "strides")
        self.dilation_rate = standardize_pair(dilation_rate, "dilation_rate")
        check_quarter_turn_pairs(
            type(self).__name__, self.group, strides=self.strides,
            dilation_rate=self.dilation_rate,
        )
        self.padding = padding_lib.standardize_padding(padding)
        # Kept out of Keras's (and torch's) attribute tracking: an unbuilt
        # template must not become a sublayer (the built copy is
        # `self.kernel_network`). Not kept as its config either: Keras's
        # `get_config`/`serialize_keras_object` import TensorFlow when it is
        # installed (3.4 s under JAX or torch), which only saving should pay.
        object.__setattr__(
            self, "_kernel_network_template", kernels_lib.get(kernel_network)
        )
        self.activation = activations.get(activation)
        self.use_bias = boolean(use_bias, "use_bias")
        self.mask = boolean(mask, "mask")
        self.sample_offset = boolean(sample_offset, "sample_offset")
        self.bias_initializer = initializers.get(bias_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        check_float32_variables(self)
        # Keras would cast every float input to the compute dtype, the
        # group elements too; `__call__` casts the features only.
        self._convert_input_args = False

    def __call__(self, inputs, *args, **kwargs):
        inputs = standardize_inputs(self, inputs)
        if self.built:
            # What `input_spec` does for the discrete layers (list inputs).
            shape = getattr(self._split_inputs(inputs)[0], "shape", None)
            if shape is not None:
                check_built_features(type(self).__name__, tuple(shape),
                                     self.lifting, self.group, self.in_channels)
        return super().__call__(inputs, *args, **kwargs)

    # ------------------------------------------------------------------
    @property
    def kernel_network_template(self):
        return self._kernel_network_template

    @property
    def coordinate_dim(self):
        """Input size of the kernel network."""
        if self.lifting:
            return 2
        return 5 if self.group.mirror else 4

    def _kernel_network_hidden_units(self):
        return None

    def _split_inputs(self, inputs):
        return inputs, None, None

    def _validate_features_shape(self, shape):
        return validate_group_features(
            type(self).__name__, shape, self.lifting, self.group
        )

    def build(self, input_shape):
        features_shape = self._split_inputs(input_shape)[0]
        in_channels = self._validate_features_shape(features_shape)
        self.in_channels = in_channels
        # The kernel network always runs in float32 (its own policy), so
        # mixed precision lowers only the convolution, not the geometry.
        self.kernel_network = self.kernel_network_template.for_output(
            in_channels * self.filters,
            hidden_units=self._kernel_network_hidden_units(),
            name="kernel_network",
            dtype="float32",
        )
        self.kernel_network.build((None, self.coordinate_dim))
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,),
                initializer=initializer_for(self.bias_initializer),
            )
        else:
            self.bias = None
        self.build_distribution()
        self.compute_output_shape(input_shape)

    def build_distribution(self):
        """Hook for learned sampling distributions (`PartialGroupConv2D`)."""

    # ------------------------------------------------------------------
    def kernel_coordinates(self, out_elements, in_elements=None):
        """Kernel-network inputs ``[N_out, k, k, (N_in,) D]``."""
        grid = kernels_lib.kernel_grid(self.kernel_size[0])
        angle, mirror, _ = element_transform(out_elements)
        spatial = inverse_act(angle, mirror, grid)  # [N_out, k, k, 2]
        if self.lifting:
            return spatial
        cos, sin, rel_mirror = relative_elements(out_elements, in_elements)
        group_coords = [cos, sin] + ([rel_mirror] if self.group.mirror else [])
        group_coords = ops.stack(group_coords, axis=-1)  # [N_out, N_in, Dg]
        n_out, k = spatial.shape[0], self.kernel_size[0]
        n_in = group_coords.shape[1]
        spatial = ops.broadcast_to(spatial[:, :, :, None, :], (n_out, k, k, n_in, 2))
        group_coords = ops.broadcast_to(
            group_coords[:, None, None, :, :],
            (n_out, k, k, n_in, group_coords.shape[-1]),
        )
        return ops.concatenate([spatial, group_coords], axis=-1)

    def conv_kernel(self, out_elements, in_elements=None):
        """The folded ``[k, k, N_in * C_in, N_out * filters]`` kernel."""
        values = self.kernel_network(self.kernel_coordinates(out_elements, in_elements))
        return self.fold_kernel(values[None], in_elements)[0]

    def fold_kernel(self, values, in_elements=None):
        """Network outputs -> convolution kernels, for ``S`` positions.

        Args:
            values: ``[S, N_out, k, k, (N_in,) C_in * filters]``.
            in_elements: input elements (their weights give the measure).

        Returns:
            ``[S, k, k, N_in * C_in, N_out * filters]``: disc mask and the
            Monte Carlo measure applied.
        """
        k, cin, f = self.kernel_size[0], self.in_channels, self.filters
        positions, n_out = values.shape[0], values.shape[1]
        n_in = 1 if self.lifting else values.shape[4]
        values = ops.reshape(values, (positions, n_out, k, k, n_in, cin, f))
        if not self.lifting:
            _, _, weight = element_transform(in_elements)
            measure = weight / ops.sum(weight)
            values = values * ops.reshape(measure, (1, 1, 1, 1, -1, 1, 1))
        if self.mask:
            mask = kernels_lib.disc_mask(k)
            values = values * ops.reshape(mask, (1, 1, k, k, 1, 1, 1))
        values = ops.transpose(values, (0, 2, 3, 4, 5, 1, 6))
        return ops.reshape(values, (positions, k, k, n_in * cin, n_out * f))

    def output_elements(self, in_elements, training):
        """The output domain of this call (subclasses choose)."""
        return self.group.sample_elements(
            self.seed_generator, bool(training) and self.sample_offset
        )

    def convolve(self, features, out_elements, in_elements=None, training=None):
        """Features on the input domain -> features on ``out_elements``."""
        x = self.fold_group_axis(features)
        x, conv_padding = self._pad_for_conv(x, (x.shape[1], x.shape[2]))
        y = channels_last_op(
            ops.conv,
            x,
            ops.cast(self.conv_kernel(out_elements, in_elements), x.dtype),
            strides=self.strides,
            padding=conv_padding,
            dilation_rate=self.dilation_rate,
        )
        return self.finish(y, out_elements, training=training)

    def fold_group_axis(self, features):
        if self.lifting:
            return features
        shape = ops.shape(features)
        return ops.reshape(
            features, (shape[0], shape[1], shape[2], shape[3] * shape[4])
        )

    def finish(self, y, out_elements, training=None):
        """``[B, H, W, N * F]`` -> group layout, bias, activation, masking."""
        y = to_group_layout(
            y, self.bias, self.group.size, self.filters, training=training
        )
        if self.activation is not None:
            y = self.activation(y)
        _, _, weight = element_transform(out_elements)
        return y * ops.cast(ops.reshape(weight, (1, 1, 1, -1, 1)), y.dtype)

    def call(self, inputs, training=None):
        features, in_elements, given = self._split_inputs(inputs)
        out_elements = (
            ops.convert_to_tensor(given, dtype="float32")
            if given is not None
            else self.output_elements(in_elements, training)
        )
        outputs = self.convolve(features, out_elements, in_elements, training=training)
        return outputs, out_elements

    def equivariance_summary(self):
        """Row of `relaxed_keras.diagnostics.learned_equivariance`."""
        return self.group.full_equivariance_summary()

    def compute_output_shape(self, input_shape):
        features_shape = self._split_inputs(input_shape)[0]
        height, width = self._output_spatial_shape(features_shape[1:3])
        return (
            (features_shape[0], height, width, self.group.size, self.filters),
            (self.group.size, 3),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size[0],
                "group": groups_lib.serialize(self.group),
                "kernel_network": keras.saving.serialize_keras_object(
                    self.kernel_network_template
                ),
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "mask": self.mask,
                "sample_offset": self.sample_offset,
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="relaxed_keras")
class ContinuousLiftingConv2D(BaseContinuousGroupConv):
    """Lifting convolution with a continuous kernel (Eq. 3).

    ``images [B, H, W, C] -> (features [B, H', W', N, filters], elements
    [N, 3])``. Output element ``u`` correlates the input with
    ``psi(u^-1 y)``: the kernel network evaluated on the tap grid
    transformed by ``u^-1``. Lifting is always to the whole sampled group
    (as in the reference code): it is exactly equivariant on the grid.

    Example:

    >>> layer = ContinuousLiftingConv2D(8, 5, group=SE2(num_elements=4))
    >>> features, elements = layer(np.zeros((2, 28, 28, 1), "float32"))
    >>> tuple(features.shape), tuple(elements.shape)
    ((2, 24, 24, 4, 8), (4, 3))
    """

    lifting = True


@keras.saving.register_keras_serializable(package="relaxed_keras")
class ContinuousGroupConv2D(BaseContinuousGroupConv):
    """Group convolution with a continuous kernel (Eq. 2, 4).

    ``[features, elements] -> (features, out_elements)``; the kernel of
    output element ``u`` and input element ``v`` at tap ``y`` is
    ``psi(u^-1 y, u^-1 v)``. The input's elements (from the previous layer)
    define the input domain; a third entry, ``[features, elements,
    output_elements]``, fixes the output domain (residual shortcuts use it
    to land on the main path's elements).

    Args:
        resample: draw a fresh output domain (a new offset) in this layer.
            ``False`` (default, the reference's ``sample_per_layer=False``)
            keeps the input's elements.
        **kwargs: see `BaseContinuousGroupConv`.

    Example:

    >>> lift = ContinuousLiftingConv2D(8, 5, group="se2_4")
    >>> gconv = ContinuousGroupConv2D(8, 5, group="se2_4")
    >>> features, elements = gconv(lift(np.zeros((2, 28, 28, 1), "float32")))
    >>> tuple(features.shape)
    (2, 20, 20, 4, 8)
    """

    def __init__(self, filters, kernel_size, group="se2_8", resample=False, **kwargs):
        super().__init__(filters, kernel_size, group, **kwargs)
        self.resample = boolean(resample, "resample")

    def _split_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                f"{type(self).__name__} expects `[features, elements]` (or "
                "`[features, elements, output_elements]`) as returned by the "
                "previous continuous layer, e.g. `x, g = lift(images); "
                f"x, g = gconv([x, g])`. Received: {inputs!r}"
            )
        for shape in inputs[1:]:
            shape = tuple(getattr(shape, "shape", shape))
            if shape != (self.group.size, 3):
                raise ValueError(
                    f"{type(self).__name__}: an elements tensor of {self.group!r} "
                    f"has shape ({self.group.size}, 3). Received: {shape}"
                )
        given = inputs[2] if len(inputs) == 3 else None
        return inputs[0], inputs[1], given

    def output_elements(self, in_elements, training):
        if self.resample:
            return super().output_elements(in_elements, training)
        return ops.convert_to_tensor(in_elements, dtype="float32")

    def get_config(self):
        return {**super().get_config(), "resample": self.resample}


@keras.saving.register_keras_serializable(package="relaxed_keras")
class PointwiseGroupConv2D(ContinuousGroupConv2D):
    """1x1 (spatially pointwise) continuous group convolution.

    Mixes channels and group elements only, as the residual shortcuts of the
    reference CKResNet: no bias, a kernel network of half the template's
    hidden width. Call it with ``[features, elements, output_elements]`` to
    map onto another layer's output domain.
    """

    def __init__(self, filters, group="se2_8", use_bias=False, **kwargs):
        # `get_config` stores kernel_size (1, 1); any other size is an error.
        kernel_size = kwargs.pop("kernel_size", 1)
        if kernel_size not in (1, (1, 1), [1, 1]):
            raise ValueError(
                "PointwiseGroupConv2D is 1x1: `kernel_size` must be 1 (or "
                f"left out). Received: kernel_size={kernel_size!r}"
            )
        kwargs.setdefault("mask", False)
        super().__init__(filters, 1, group, use_bias=use_bias, **kwargs)

    def _kernel_network_hidden_units(self):
        return max(1, self.kernel_network_template.hidden_units // 2)
