"""Equivariance error after every group layer of a functional model."""

import keras
import numpy as np
from keras import ops

from relaxed_keras import groups as groups_lib


def layerwise_equivariance_error(model, inputs, group=None, quarter_turns=(1, 2, 3)):
    """Relative rotation-equivariance error of each group layer's output.

    For every layer whose output is a group feature map ``[B, H, W, N, C]``
    (or the features of a continuous layer's ``(features, elements)``), the
    error ``max |f(R x) - R' f(x)| / max |R' f(x)|`` over the given quarter
    turns ``R`` of the input images, where ``R'`` rotates space and shifts
    the group axis by ``N / 4`` (the regular action of the grid). Inputs
    should have even side lengths on strided models (exactness), and
    ``N`` must be a multiple of 4. Layers are evaluated in inference mode.

    Args:
        model: a functional Keras model taking images.
        inputs: numpy images ``[B, H, W, C]``.
        group: the group of the feature maps, a group or its name
            (default: the first layer's).
        quarter_turns: input rotations, in multiples of 90 degrees.

    Returns:
        A list of ``(layer name, error)`` in layer order; ``nan`` where a
        layer's output is all zeros (nothing to compare).
    """
    from relaxed_keras.diagnostics.equivariance_error import _features
    from relaxed_keras.diagnostics.equivariance_error import find_group

    quarter_turns = _check_quarter_turns(quarter_turns)
    group = groups_lib.get(group) if group is not None else find_group(model)
    if group.order % 4:
        raise ValueError(
            f"Quarter turns need a group with 4k rotations. Received: {group!r}"
        )
    names, outputs = [], []
    for layer in model.layers:
        if not hasattr(layer, "group"):
            continue
        out = _features(layer.output)
        if len(out.shape) == 5:
            names.append(layer.name)
            outputs.append(out)
    if not outputs:
        return []
    probe = keras.Model(model.input, outputs)

    def run(images):
        # A one-output model returns a bare tensor, not a list of one.
        out = probe(images, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    reference = [np.asarray(ops.convert_to_numpy(t)) for t in run(inputs)]
    errors = np.zeros(len(names))
    step = group.order // 4
    for turns in quarter_turns:
        rotated = np.rot90(inputs, turns, axes=(1, 2)).copy()
        moved = run(rotated)
        for i, (ref, out) in enumerate(zip(reference, moved)):
            expected = np.asarray(
                ops.convert_to_numpy(group.transform(ops.convert_to_tensor(ref), turns * step))
            )
            out = np.asarray(ops.convert_to_numpy(out))
            scale = np.abs(expected).max()
            # An all-zero output (dead ReLUs) has no defined relative error.
            error = np.abs(out - expected).max() / scale if scale > 0 else np.nan
            errors[i] = np.nan if np.isnan(error) else max(errors[i], error)
    return list(zip(names, errors.tolist()))


def _check_quarter_turns(quarter_turns):
    """A sequence of integers (``quarter_turns=1`` used to end in "'int'
    object is not iterable")."""
    if isinstance(quarter_turns, (int, np.integer)):
        raise ValueError(
            "quarter_turns must be a sequence of integers, e.g. (1, 2, 3) or "
            f"(1,). Received: quarter_turns={quarter_turns!r}"
        )
    try:
        turns = [int(t) for t in quarter_turns]
        exact = all(t == float(u) for t, u in zip(turns, quarter_turns))
    except (TypeError, ValueError):
        exact = False
    if not exact or not turns:
        raise ValueError(
            "quarter_turns must be a non-empty sequence of integers, e.g. "
            f"(1, 2, 3). Received: quarter_turns={quarter_turns!r}"
        )
    return turns
