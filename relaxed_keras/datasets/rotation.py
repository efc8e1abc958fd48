"""Rotating whole data sets (numpy, for data preparation)."""

import numpy as np


def rotate_array_images(images, degrees, batch_size=2048, progress=False):
    """Rotate each image about its centre by its own angle (CCW, bilinear,
    zero outside), in numpy.

    The sampling convention is that of `relaxed_keras.groups.rotate_images`
    (pixel centres, rotation about the image centre), so multiples of 90
    degrees reproduce `np.rot90` exactly.

    Args:
        images: ``[N, H, W]`` or ``[N, H, W, C]``.
        degrees: ``[N]`` angles in degrees (or one scalar).
        batch_size: images per vectorised step.
        progress: show a `keras.utils.Progbar`.

    Returns:
        float32 array of the shape of ``images``.
    """
    images = np.asarray(images, dtype="float32")
    squeeze = images.ndim == 3
    if squeeze:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(
            "`images` must be [N, H, W] or [N, H, W, C]. Received shape "
            f"{images.shape}"
        )
    n, height, width, _ = images.shape
    degrees = np.broadcast_to(np.asarray(degrees, dtype="float64"), (n,))
    rows, cols = np.meshgrid(
        np.arange(height) - (height - 1) / 2.0,
        np.arange(width) - (width - 1) / 2.0,
        indexing="ij",
    )
    out = np.empty_like(images)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(n, unit_name="image")
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        theta = np.radians(degrees[start:stop])[:, None, None]
        cos, sin = np.cos(theta), np.sin(theta)
        # Output pixel (r, c) reads the input at the inverse rotation; with
        # rows pointing down a CCW rotation of the picture is
        # (r, c) <- (cos r + sin c, -sin r + cos c) in centred coordinates.
        src_r = cos * rows + sin * cols + (height - 1) / 2.0
        src_c = -sin * rows + cos * cols + (width - 1) / 2.0
        out[start:stop] = _bilinear(images[start:stop], src_r, src_c)
        if bar is not None:
            bar.update(stop)
    return out[..., 0] if squeeze else out


def _bilinear(images, src_r, src_c):
    n, height, width, channels = images.shape
    r0 = np.floor(src_r)
    c0 = np.floor(src_c)
    result = np.zeros(images.shape, "float32")
    batch = np.arange(n)[:, None, None]
    for dr in (0, 1):
        for dc in (0, 1):
            r = r0 + dr
            c = c0 + dc
            weight = (1 - np.abs(src_r - r)) * (1 - np.abs(src_c - c))
            inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
            ri = np.clip(r, 0, height - 1).astype("int64")
            ci = np.clip(c, 0, width - 1).astype("int64")
            values = images[batch, ri, ci]
            result += (weight * inside)[..., None].astype("float32") * values
    return result


def random_rotations(images, seed, progress=False):
    """Rotate every image by an angle drawn uniformly from [0, 360) with
    ``seed`` (the RotMNIST protocol). Returns ``(rotated, degrees)``."""
    degrees = np.random.RandomState(seed).uniform(0.0, 360.0, size=len(images))
    rotated = rotate_array_images(images, degrees, progress=progress)
    return np.clip(rotated, 0.0, 1.0), degrees


def rotate_splits(splits, seed, progress=False):
    """Apply `random_rotations` to ``(x, y)`` splits: split ``i`` draws its
    angles with ``seed + i``. Returns the splits as a tuple."""
    return tuple(
        (random_rotations(x, seed + offset, progress=progress)[0], y)
        for offset, (x, y) in enumerate(splits)
    )
