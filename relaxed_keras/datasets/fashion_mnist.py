"""Fashion-MNIST from offline sources, upright and rotated."""

import gzip
import os

import numpy as np

from relaxed_keras.datasets.mnist import keras_cache_path
from relaxed_keras.datasets.rotation import rotate_splits

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SOURCES = ("auto", "keras", "debian")
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def read_idx(path):
    """Read one (optionally gzipped) IDX file, the format of MNIST and
    Fashion-MNIST, into a numpy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    rank = data[3]
    shape = tuple(
        int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank)
    )
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank)
    if body.size != int(np.prod(shape)):
        raise ValueError(
            f"{path} is truncated: header says {shape}, found {body.size} values"
        )
    return body.reshape(shape)


def fashion_mnist_directory(source="auto"):
    """The directory holding the four gzipped IDX files, or None.

    ``"keras"``: the `keras.datasets.fashion_mnist` cache
    (``~/.keras/datasets/fashion-mnist``, ``$KERAS_HOME`` aware);
    ``"debian"``: ``/usr/share/datasets/fashion-mnist`` (``apt-get install
    dataset-fashion-mnist``; override with ``$RK_FASHION_MNIST_DIR``);
    ``"auto"``: the first of the two that has all four files.
    """
    if source not in SOURCES:
        raise ValueError(
            f"`source` must be one of {SOURCES}. Received: source={source!r}"
        )
    candidates = []
    if source in ("auto", "keras"):
        candidates.append(keras_cache_path("fashion-mnist"))
    if source in ("auto", "debian"):
        candidates.append(os.environ.get("RK_FASHION_MNIST_DIR", DEBIAN_DIR))
    for directory in candidates:
        if all(os.path.exists(os.path.join(directory, f)) for f in FILES):
            return directory
    return None


def load_fashion_mnist(source="auto"):
    """Fashion-MNIST as uint8 ``[N, 28, 28]`` arrays (60,000 train / 10,000
    test, Zalando Research, MIT licence), like
    `keras.datasets.fashion_mnist.load_data()`, offline.

    Raises:
        ValueError: when neither source has the files (says how to get them).
    """
    directory = fashion_mnist_directory(source)
    if directory is None:
        raise ValueError(
            "Fashion-MNIST was not found offline (source="
            f"{source!r}). Looked in {keras_cache_path('fashion-mnist')} and "
            f"{DEBIAN_DIR}. Install the Debian package "
            "(`apt-get install -y dataset-fashion-mnist`) or run "
            "`keras.datasets.fashion_mnist.load_data()` once with network."
        )
    arrays = [read_idx(os.path.join(directory, f)) for f in FILES]
    return (arrays[0], arrays[1].astype("int64")), (arrays[2], arrays[3].astype("int64"))


def fashion_mnist(source="auto"):
    """Fashion-MNIST, float32 ``[N, 28, 28, 1]`` in ``[0, 1]``.

    60,000 train / 10,000 test images in their published order and split,
    10 balanced classes (`CLASS_NAMES`); read from the Keras cache or the
    Debian ``dataset-fashion-mnist`` files (see `load_fashion_mnist`).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``.
    """
    splits = load_fashion_mnist(source)
    return tuple((x.astype("float32")[..., None] / 255.0, y) for x, y in splits)


def rotated_fashion_mnist(source="auto", seed=0, progress=True):
    """Fashion-MNIST with every image rotated by an angle drawn uniformly
    from [0, 360) (bilinear, zero outside; the RotMNIST protocol applied to
    Fashion-MNIST). 60,000 / 10,000 images as `fashion_mnist`; the angles
    are fixed by ``seed`` (train ``seed``, test ``seed + 1``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``, float32 ``[N, 28, 28, 1]``.
    """
    return rotate_splits(fashion_mnist(source), seed, progress=progress)
