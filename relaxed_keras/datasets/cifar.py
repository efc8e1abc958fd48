"""CIFAR-10 / CIFAR-100: the Keras cache, else `keras.datasets`."""

import os
import pickle

import numpy as np

from relaxed_keras.datasets.mnist import keras_cache_path

LABEL_MODES = ("fine", "coarse")
SOURCES = ("auto", "cache", "keras")
# Extracted folders as `keras.datasets` leaves them (Keras 3: "<name>-target").
CACHE_DIRS = {
    "cifar10": ("cifar-10-batches-py-target/cifar-10-batches-py", "cifar-10-batches-py"),
    "cifar100": ("cifar-100-python-target/cifar-100-python", "cifar-100-python"),
}
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("builtins", "list"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise ValueError(f"Refusing to unpickle {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(path, label_key="labels"):
    """One CIFAR python batch file (a pickled dict with ``data`` ``[N,
    3072]`` uint8 and a label list) as ``[N, 32, 32, 3]`` uint8 and int64
    labels."""
    try:
        with open(path, "rb") as f:
            batch = _RestrictedUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError) as error:
        # A missing or cut-off batch file in the cache is the file's fault.
        raise ValueError(
            f"Could not read the CIFAR batch {path}: {type(error).__name__}: "
            f"{error}. Replace the cached folder with an intact copy."
        ) from error
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR batch (a pickled dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise ValueError(f"{path} is not a CIFAR batch with '{label_key}'")
    data = np.asarray(batch["data"], dtype="uint8")
    labels = np.asarray(batch[label_key], dtype="int64")
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise ValueError(
            f"{path} must hold 'data' of shape [N, 3072] and N labels. "
            f"Received data {data.shape}, labels {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _cached_dir(name):
    for relative in CACHE_DIRS[name]:
        path = keras_cache_path(relative)
        if os.path.isdir(path):
            return path
    return None


def _scaled(splits):
    return tuple(
        (np.asarray(x, "float32") / 255.0, np.asarray(y).reshape(-1).astype("int64"))
        for x, y in splits
    )


def _download(name, load_data, **kwargs):
    """`keras.datasets.<name>.load_data()`, whose failure offline (a bare
    ``Exception: URL fetch failure``) becomes a ValueError saying how to
    provide the data."""
    try:
        splits = load_data(**kwargs)
    except Exception as error:  # Keras's download errors vary
        raise ValueError(
            f"{name} is not available offline: it is not in the Keras cache "
            f"({keras_cache_path(CACHE_DIRS[name][0])}) and "
            f"keras.datasets.{name}.load_data() could not download it "
            f"({type(error).__name__}: {error}). Run that once with network, "
            "or copy the extracted python batches into that folder."
        ) from error
    return _scaled(splits)


def _check_source(source):
    if source not in SOURCES:
        raise ValueError(
            f"`source` must be one of {SOURCES}. Received: source={source!r}"
        )


def cifar10(source="auto"):
    """CIFAR-10: 50,000 train / 10,000 test 32x32x3 images, 10 classes.

    Args:
        source: ``"cache"``: the batches that `keras.datasets.cifar10`
            extracted into the Keras cache (``~/.keras/datasets/
            cifar-10-batches-py-target/cifar-10-batches-py``, ``$KERAS_HOME``
            aware), read directly; ``"keras"``:
            `keras.datasets.cifar10.load_data()` (downloads when the cache
            is missing); ``"auto"``: the cache when present, else Keras.
            A failed download is a ValueError that says how to provide
            the files offline.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float32 in ``[0, 1]``,
        int64 labels ``[N]``.
    """
    _check_source(source)
    folder = _cached_dir("cifar10") if source != "keras" else None
    if folder is None and source == "cache":
        raise ValueError("CIFAR-10 is not in the Keras cache; use source='keras'.")
    if folder is None:
        import keras

        return _download("cifar10", keras.datasets.cifar10.load_data)
    batches = [read_cifar_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    train = (np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
    return _scaled((train, read_cifar_batch(os.path.join(folder, "test_batch"))))


def cifar100(label_mode="fine", source="auto"):
    """CIFAR-100: 50,000 / 10,000 images; ``"fine"``: 100 classes,
    ``"coarse"``: 20. Sources as `cifar10` (``cifar-100-python`` in the
    Keras cache, else `keras.datasets.cifar100.load_data()`).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float32 in ``[0, 1]``,
        int64 labels ``[N]``.
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(
            f"`label_mode` must be one of {LABEL_MODES}. Received: "
            f"label_mode={label_mode!r}"
        )
    _check_source(source)
    folder = _cached_dir("cifar100") if source != "keras" else None
    if folder is None and source == "cache":
        raise ValueError("CIFAR-100 is not in the Keras cache; use source='keras'.")
    if folder is None:
        import keras

        return _download(
            "cifar100", keras.datasets.cifar100.load_data, label_mode=label_mode
        )
    key = f"{label_mode}_labels"
    return _scaled(tuple(
        read_cifar_batch(os.path.join(folder, split), key) for split in ("train", "test")
    ))
