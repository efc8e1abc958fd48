"""Shared machinery of the regular group convolutions."""

import keras
from keras import activations
from keras import constraints
from keras import initializers
from keras import ops
from keras import regularizers

from relaxed_keras import groups as groups_lib
from relaxed_keras.arguments import boolean
from relaxed_keras.initialization import initializer_for
from relaxed_keras.kernels import KernelTransform
from relaxed_keras.layers import padding as padding_lib
from relaxed_keras.layers.kernel_cache import KernelCacheMixin
from relaxed_keras.layers.spatial import SpatialSamplingMixin
from relaxed_keras.layers.spatial import as_floating
from relaxed_keras.layers.spatial import channels_last_op
from relaxed_keras.layers.spatial import check_quarter_turn_pairs
from relaxed_keras.layers.spatial import group_features_spec
from relaxed_keras.layers.spatial import standardize_pair
from relaxed_keras.layers.spatial import to_group_layout
from relaxed_keras.layers.spatial import validate_group_features


class BaseGroupConv(KernelCacheMixin, SpatialSamplingMixin, keras.layers.Layer):
    """Base class of `LiftingConv2D` and `GroupConv2D`.

    Subclasses set ``lifting`` and may override `_kernel_shape` and
    `compute_conv_kernel` (the relaxed layers mix several kernel banks
    there). The layer expands the base kernel into all ``|G|`` transformed
    copies with one gather (`KernelTransform`) and runs a single
    `keras.ops.conv` (padding as in `SpatialSamplingMixin._pad_for_conv`).
    The bias has one value per filter, shared over the group axis, so that
    it commutes with the group action. Inside
    `relaxed_keras.layers.cached_kernels` (which `ZooModel.predict` and
    `evaluate` use) the expanded kernel is computed once and cached; the
    cache is never a weight and never saved.

    Args:
        filters: number of output channels per group element.
        kernel_size: int or pair of ints (square kernels for rotations
            other than 180 degrees).
        group: a `CyclicGroup`/`DihedralGroup`, or a name such as ``"p4"``,
            ``"p4m"``.
        strides: int or pair of ints (equal pairs for rotations other
            than 180 degrees, as ``kernel_size`` and ``dilation_rate``).
        padding: ``"valid"``, ``"same"``, ``"valid_equiv"``,
            ``"same_equiv"`` or a non-negative int (see
            `relaxed_keras.layers.padding`).
        dilation_rate: int or pair of ints.
        activation: activation applied to the output.
        use_bias: whether to add a bias per filter.
        kernel_initializer, bias_initializer, kernel_regularizer,
        bias_regularizer, kernel_constraint, bias_constraint: as in
            `keras.layers.Conv2D`. The kernel fan-in is
            ``|G_in| * C_in * kh * kw``.
    """

    lifting = False

    def __init__(
        self,
        filters,
        kernel_size,
        group="p4",
        strides=1,
        padding="valid",
        dilation_rate=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(filters, bool) or not isinstance(filters, int):
            raise ValueError(
                "`filters` must be a positive integer. "
                f"Received: filters={filters!r}"
            )
        if filters <= 0:
            raise ValueError(
                f"`filters` must be a positive integer. Received: {filters}"
            )
        self.filters = filters
        self.group = groups_lib.get(group)
        self.kernel_size = standardize_pair(kernel_size, "kernel_size")
        self.strides = standardize_pair(strides, "strides")
        self.dilation_rate = standardize_pair(dilation_rate, "dilation_rate")
        self.padding = padding_lib.standardize_padding(padding)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "`strides > 1` together with `dilation_rate > 1` is not "
                "supported (as in keras.layers.Conv2D). Received: "
                f"strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        check_quarter_turn_pairs(
            type(self).__name__, self.group, kernel_size=self.kernel_size,
            strides=self.strides, dilation_rate=self.dilation_rate,
        )
        self.activation = activations.get(activation)
        self.use_bias = boolean(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.transform = KernelTransform(
            self.group, self.kernel_size, lifting=self.lifting
        )

    # ------------------------------------------------------------------
    @property
    def input_rank(self):
        return 4 if self.lifting else 5

    @property
    def group_in(self):
        return 1 if self.lifting else self.group.size

    def _kernel_shape(self, in_channels):
        return self.kernel_size + (self.group_in, in_channels, self.filters)

    def build(self, input_shape):
        in_channels = self._validate_input_shape(input_shape)
        self.input_spec = group_features_spec(self.lifting, self.group, in_channels)
        self.kernel = self.add_weight(
            name="kernel",
            shape=self._kernel_shape(in_channels),
            initializer=initializer_for(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=initializer_for(self.bias_initializer),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        # Validates the padding against the spatial size early.
        self.compute_output_shape(input_shape)
        kh, kw = self.kernel_size
        self._build_kernel_cache(
            (kh, kw, self.group_in * in_channels, self.group.size * self.filters)
        )

    def _validate_input_shape(self, input_shape):
        return validate_group_features(
            type(self).__name__, input_shape, self.lifting, self.group
        )

    # ------------------------------------------------------------------
    def compute_conv_kernel(self):
        """The folded ``[kh, kw, G_in * C_in, |G| * filters]`` kernel."""
        return self.transform(ops.convert_to_tensor(self.kernel))

    def call(self, inputs, training=None):
        # The kernel before any op on the inputs: with torch.compile, a
        # graph break here once left the input reshape alone in a graph, which
        # inductor (torch 2.13) failed to compile with dynamic shapes.
        kernel = self.conv_kernel()
        inputs = as_floating(inputs, self.compute_dtype)
        shape = ops.shape(inputs)
        x = inputs
        if not self.lifting:
            x = ops.reshape(
                x, (shape[0], shape[1], shape[2], shape[3] * shape[4])
            )
        x, conv_padding = self._pad_for_conv(x, (x.shape[1], x.shape[2]))
        y = channels_last_op(
            ops.conv,
            x,
            kernel,
            strides=self.strides,
            padding=conv_padding,
            dilation_rate=self.dilation_rate,
        )
        y = to_group_layout(
            y, self.bias, self.group.size, self.filters, training=training
        )
        return self.activation(y) if self.activation is not None else y

    def equivariance_summary(self):
        """Row of `relaxed_keras.diagnostics.learned_equivariance`."""
        return self.group.full_equivariance_summary()

    def compute_output_shape(self, input_shape):
        height, width = self._output_spatial_shape(input_shape[1:3])
        return (input_shape[0], height, width, self.group.size, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "group": groups_lib.serialize(self.group),
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": regularizers.serialize(
                    self.bias_regularizer
                ),
                "kernel_constraint": constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": constraints.serialize(self.bias_constraint),
            }
        )
        return config
