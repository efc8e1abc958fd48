"""Pre-activation ResNet18 / ResNet44 of Edixhoven et al. (2023)."""

import keras

from relaxed_keras.layers.activation import ReLU
from relaxed_keras.models.base import ZooModel
from relaxed_keras.models.blocks import DISCRETE_MODES
from relaxed_keras.models.blocks import ModelSpec
from relaxed_keras.models.blocks import batch_norm
from relaxed_keras.models.registry import register_architecture

CONFIGS = {
    "preact_resnet18": {"blocks": (2, 2, 2, 2), "width": 64},
    "preact_resnet44": {"blocks": (7, 7, 7), "width": 32},
}


def apply_basic_block(x, spec, filters, stride, name):
    """(BN -> ReLU -> 3x3 conv) twice, plus identity or 1x1 conv + BN."""
    in_channels = x.shape[-1]
    y = batch_norm(name=f"{name}_bn1")(x)
    y = ReLU(name=f"{name}_relu1")(y)
    y = spec.conv(filters, 3, strides=stride, padding=1, use_bias=False,
                  name=f"{name}_conv1")(y)
    y = batch_norm(name=f"{name}_bn2")(y)
    y = ReLU(name=f"{name}_relu2")(y)
    y = spec.conv(filters, 3, padding=1, use_bias=False, name=f"{name}_conv2")(y)
    if stride != 1 or in_channels != filters:
        x = spec.conv(filters, 1, strides=stride, use_bias=False,
                      name=f"{name}_shortcut")(x)
        x = batch_norm(name=f"{name}_shortcut_bn")(x)
    return keras.layers.Add(name=f"{name}_add")([x, y])


@keras.saving.register_keras_serializable(package="relaxed_keras")
class PreActResNet(ZooModel):
    """Pre-activation ResNet in every equivariance mode.

    As in ``experiments/models/resnet_p4.py`` of Edixhoven et al. (2023):
    3x3 stride-1 stem without max-pool; stages of pre-activation basic
    blocks with widths ``width * 2^i`` and strides 1, 2, 2(, 2); identity
    shortcuts, or a 1x1 strided convolution with batch norm; a final BN and
    ReLU, max over the group (coset pooling), global average pooling and a
    dense head. Convolutions have no bias. Plain widths 64 (ResNet18) and 32
    (ResNet44) become 32 / 23 (p4 / p4m) and 16 / 12 by
    ``ceil(width / sqrt(|G|))``.

    Every strided 3x3 convolution pads 1 pixel explicitly, so exactness
    depends only on the input size: the default 33x33 is exact at every
    stage (33 -> 17 -> 9 -> 5) while CIFAR's 32x32 is not (Sec. 3.2 of the
    paper; see `relaxed_keras.diagnostics.exactness_report`).

    Args:
        depth: ``"preact_resnet18"`` or ``"preact_resnet44"``.
        input_shape, num_classes, equivariance, group, num_filter_banks,
        alpha: as for every zoo model.
        width: stem/first-stage width (default by the rule above).
    """

    def __init__(
        self,
        depth="preact_resnet18",
        input_shape=(33, 33, 3),
        num_classes=10,
        equivariance="strict",
        group="p4",
        width=None,
        num_filter_banks=3,
        alpha=1e-4,
        **kwargs,
    ):
        if depth not in CONFIGS:
            raise ValueError(
                f"`depth` must be one of {sorted(CONFIGS)}. Received: {depth!r}"
            )
        spec = ModelSpec(depth, equivariance, group, num_filter_banks, alpha, modes=DISCRETE_MODES)
        blocks = CONFIGS[depth]["blocks"]
        width = spec.resolve_width(width, CONFIGS[depth]["width"])

        # === Functional model ===
        inputs, x = self._model_input(input_shape, kwargs)
        x = spec.conv(width, 3, lifting=True, padding=1, use_bias=False,
                      name="stem_conv")(x)
        for stage, count in enumerate(blocks):
            for index in range(count):
                stride = 2 if (stage > 0 and index == 0) else 1
                x = apply_basic_block(
                    x, spec, width * 2**stage, stride,
                    name=f"stage{stage + 1}_block{index + 1}",
                )
        x = batch_norm(name="final_bn")(x)
        x = ReLU(name="final_relu")(x)
        x = spec.global_pool(x, spatial="mean", group="max", group_first=True)
        # === Head and config ===
        self._finish_classifier(
            inputs, x, spec, kwargs,
            input_shape=input_shape,
            num_classes=num_classes,
            depth=depth,
            width=width,
        )


for _name in CONFIGS:
    register_architecture(
        _name,
        f"Pre-activation {_name.split('_')[-1]} of 'Using and Abusing "
        "Equivariance' (stem 3x3, no max-pool); exact at 33x33",
    )(lambda _depth=_name, **kwargs: PreActResNet(depth=_depth, **kwargs))
