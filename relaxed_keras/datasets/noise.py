"""Noise-strength maps of the anisotropic-noise study."""

import numpy as np

NOISE_KINDS = ("iso", "aniso", "none")


def noise_strength_map(kind, height=28, width=28):
    """Per-pixel noise variance factor with mean exactly 1.

    "Relaxed Equivariance for Anisotropic Noise", Sec. 4 and Fig. 1:

    * ``"aniso"``: on the left half the strength follows half a wavelength
      down the image, ``sin(pi * u)`` with ``u`` the row position in (0, 1);
      on the right half it follows two wavelengths across,
      ``(1 + cos(8 pi (v - 1/2))) / 2`` with ``v`` the column position,
      which leaves two vertical bands of weaker noise on the right. The
      paper gives no formula; this is the reading of its text and figure.
    * ``"iso"``: the same strength everywhere.
    * ``"none"``: zeros.

    Both noisy maps are scaled to mean 1, so the mean noise strength (the
    trace of the noise covariance) is the same in both settings.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(
            f"`noise` must be one of {NOISE_KINDS}. Received: noise={kind!r}"
        )
    if kind == "none":
        return np.zeros((height, width), "float32")
    if kind == "iso":
        return np.ones((height, width), "float32")
    u = (np.arange(height) + 0.5) / height
    v = (np.arange(width) + 0.5) / width
    left = np.broadcast_to(np.sin(np.pi * u)[:, None], (height, width))
    right = np.broadcast_to(
        (0.5 + 0.5 * np.cos(8 * np.pi * (v - 0.5)))[None, :], (height, width)
    )
    strength = np.where(v[None, :] < 0.5, left, right)
    return (strength / strength.mean()).astype("float32")


def add_noise(images, kind, sigma, seed=0):
    """``x + sigma * sqrt(map) * N(0, 1)`` per pixel (variance ``sigma^2 *
    map``); uncorrelated between pixels. ``images`` is ``[N, H, W(, C)]``."""
    strength = noise_strength_map(kind, images.shape[1], images.shape[2])
    if images.ndim == 4:
        strength = strength[..., None]
    rng = np.random.RandomState(seed)
    noise = rng.standard_normal(images.shape).astype("float32")
    return (images + sigma * np.sqrt(strength) * noise).astype("float32")
