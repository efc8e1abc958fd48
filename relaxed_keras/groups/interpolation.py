"""Differentiable bilinear resampling written with `keras.ops` only.

`keras.ops.image.affine_transform` passes no gradient to its transform, so
anything that must learn an angle (and every rotation by an angle that is not
a multiple of 90 degrees) goes through `bilinear_sample` here: gradients reach
both the image and the sampling coordinates.

Coordinates follow `relaxed_keras.groups.base`: centred, ``x`` to the right,
``y`` upwards, positive angles counter-clockwise as displayed.
"""

import numpy as np
from keras import backend
from keras import ops


def bilinear_sample(images, rows, cols):
    """Sample ``images`` at fractional pixel positions, zero outside.

    Args:
        images: tensor ``[B, H, W, ...]`` (trailing axes are carried along).
        rows: float tensor ``[H', W']`` or ``[B, H', W']`` of row positions.
        cols: float tensor of the same shape with column positions.

    Returns:
        Tensor ``[B, H', W', ...]`` in the dtype of ``images``.
    """
    shape = ops.shape(images)
    batch, height, width = shape[0], images.shape[1], images.shape[2]
    trailing = tuple(images.shape[3:])
    channels = int(np.prod(trailing)) if trailing else 1
    flat = ops.reshape(images, (batch, height * width, channels))
    # Positions, weights and the weighted sum in (at least) float32: in
    # bfloat16 a position such as 57.3 rounds to 57.25 and the weights and
    # the sum lose more digits (errors up to 0.07 on a [-1, 1] image).
    dtype = backend.result_type(images.dtype, "float32")
    rows = ops.cast(rows, dtype)
    cols = ops.cast(cols, dtype)
    if len(rows.shape) == 2:
        rows = ops.broadcast_to(rows[None], (batch,) + tuple(rows.shape))
        cols = ops.broadcast_to(cols[None], (batch,) + tuple(cols.shape))
    out_h, out_w = rows.shape[1], rows.shape[2]
    row0 = ops.floor(rows)
    col0 = ops.floor(cols)
    frac_r = rows - row0
    frac_c = cols - col0
    result = 0.0
    for dr, weight_r in ((0, 1.0 - frac_r), (1, frac_r)):
        for dc, weight_c in ((0, 1.0 - frac_c), (1, frac_c)):
            r = row0 + dr
            c = col0 + dc
            inside = (r >= 0) & (r <= height - 1) & (c >= 0) & (c <= width - 1)
            r_idx = ops.cast(ops.clip(r, 0, height - 1), "int32")
            c_idx = ops.cast(ops.clip(c, 0, width - 1), "int32")
            flat_idx = ops.reshape(r_idx * width + c_idx, (batch, -1, 1))
            flat_idx = ops.broadcast_to(
                flat_idx, (batch, out_h * out_w, channels)
            )
            values = ops.cast(ops.take_along_axis(flat, flat_idx, axis=1), dtype)
            weight = weight_r * weight_c * ops.cast(inside, dtype)
            result = result + values * ops.reshape(weight, (batch, -1, 1))
    result = ops.cast(result, images.dtype)
    return ops.reshape(result, (batch, out_h, out_w) + trailing)


def rotation_source_grid(height, width, angle):
    """Source positions for rotating an image by ``angle`` radians (CCW).

    The output pixel at centred position ``p`` takes the input value at
    ``R(-angle) p``. ``angle`` may be a Python float, a scalar tensor or a
    tensor ``[B]`` (one angle per image).

    Returns:
        ``(rows, cols)``, each ``[H, W]`` or ``[B, H, W]``.
    """
    c_row = (height - 1) / 2.0
    c_col = (width - 1) / 2.0
    ii, jj = np.meshgrid(
        np.arange(height, dtype="float32"),
        np.arange(width, dtype="float32"),
        indexing="ij",
    )
    x = ops.convert_to_tensor(jj - c_col)
    y = ops.convert_to_tensor(c_row - ii)
    angle = ops.convert_to_tensor(angle, dtype="float32")
    if len(angle.shape) == 1:
        angle = ops.reshape(angle, (-1, 1, 1))
    cos, sin = ops.cos(angle), ops.sin(angle)
    # Inverse rotation R(-angle) applied to (x, y).
    x_src = cos * x + sin * y
    y_src = -sin * x + cos * y
    return c_row - y_src, x_src + c_col


def rotate_images(images, angle):
    """Rotate ``[B, H, W, ...]`` by ``angle`` radians, bilinear, zero fill.

    Differentiable with respect to both ``images`` and ``angle``. For
    multiples of 90 degrees prefer `PlanarGroup.transform_images`, which is
    exact. Axes after the width (channels, or group and channels) are
    carried along.
    """
    if len(images.shape) < 4:
        # A single [H, W, C] image would be read as a batch of H images of
        # shape [W, C] and rotated in the wrong plane without any error.
        raise ValueError(
            "rotate_images expects images of rank 4 [batch, height, width, "
            "channels] (or more, e.g. [batch, height, width, group, "
            "channels]); add a batch axis to a single image. Received: "
            f"shape={tuple(images.shape)}"
        )
    rows, cols = rotation_source_grid(images.shape[1], images.shape[2], angle)
    return bilinear_sample(images, rows, cols)


def circle_crop(images):
    """Zero every pixel outside the largest inscribed circle (CircleCrop).

    The CircleCrop of Edixhoven et al. (2023), Sec. 3.3: it removes the
    corner artefacts of rotations by angles that are not multiples of 90
    degrees. Works on ``[B, H, W, ...]``.
    """
    height, width = images.shape[1], images.shape[2]
    ii, jj = np.meshgrid(
        np.arange(height) - (height - 1) / 2.0,
        np.arange(width) - (width - 1) / 2.0,
        indexing="ij",
    )
    radius = min(height, width) / 2.0
    mask = (ii**2 + jj**2 <= radius**2).astype("float32")
    mask = mask.reshape((1, height, width) + (1,) * (len(images.shape) - 3))
    images = ops.convert_to_tensor(images)
    return ops.multiply(images, ops.cast(mask, images.dtype))
