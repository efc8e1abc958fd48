"""Relaxed group convolutions (Wang, Walters & Yu 2022)."""

import keras
from keras import initializers
from keras import ops

from relaxed_keras.arguments import boolean
from relaxed_keras.arguments import non_negative_float
from relaxed_keras.initialization import initializer_for
from relaxed_keras.layers.base_group_conv import BaseGroupConv

WEIGHT_INDEXINGS = ("input", "output")


def _check_alpha_and_squared(alpha, squared):
    """``alpha`` as a float (finite, >= 0); ``squared`` a bool (a string
    such as "no" would read as True)."""
    boolean(squared, "squared")
    return non_negative_float(alpha, "alpha")


@keras.saving.register_keras_serializable(package="relaxed_keras")
class RelaxedWeightsRegularizer(keras.regularizers.Regularizer):
    """``alpha * sum_l sum_{g, h} |w_l(g) - w_l(h)|`` (Eq. 7).

    Penalises relaxed weights that differ between group elements; zero
    exactly when the layer is equivariant. Every ordered pair ``(g, h)`` is
    counted, as the sum in Eq. 7 is written. ``squared=True`` squares each
    difference instead (an L2 variant of Eq. 7, our option). The public
    reference code does neither: it sums ``alpha * mean |w(g) - w(g+1)|``
    (neighbouring elements) over the whole model into one number ``c`` and
    adds ``MSELoss(c, 0) = c^2``, the square of the model's total, quadratic
    in ``alpha``; a per-layer Keras loss cannot express that square.

    Args:
        alpha: strength (the anisotropic-noise study uses 1e-4).
        squared: square the differences instead of taking absolute values.
    """

    def __init__(self, alpha=1e-4, squared=False):
        self.alpha = _check_alpha_and_squared(alpha, squared)
        self.squared = squared

    def __call__(self, weights):
        diffs = weights[:, :, None] - weights[:, None, :]
        penalty = ops.square(diffs) if self.squared else ops.abs(diffs)
        return self.alpha * ops.sum(penalty)

    def get_config(self):
        return {"alpha": self.alpha, "squared": self.squared}


class BaseRelaxedGroupConv(BaseGroupConv):
    """Relaxed regular group convolution, Eq. 5-6 of "Relaxed Equivariance
    for Anisotropic Noise" (after Wang, Walters & Yu 2022):

        psi(g, h) = sum_l w_l(h) psi_l(g^-1 h),
        out(x, g) = sum_{y, h} in(x + y, h) psi(g, h) evaluated at g^-1 y.

    ``L = num_filter_banks`` base kernels ``psi_l`` are each expanded into
    their ``|G|`` transformed copies (one gather for all banks), weighted by
    the relaxed weights ``w_l`` and summed; the layer is then one
    `keras.ops.conv`, like the strict one.

    With every ``w_l`` constant over the group the layer is exactly the strict
    group convolution with kernel ``sum_l w_l psi_l``; the relaxed weights
    start equal (ones), so the layer starts exactly equivariant. Because the
    kernel initializer sees the bank axis in its fan, each bank starts with
    variance ``1/L`` of a strict kernel and their sum with a strict kernel's
    variance.

    Args:
        num_filter_banks: ``L``, the number of kernels mixed per layer.
        relaxed_weights_on: ``"input"`` - ``w_l(h)`` over the input element,
            as in Eq. 5 (default for group convolutions); ``"output"`` -
            ``w_l(g)`` over the output element, as the public reference code
            of Wang et al. does (the only option for lifting layers, whose
            input has no group axis).
        alpha: strength of `RelaxedWeightsRegularizer` (Eq. 7), added to the
            layer's losses; 0 disables it.
        squared: square each difference in the regulariser instead of
            taking its absolute value (see `RelaxedWeightsRegularizer`).
        relaxed_weights_initializer: initializer of ``w``, shape ``[L, |G|]``;
            any constant keeps the layer equivariant at initialisation.
        **kwargs: see `BaseGroupConv` (filters, kernel_size, group, strides,
            padding, ...). ``use_bias`` defaults to True like the strict
            layers; the bias is shared over the group.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        group="p4",
        num_filter_banks=3,
        relaxed_weights_on=None,
        alpha=1e-4,
        squared=False,
        relaxed_weights_initializer="ones",
        **kwargs,
    ):
        super().__init__(filters, kernel_size, group, **kwargs)
        if (
            isinstance(num_filter_banks, bool)
            or not isinstance(num_filter_banks, int)
            or num_filter_banks < 1
        ):
            raise ValueError(
                "`num_filter_banks` must be a positive integer. "
                f"Received: num_filter_banks={num_filter_banks!r}"
            )
        if relaxed_weights_on is None:
            relaxed_weights_on = "output" if self.lifting else "input"
        if relaxed_weights_on not in WEIGHT_INDEXINGS:
            raise ValueError(
                f"`relaxed_weights_on` must be one of {WEIGHT_INDEXINGS}. "
                f"Received: relaxed_weights_on={relaxed_weights_on!r}"
            )
        if self.lifting and relaxed_weights_on == "input":
            raise ValueError(
                "A lifting layer's input has no group axis: use "
                "relaxed_weights_on='output'."
            )
        self.num_filter_banks = num_filter_banks
        self.relaxed_weights_on = relaxed_weights_on
        self.alpha = _check_alpha_and_squared(alpha, squared)
        self.squared = squared
        self.relaxed_weights_initializer = initializers.get(
            relaxed_weights_initializer
        )

    def _kernel_shape(self, in_channels):
        return (self.num_filter_banks,) + super()._kernel_shape(in_channels)

    def build(self, input_shape):
        super().build(input_shape)
        regularizer = (
            RelaxedWeightsRegularizer(self.alpha, self.squared)
            if self.alpha > 0
            else None
        )
        self.relaxed_weights = self.add_weight(
            name="relaxed_weights",
            shape=(self.num_filter_banks, self.group.size),
            initializer=initializer_for(self.relaxed_weights_initializer),
            regularizer=regularizer,
        )

    def combined_kernel(self):
        """``[kh, kw, G_in, C_in, |G|, filters]``: sum of weighted banks."""
        banks = ops.convert_to_tensor(self.kernel)  # [L, kh, kw, G_in, C, F]
        num_banks, kh, kw, g_in, c_in, filters = banks.shape
        stacked = ops.reshape(
            ops.transpose(banks, (1, 2, 3, 4, 0, 5)),
            (kh, kw, g_in, c_in, num_banks * filters),
        )
        expanded = self.transform.expand(stacked)
        expanded = ops.reshape(
            expanded,
            (kh, kw, g_in, c_in, self.group.size, num_banks, filters),
        )
        weights = ops.convert_to_tensor(self.relaxed_weights)  # [L, |G|]
        if self.relaxed_weights_on == "input":
            return ops.einsum("abhcglf,lh->abhcgf", expanded, weights)
        return ops.einsum("abhcglf,lg->abhcgf", expanded, weights)

    def compute_conv_kernel(self):
        return self.transform.fold(self.combined_kernel())

    def equivariance_summary(self):
        """Row of `learned_equivariance`: the group and how far the relaxed
        weights moved from equal (``relaxed_weights_spread``: largest
        ``(max_g - min_g) / mean_g |w|`` over banks; 0 = exactly
        equivariant)."""
        weights = ops.convert_to_tensor(self.relaxed_weights)
        spread = (ops.max(weights, axis=1) - ops.min(weights, axis=1)) / (
            ops.mean(ops.abs(weights), axis=1) + 1e-12
        )
        return {
            **self.group.full_equivariance_summary(),
            "relaxed_weights_spread": ops.max(spread),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_filter_banks": self.num_filter_banks,
                "relaxed_weights_on": self.relaxed_weights_on,
                "alpha": self.alpha,
                "squared": self.squared,
                "relaxed_weights_initializer": initializers.serialize(
                    self.relaxed_weights_initializer
                ),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="relaxed_keras")
class RelaxedLiftingConv2D(BaseRelaxedGroupConv):
    """Relaxed lifting convolution ``[B, H, W, C] -> [B, H', W', |G|, F]``.

    Output element ``g`` uses ``sum_l w_l(g) T_g psi_l`` (the input has no
    group axis, so the weights index output elements, as in the reference
    code of Wang et al.). See `BaseRelaxedGroupConv`.

    Example:

    >>> import numpy as np
    >>> layer = RelaxedLiftingConv2D(6, 3, group="p4", num_filter_banks=3)
    >>> tuple(layer(np.zeros((2, 28, 28, 1), "float32")).shape)
    (2, 26, 26, 4, 6)
    """

    lifting = True


@keras.saving.register_keras_serializable(package="relaxed_keras")
class RelaxedGroupConv2D(BaseRelaxedGroupConv):
    """Relaxed group convolution ``[B, H, W, |G|, C] -> [B, H', W', |G|, F]``.

    See `BaseRelaxedGroupConv` for the formula and arguments.

    Example:

    >>> import numpy as np
    >>> layer = RelaxedGroupConv2D(6, 3, group="p4", padding="same")
    >>> tuple(layer(np.zeros((2, 28, 28, 4, 6), "float32")).shape)
    (2, 28, 28, 4, 6)
    """

    lifting = False
