"""The 13-layer CNN of Laine & Aila (2017) and its group versions."""

import keras

from relaxed_keras.layers.activation import ReLU
from relaxed_keras.models.base import ZooModel
from relaxed_keras.models.blocks import ModelSpec
from relaxed_keras.models.blocks import batch_norm
from relaxed_keras.models.blocks import dropout_layer
from relaxed_keras.models.registry import register_architecture

VARIANTS = ("laine_aila", "partial_gcnn")


@register_architecture(
    "cnn13",
    "13-layer CNN of Laine & Aila (2017) (3x128, pool, 3x256, pool, 512 "
    "valid, 256 1x1, 128 1x1, GAP); variant='partial_gcnn' is the 9-layer "
    "adaptation of the Partial G-CNN code",
)
@keras.saving.register_keras_serializable(package="relaxed_keras")
class CNN13(ZooModel):
    """Laine & Aila's 13-layer CNN, plain or with group convolutions.

    ``variant="laine_aila"``: 3x [3x3 conv 128 -> BN -> LeakyReLU(0.1)],
    2x2 max-pool, dropout 0.5; 3x [3x3 conv 256 ...], max-pool, dropout;
    3x3 valid conv 512, 1x1 conv 256, 1x1 conv 128 (each BN + LeakyReLU),
    global average pooling (space and group), dense. Group versions divide
    the channels by ``sqrt(|G|)`` (``sqrt(|G| L)`` for relaxed layers).

    ``variant="partial_gcnn"``: what the Partial G-CNN reference code
    actually trains as its "13-layer" network - 9 convolutions and no 1x1
    layers: a lifting conv (128) -> BN -> ReLU, then 8 blocks of [3x3 conv
    "same" -> BN -> ReLU] of widths 128, 256 x 7, max-pool after blocks 2
    and 5, dropout 0.3 after blocks 2, 5 and 8, mean over space and group,
    dense. As in the reference (and `ResNetCK`), these widths are per group
    element in every mode, not divided by ``sqrt(|G|)``. One difference:
    the dropout here drops single entries; the reference's ``Dropout2d``
    drops whole channels.

    Exact at the default 32x32 input (2x2 pools on 32 and 16; stride-1
    convolutions elsewhere).

    Args:
        variant: ``"laine_aila"`` or ``"partial_gcnn"``.
        input_shape, num_classes, equivariance, group, num_filter_banks,
        alpha: as for every zoo model.
        dropout: dropout rate (default 0.5 / 0.3 by variant).
        continuous_options: keyword arguments of the partial layers
            (``equivariance="partial"``), see `ModelSpec`.
    """

    def __init__(
        self,
        input_shape=(32, 32, 3),
        num_classes=10,
        equivariance="strict",
        group="p4",
        variant="laine_aila",
        dropout=None,
        num_filter_banks=3,
        alpha=1e-4,
        continuous_options=None,
        **kwargs,
    ):
        if variant not in VARIANTS:
            raise ValueError(
                f"`variant` must be one of {VARIANTS}. Received: {variant!r}"
            )
        spec = ModelSpec("cnn13", equivariance, group, num_filter_banks, alpha,
                         continuous_options=continuous_options)
        first = [True]

        # Laine & Aila's widths are plain channels (divided for the group
        # versions); the Partial G-CNN code's are per group element.
        per_element = variant == "partial_gcnn"

        def conv_bn_act(x, filters, kernel_size, padding, name, leaky):
            width = filters if per_element else spec.width(filters)
            x = spec.conv(width, kernel_size, lifting=first[0],
                          padding=padding, name=f"{name}_conv")(x)
            first[0] = False
            x = batch_norm(name=f"{name}_bn")(x)
            if leaky:
                return keras.layers.LeakyReLU(0.1, name=f"{name}_act")(x)
            return ReLU(name=f"{name}_act")(x)

        # === Functional model ===
        inputs, x = self._model_input(input_shape, kwargs)
        if variant == "laine_aila":
            rate = 0.5 if dropout is None else dropout
            plan = [(128, 3, "same")] * 3 + ["pool"] + [(256, 3, "same")] * 3
            plan += ["pool", (512, 3, "valid"), (256, 1, "valid"), (128, 1, "valid")]
            for index, step in enumerate(plan):
                if step == "pool":
                    x = spec.max_pool(2, name=f"pool{index}")(x)
                    x = dropout_layer(rate, name=f"dropout{index}")(x)
                else:
                    x = conv_bn_act(x, *step, name=f"layer{index}", leaky=True)
        else:
            rate = 0.3 if dropout is None else dropout
            x = conv_bn_act(x, 128, 3, "same", name="lifting", leaky=False)
            for block, filters in enumerate([128] + [256] * 7, start=1):
                x = conv_bn_act(x, filters, 3, "same", name=f"block{block}",
                                leaky=False)
                if block in (2, 5):
                    x = spec.max_pool(2, name=f"pool{block}")(x)
                if block in (2, 5, 8):
                    x = dropout_layer(rate, name=f"dropout{block}")(x)
        x = spec.global_pool(x, spatial="mean", group="mean")
        # === Head and config ===
        self._finish_classifier(
            inputs, x, spec, kwargs,
            input_shape=input_shape,
            num_classes=num_classes,
            variant=variant,
            dropout=dropout,
        )
