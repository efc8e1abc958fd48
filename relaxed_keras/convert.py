"""Warm start: a strict model turned into its relaxed counterpart that
computes the same function (`relax`).

The "equivariance relaxation morphism" of Maile et al. (2023): every
strict group convolution becomes a relaxed one (Wang et al. 2022, Eq. 5-6
of the anisotropic-noise paper) whose ``L`` filter banks sum to the strict
kernel, with every relaxed weight equal to one. The relaxed layer then
computes exactly the strict convolution (its kernel is ``sum_l w_l(h)
psi_l`` with ``w = 1``), and training moves the relaxed weights away from
equal only where the data ask for it. The banks are the strict kernel
over ``L`` plus a random zero-sum perturbation: identical banks would get
identical gradients and stay identical forever.
"""

import math

import keras
import numpy as np

from relaxed_keras import layers as L
from relaxed_keras.models.base import ZooModel

TARGETS = ("relaxed", "partial", "soft")
_RELAXED = {L.LiftingConv2D: L.RelaxedLiftingConv2D, L.GroupConv2D: L.RelaxedGroupConv2D}


def _check(model, equivariance):
    if not isinstance(model, ZooModel):
        raise TypeError(
            "relax expects a zoo model (`rk.zoo.load` or `rk.models.build`). "
            f"Received: {type(model).__name__}"
        )
    if equivariance not in TARGETS:
        raise ValueError(
            f"`equivariance` must be one of {TARGETS}. Received: "
            f"equivariance={equivariance!r}"
        )
    source = model.get_config().get("equivariance", "none")
    if source in TARGETS:
        raise ValueError(
            f"relax: model {model.name!r} is already {source!r}; relax starts "
            "from a strict model (equivariance='strict')."
        )
    if source != "strict":
        raise ValueError(
            f"relax: model {model.name!r} has equivariance={source!r}: it has "
            "no group to relax. Start from a strict model."
        )
    if equivariance != "relaxed":
        raise ValueError(
            f"relax(equivariance={equivariance!r}) starts from a strict "
            "continuous-kernel model (the partial layers at the full group, "
            "omega' = 0 for soft ones); the zoo's strict models have discrete "
            "kernels, which a kernel network cannot take over exactly. Use "
            "equivariance='relaxed' for them."
        )


def _banks(kernel, num_banks, rng, perturbation):
    """``L`` banks that sum to ``kernel``: ``kernel / L`` plus zero-sum
    noise of ``perturbation`` times the kernel's standard deviation."""
    noise = rng.standard_normal((num_banks,) + kernel.shape).astype("float32")
    noise -= noise.mean(axis=0, keepdims=True)
    scale = perturbation * float(kernel.std()) if num_banks > 1 else 0.0
    return kernel[None] / num_banks + scale * noise


def relax(model, equivariance="relaxed", num_filter_banks=None, alpha=None,
          perturbation=0.1, seed=0):
    """A relaxed copy of a strict zoo model, computing the same logits.

    Every `LiftingConv2D` / `GroupConv2D` becomes a `RelaxedLiftingConv2D` /
    `RelaxedGroupConv2D` with the same filters (the strict model's width,
    not the parameter-matched relaxed default); every other weight is
    copied. The relaxed weights start at one and, like the banks, are
    trainable: fine-tuning decides how much equivariance each layer keeps.

    Args:
        model: a strict zoo model (any architecture with discrete groups).
        equivariance: ``"relaxed"``. (``"partial"`` and ``"soft"`` need a
            strict continuous-kernel model; a ValueError says so.)
        num_filter_banks: ``L`` of the relaxed layers (default: the
            model's ``num_filter_banks``).
        alpha: strength of the relaxed-weights regulariser (default: the
            model's).
        perturbation: size of the zero-sum noise between the banks,
            relative to each kernel's standard deviation (0: equal banks).
        seed: seed of that noise.

    Returns:
        An uncompiled zoo model (compile it as any other).

    Example:

    >>> strict = rk.zoo.load("p4cnn_strict_fashion_mnist")  # doctest: +SKIP
    >>> relaxed = rk.convert.relax(strict)  # same logits, relaxed layers
    """
    _check(model, equivariance)
    if isinstance(perturbation, bool) or not isinstance(perturbation, (int, float)) \
            or not 0 <= perturbation < math.inf:
        raise ValueError(
            "`perturbation` must be a finite non-negative number. Received: "
            f"perturbation={perturbation!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(
            f"`seed` must be a non-negative integer. Received: seed={seed!r}"
        )
    config = dict(model.get_config())
    config["equivariance"] = "relaxed"
    config["name"] = f"{model.name}_relaxed"
    if num_filter_banks is not None:
        config["num_filter_banks"] = num_filter_banks
    if alpha is not None:
        config["alpha"] = alpha
    relaxed = type(model).from_config(config)
    rng = np.random.default_rng(seed)
    copied = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        target = relaxed.get_layer(layer.name)
        expected = _RELAXED.get(type(layer))
        if expected is not None:
            if not isinstance(target, expected):
                raise ValueError(
                    f"relax: layer {layer.name!r} became {type(target).__name__}, "
                    f"not {expected.__name__}."
                )
            kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), "float32")
            target.kernel.assign(_banks(kernel, target.num_filter_banks, rng, perturbation))
            target.relaxed_weights.assign(np.ones(target.relaxed_weights.shape, "float32"))
            if layer.bias is not None:
                target.bias.assign(keras.ops.convert_to_numpy(layer.bias))
        else:
            target.set_weights(layer.get_weights())
        copied.add(layer.name)
    missing = [layer.name for layer in relaxed.layers
               if layer.weights and layer.name not in copied]
    if missing:
        raise ValueError(f"relax: no source weights for layers {missing}.")
    return relaxed
