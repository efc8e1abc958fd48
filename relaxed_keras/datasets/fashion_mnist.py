"""Fashion-MNIST from offline sources, upright and rotated."""

import gzip
import os
import zlib

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
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as error:
        # A missing file, a cut-off download (EOFError) or a file that is
        # not gzip (gzip.BadGzipFile, an OSError) is the file's fault.
        raise ValueError(
            f"Could not read the IDX file {path}: {type(error).__name__}: "
            f"{error}. Replace it with an intact copy."
        ) from error
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
    for directory in _candidate_directories(source):
        if all(os.path.exists(os.path.join(directory, f)) for f in FILES):
            return directory
    return None


def _candidate_directories(source):
    if source not in SOURCES:
        raise ValueError(
            f"`source` must be one of {SOURCES}. Received: source={source!r}"
        )
    candidates = []
    if source in ("auto", "keras"):
        candidates.append(keras_cache_path("fashion-mnist"))
    if source in ("auto", "debian"):
        candidates.append(os.environ.get("RK_FASHION_MNIST_DIR", DEBIAN_DIR))
    return candidates


def _check_split(images, labels, image_file, label_file):
    """A wrong or mismatched file would otherwise load silently (12 labels
    for 20 images, a labels file holding images, 32x32 train images)."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{image_file} must hold 28x28 images (shape [N, 28, 28]). "
            f"Received shape {images.shape}"
        )
    if labels.ndim != 1:
        raise ValueError(
            f"{label_file} must hold one label per image (shape [N]). "
            f"Received shape {labels.shape}"
        )
    if len(labels) != len(images):
        raise ValueError(
            f"{label_file} holds {len(labels)} labels but {image_file} holds "
            f"{len(images)} images; they must match."
        )
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise ValueError(
            f"{label_file} must hold labels 0 to {len(CLASS_NAMES) - 1}. "
            f"Received a label {labels.max()}"
        )


def load_fashion_mnist(source="auto"):
    """Fashion-MNIST as uint8 ``[N, 28, 28]`` arrays (60,000 train / 10,000
    test, Zalando Research, MIT licence), like
    `keras.datasets.fashion_mnist.load_data()`, offline.

    Raises:
        ValueError: when neither source has the files (says how to get them),
            or a file is unreadable or does not hold 28x28 images with one
            label 0-9 each.
    """
    directory = fashion_mnist_directory(source)
    if directory is None:
        # Name the folders actually searched ($RK_FASHION_MNIST_DIR included).
        raise ValueError(
            "Fashion-MNIST was not found offline (source="
            f"{source!r}). Looked for {list(FILES)} in "
            f"{' and '.join(_candidate_directories(source))}. Install the "
            "Debian package (`apt-get install -y dataset-fashion-mnist`), "
            "set RK_FASHION_MNIST_DIR to a folder holding the four files, or "
            "run `keras.datasets.fashion_mnist.load_data()` once with network."
        )
    paths = [os.path.join(directory, f) for f in FILES]
    arrays = [read_idx(path) for path in paths]
    _check_split(arrays[0], arrays[1], paths[0], paths[1])
    _check_split(arrays[2], arrays[3], paths[2], paths[3])
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
