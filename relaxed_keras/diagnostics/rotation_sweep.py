"""Accuracy against input rotation angle, with CircleCrop."""

import math

import numpy as np
from keras import ops

from relaxed_keras.groups import CyclicGroup
from relaxed_keras.groups import circle_crop as circle_crop_fn
from relaxed_keras.groups import rotate_images


def rotate_batch(images, degrees, circle_crop=True):
    """Rotate ``[B, H, W, C]`` by ``degrees`` (CCW): exactly for multiples
    of 90, bilinear otherwise; CircleCrop before and after when asked."""
    x = ops.convert_to_tensor(np.asarray(images, dtype="float32"))
    if circle_crop:
        x = circle_crop_fn(x)
    if float(degrees) % 90 == 0:
        x = CyclicGroup(4).transform_images(x, int(degrees // 90) % 4)
    else:
        x = rotate_images(x, math.radians(degrees))
    if circle_crop:
        x = circle_crop_fn(x)
    return ops.convert_to_numpy(x)


def rotation_sweep(
    model,
    x,
    y,
    angles=tuple(range(0, 360, 15)),
    circle_crop=True,
    batch_size=256,
    plot_path=None,
    title=None,
):
    """Test accuracy on inputs rotated by each angle (Edixhoven et al. 2023,
    Sec. 3.3 "Measuring invariance").

    Rotations by multiples of 90 degrees are exact; other angles use bilinear
    interpolation, and the CircleCrop (zero outside the inscribed circle)
    removes the corner artefacts that would otherwise give the rotation
    away. Train with CircleCrop too (`relaxed_keras.groups.circle_crop`) to
    avoid a domain shift.

    Args:
        model: classifier returning logits or probabilities.
        x: images ``[N, H, W, C]`` in the model's input range.
        y: integer labels ``[N]`` or one-hot ``[N, classes]``.
        angles: angles in degrees.
        circle_crop: apply CircleCrop.
        batch_size: prediction batch size.
        plot_path: when given, save accuracy against angle as a PNG there.
        title: plot title.

    Returns:
        list of ``{"angle": degrees, "accuracy": fraction}``.
    """
    labels = np.asarray(y)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or len(labels) != len(x):
        # A scalar label used to broadcast against every image.
        raise ValueError(
            f"`y` must hold one label per image: integer labels [{len(x)}] or "
            f"one-hot [{len(x)}, classes]. Received: y of shape {np.shape(y)}"
        )
    angles = _check_angles(angles)
    rows = []
    for angle in angles:
        rotated = rotate_batch(x, angle, circle_crop)
        logits = model.predict(rotated, batch_size=batch_size, verbose=0)
        accuracy = float(np.mean(np.argmax(logits, axis=-1) == labels))
        rows.append({"angle": float(angle), "accuracy": accuracy})
    if plot_path is not None:
        plot_rotation_sweep(rows, plot_path, title=title)
    return rows


def _check_angles(angles):
    try:
        values = [float(a) for a in angles]
    except (TypeError, ValueError):
        values = None
    if isinstance(angles, str) or not values or not all(map(math.isfinite, values)):
        raise ValueError(
            "`angles` must be a non-empty sequence of angles in degrees, e.g. "
            f"(0, 45, 90). Received: angles={angles!r}"
        )
    return values


def plot_rotation_sweep(rows, path, title=None):
    """Save a line plot of accuracy against angle (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(
        [r["angle"] for r in rows],
        [100 * r["accuracy"] for r in rows],
        marker="o",
    )
    ax.set_xlabel("input rotation (degrees)")
    ax.set_ylabel("accuracy (%)")
    ax.set_xticks(range(0, 361, 45))
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
