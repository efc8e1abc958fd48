"""Z2CNN / P4CNN of Cohen & Welling (2016) as used by Edixhoven et al."""

import keras

from relaxed_keras.layers.activation import ReLU
from relaxed_keras.models.base import ZooModel
from relaxed_keras.models.blocks import ModelSpec
from relaxed_keras.models.blocks import batch_norm
from relaxed_keras.models.blocks import dropout_layer
from relaxed_keras.models.registry import register_architecture


def _build(name, default_mode):
    description = (
        "Cohen & Welling's 7-layer MNIST CNN (3x3 convs, 4x4 top conv, BN, "
        "dropout 0.3, max-pool after layer 2, GAP, coset max, dense) as in "
        "'Using and Abusing Equivariance' Sec. 4.2"
    )

    @register_architecture(name, description)
    def builder(equivariance=default_mode, **kwargs):
        return CohenWellingCNN(equivariance=equivariance, **kwargs)

    return builder


@keras.saving.register_keras_serializable(package="relaxed_keras")
class CohenWellingCNN(ZooModel):
    """Z2CNN (``equivariance="none"``) and P4CNN (``"strict"``).

    Edixhoven et al. (2023), Sec. 4.2, after Cohen & Welling (2016); the
    layer list follows the torchinfo summaries of the published logs:

        conv1 3x3 pad 1 -> BN -> ReLU -> dropout
        conv2 3x3 pad 1 -> BN -> ReLU -> 2x2 max-pool
        conv3..conv6 3x3 pad 1 -> BN -> ReLU (dropout after 3, 4, 5)
        conv7 4x4 valid -> BN -> ReLU
        global average pool -> group (coset) max pool -> dense

    The paper's text puts dropout "after layers 1 through 5"; the logs show
    it after 1, 3, 4 and 5 (2 is followed by the pooling): we follow the
    logs. Widths: 20 plain channels, ``ceil(20 / sqrt(|G|))`` per group
    element (10 for p4, 8 for p4m), ``ceil(20 / sqrt(|G| L))`` for relaxed
    layers. Convolutions have biases (the logs count them). The counts of
    the logs for 3-channel input, 25,570 (Z2CNN) and 24,990 (P4CNN), are
    reproduced exactly (tests); for 1-channel input they are 25,210 and
    24,810. The default input 28x28 is exactly equivariant (28 is even for
    the 2x2 pooling; the 4x4 valid conv maps 14 -> 11).

    Args:
        input_shape: ``(H, W, C)``.
        num_classes: logits.
        equivariance: ``"none"``, ``"strict"``, ``"relaxed"``,
            ``"partial"`` or ``"soft"`` (see `relaxed_keras.models.blocks`).
        group: ``"p4"`` or ``"p4m"``; in the partial and soft modes also a
            continuous group such as ``"se2_8"`` (there ``"p4"`` means
            ``SE2(4)``).
        width: channels per group element (default by the rule above).
        dropout: dropout rate.
        normalization: ``"batch"`` (the papers) or ``"layer"``
            (`SpatialLayerNormalization`: per image over space and group,
            so training and inference compute the same function; useful
            when the batch statistics carry the signal, see the soft
            MNIST6-180 runs).
        num_filter_banks, alpha: relaxed layers.
        continuous_options: keyword arguments of the partial layers
            (``equivariance="partial"``), see `ModelSpec`.
    """

    def __init__(
        self,
        input_shape=(28, 28, 1),
        num_classes=10,
        equivariance="strict",
        group="p4",
        width=None,
        dropout=0.3,
        normalization="batch",
        num_filter_banks=3,
        alpha=1e-4,
        continuous_options=None,
        **kwargs,
    ):
        if normalization not in ("batch", "layer"):
            raise ValueError(
                "`normalization` must be 'batch' or 'layer'. Received: "
                f"normalization={normalization!r}"
            )
        spec = ModelSpec("p4cnn/z2cnn", equivariance, group, num_filter_banks, alpha,
                         continuous_options=continuous_options)
        width = spec.resolve_width(width, 20)

        def block(x, index, kernel_size=3, padding=1):
            x = spec.conv(width, kernel_size, lifting=index == 1,
                          padding=padding, name=f"conv{index}")(x)
            if normalization == "layer":
                x = spec.layer_norm(name=f"ln{index}")(x)
            else:
                x = batch_norm(name=f"bn{index}")(x)
            return ReLU(name=f"relu{index}")(x)

        # === Functional model ===
        inputs, x = self._model_input(input_shape, kwargs)
        x = block(x, 1)
        x = dropout_layer(dropout, name="dropout1")(x)
        x = block(x, 2)
        x = spec.max_pool(2, name="pool2")(x)
        for index in (3, 4, 5, 6):
            x = block(x, index)
            if index < 6:
                x = dropout_layer(dropout, name=f"dropout{index}")(x)
        x = block(x, 7, kernel_size=4, padding="valid")
        x = spec.global_pool(x, spatial="mean", group="max")
        # === Head and config ===
        self._finish_classifier(
            inputs, x, spec, kwargs,
            input_shape=input_shape,
            num_classes=num_classes,
            width=width,
            dropout=dropout,
            normalization=normalization,
        )


z2cnn = _build("z2cnn", "none")
p4cnn = _build("p4cnn", "strict")
