"""The residual network of the Partial G-CNN and soft-equivariance papers."""

import keras

from relaxed_keras.layers.activation import ReLU
from relaxed_keras.models.base import ZooModel
from relaxed_keras.models.blocks import DISCRETE_MODES
from relaxed_keras.models.blocks import ModelSpec
from relaxed_keras.models.blocks import batch_norm
from relaxed_keras.models.blocks import dropout_layer
from relaxed_keras.models.registry import register_architecture


def apply_ck_block(x, spec, filters, kernel_size, dropout, pool, name):
    """conv -> LN -> ReLU -> dropout -> conv -> LN -> ReLU, + shortcut,
    BN, optional 2x2 max-pool, ReLU (``CKResBlock`` of the reference)."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = spec.conv(filters, 1, use_bias=False, name=f"{name}_shortcut")(x)
    y = spec.conv(filters, kernel_size, padding="same", name=f"{name}_conv1")(x)
    y = spec.layer_norm(name=f"{name}_ln1")(y)
    y = ReLU(name=f"{name}_relu1")(y)
    y = dropout_layer(dropout, name=f"{name}_dropout")(y)
    y = spec.conv(filters, kernel_size, padding="same", name=f"{name}_conv2")(y)
    y = spec.layer_norm(name=f"{name}_ln2")(y)
    y = ReLU(name=f"{name}_relu2")(y)
    x = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    x = batch_norm(name=f"{name}_bn")(x)
    if pool:
        x = spec.max_pool(2, name=f"{name}_pool")(x)
    return ReLU(name=f"{name}_relu")(x)


@register_architecture(
    "resnet_ck",
    "Residual network of the Partial G-CNN / soft-equivariance papers "
    "(CKResNet): layer-normalised residual blocks, 'valid' final group conv, "
    "global max pooling",
)
@keras.saving.register_keras_serializable(package="relaxed_keras")
class ResNetCK(ZooModel):
    """CKResNet of ``merlresearch/partial_gcnn`` with discrete kernels.

    Stem: lifting conv -> BN -> (2x2 max-pool if 0 in ``pool_blocks``) ->
    ReLU. Each block: conv -> layer norm over (space, group) without affine
    terms -> ReLU -> dropout -> conv -> layer norm -> ReLU, added to the
    shortcut (a pointwise 1x1 group convolution when the width changes),
    then BN, a 2x2 max-pool if the block is in ``pool_blocks``, ReLU.
    Then a "valid" group convolution as large as the remaining map -> BN ->
    ReLU, global max pooling over space and group, and a dense head.

    "2 residual blocks of 32 channels" is ``width=32`` with the reference's
    block width factors [1, 2]: block 1 has 32 channels, block 2 and the
    final convolution 64. ``pool_blocks=(0, 1)`` fits 28x28 inputs (28 -> 14
    -> 7, then a 7x7 valid convolution), ``(1, 2)`` fits 32x32 CIFAR.

    The reference parameterises kernels with SIREN/MAGNet networks (the
    "partial" and "soft" modes, when implemented); here the strict and
    relaxed modes use discrete ``kernel_size`` kernels (5 by default to keep
    the discrete version small). Widths are per group element and are not
    divided by ``sqrt(|G|)``, as in the reference.

    Args:
        input_shape, num_classes, equivariance, group, num_filter_banks,
        alpha: as for every zoo model.
        width: channels of the first block; every later block has
            ``2 * width``.
        num_blocks: residual blocks (widths ``[width, 2 * width, 2 *
            width, ...]``).
        kernel_size: kernel size of the block convolutions.
        dropout: dropout rate inside the blocks.
        pool_blocks: after which stages (0 = stem) to max-pool.
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        equivariance="strict",
        group="p4",
        width=32,
        num_blocks=2,
        kernel_size=5,
        dropout=0.1,
        pool_blocks=(0, 1),
        num_filter_banks=3,
        alpha=1e-4,
        **kwargs,
    ):
        spec = ModelSpec("resnet_ck", equivariance, group, num_filter_banks, alpha, modes=DISCRETE_MODES)
        widths = [width] + [2 * width] * (num_blocks - 1)

        # === Functional model ===
        inputs, x = self._model_input(input_shape, kwargs)
        x = spec.conv(width, kernel_size, lifting=True, padding="same",
                      name="stem_conv")(x)
        x = batch_norm(name="stem_bn")(x)
        if 0 in pool_blocks:
            x = spec.max_pool(2, name="stem_pool")(x)
        x = ReLU(name="stem_relu")(x)
        for index, filters in enumerate(widths, start=1):
            x = apply_ck_block(x, spec, filters, kernel_size, dropout,
                               index in pool_blocks, name=f"block{index}")
        final_size = x.shape[1]
        x = spec.conv(widths[-1], final_size, padding="valid", name="final_conv")(x)
        x = batch_norm(name="final_bn")(x)
        x = ReLU(name="final_relu")(x)
        x = spec.global_pool(x, spatial="max", group="max")
        # === Head and config ===
        self._finish_classifier(
            inputs, x, spec, kwargs,
            input_shape=input_shape,
            num_classes=num_classes,
            width=width,
            num_blocks=num_blocks,
            kernel_size=kernel_size,
            dropout=dropout,
            pool_blocks=tuple(pool_blocks),
        )
