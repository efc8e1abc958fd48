"""Transfer learning with zoo models, keras.applications style: a new
classification head, the backbone as a feature extractor, frozen or not.

`relaxed_keras.zoo.load` exposes these as ``num_classes``,
``include_top`` and ``pooling``.

Example:

>>> model = rk.zoo.load("p4cnn_strict_fashion_mnist", num_classes=5)  # doctest: +SKIP
>>> rk.zoo.set_backbone_trainable(model, False)  # linear probe  # doctest: +SKIP
>>> features = rk.zoo.load("p4cnn_strict_fashion_mnist", include_top=False,
...                        pooling="avg")  # doctest: +SKIP
"""

import keras
from keras import ops

from relaxed_keras.layers.continuous_pooling import ContinuousGroupPooling
from relaxed_keras.layers.global_pooling import GlobalSpatialPooling2D
from relaxed_keras.layers.group_pooling import GroupPooling
from relaxed_keras.models.base import CachedKernelsMixin
from relaxed_keras.models.base import ZooModel

POOLINGS = (None, "avg", "max")
HEAD = "logits"


def _check_zoo_model(model, what):
    if not isinstance(model, ZooModel) or not hasattr(model, "_backbone_tensors"):
        raise ValueError(
            f"{what} needs a zoo model (from `rk.zoo.load` or `rk.zoo.build`). "
            f"Received: {type(model).__name__}"
        )


def _check_num_classes(num_classes):
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(
            "`num_classes` must be an integer >= 1. Received: "
            f"num_classes={num_classes!r}"
        )


def _check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(
            f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}"
        )


def check_load_arguments(num_classes, include_top, pooling):
    """The transfer arguments of `relaxed_keras.zoo.load`, checked before
    any file is read."""
    if not isinstance(include_top, bool):
        raise TypeError(
            f"`include_top` must be True or False. Received: include_top={include_top!r}"
        )
    if num_classes is not None:
        _check_num_classes(num_classes)
    if include_top and pooling is not None:
        raise ValueError(
            "`pooling` applies to the feature extractor: pass include_top=False. "
            f"Received: pooling={pooling!r} with include_top=True"
        )
    if not include_top and num_classes is not None:
        raise ValueError(
            "`num_classes` sets the head, which include_top=False removes. "
            f"Received: num_classes={num_classes!r} with include_top=False"
        )
    _check_pooling(pooling)


def with_num_classes(model, num_classes):
    """The same architecture with a new, initialised ``num_classes``-way
    head (`keras.layers.Dense` ``"logits"``) and every other weight copied
    from ``model``.

    Args:
        model: a zoo model.
        num_classes: classes of the new head (an integer >= 1).

    Returns:
        A new, uncompiled zoo model.
    """
    _check_zoo_model(model, "`num_classes`")
    _check_num_classes(num_classes)
    config = dict(model.get_config(), num_classes=num_classes)
    new = type(model).from_config(config)
    if len(new.layers) != len(model.layers):
        raise ValueError(
            f"Rebuilding {model.name} with num_classes={num_classes} gave "
            f"another graph ({len(new.layers)} layers against "
            f"{len(model.layers)})."
        )
    for source, target in zip(model.layers, new.layers):
        if source.name == HEAD:
            continue
        shapes = [tuple(v.shape) for v in source.variables]
        if (type(source) is not type(target)
                or shapes != [tuple(v.shape) for v in target.variables]):
            raise ValueError(
                f"Layer {source.name!r} ({type(source).__name__}) has no "
                f"counterpart in the rebuilt model ({target.name!r})."
            )
        # Variables, not `get_weights`: seed-generator and cache states
        # (non-trainable, shape-stable) travel too.
        # A host copy: two models must not share (JAX: donate) one buffer.
        for mine, theirs in zip(target.variables, source.variables):
            mine.assign(ops.convert_to_numpy(theirs.value))
    return new


def feature_extractor(model, pooling=None):
    """The backbone of a zoo model as a `keras.Model`.

    Args:
        model: a zoo model.
        pooling: ``None``: the last feature maps before global pooling
            (``[B, H, W, |G|, C]`` for group models, ``[B, H, W, C]`` for
            plain CNNs; a continuous model's features without their
            sampled elements); ``"avg"`` / ``"max"``: their mean / maximum
            over space and the group, ``[B, C]`` (invariant for strict
            models).

    Returns:
        A `FeatureExtractor` sharing the layers (and weights) of ``model``.
    """
    _check_zoo_model(model, "`include_top=False`")
    _check_pooling(pooling)
    _, maps, elements = model._backbone_tensors
    if maps is None:
        raise ValueError(f"{model.name} did not record its feature maps.")
    x = maps
    if pooling is not None:
        mode = "mean" if pooling == "avg" else "max"
        group_maps = len(x.shape) == 5
        x = GlobalSpatialPooling2D(mode, keepdims=group_maps,
                                   name="features_spatial_pool")(x)
        if group_maps:
            if elements is not None:
                x = ContinuousGroupPooling(mode, name="features_group_pool")(
                    [x, elements])
            else:
                x = GroupPooling(mode, name="features_group_pool")(x)
            x = keras.layers.Flatten(name="features_flatten")(x)
    return FeatureExtractor(model.inputs, x, name=f"{model.name}_features")


def set_backbone_trainable(model, trainable):
    """Freeze (``False``) or unfreeze every layer but the ``"logits"``
    head; batch norms of a frozen backbone run in inference mode (Keras's
    rule). Recompile afterwards. Returns ``model``."""
    _check_zoo_model(model, "`set_backbone_trainable`")
    for layer in model.layers:
        if layer.name != HEAD:
            layer.trainable = bool(trainable)
    return model


@keras.saving.register_keras_serializable(package="relaxed_keras")
class FeatureExtractor(CachedKernelsMixin, keras.Model):
    """A functional model over a zoo backbone that expands the group
    kernels once per `predict` / `evaluate` / `export` call, as the zoo
    models do (`CachedKernelsMixin`)."""
