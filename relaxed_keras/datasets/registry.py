"""Data sets by name, with fixed train / validation / test slices."""

import difflib
import inspect

import numpy as np

from relaxed_keras.datasets.cifar import cifar10
from relaxed_keras.datasets.cifar import cifar100
from relaxed_keras.datasets.fashion_mnist import fashion_mnist
from relaxed_keras.datasets.fashion_mnist import rotated_fashion_mnist
from relaxed_keras.datasets.mnist import mnist
from relaxed_keras.datasets.mnist import rotated_mnist
from relaxed_keras.datasets.mnist6 import mnist6_180
from relaxed_keras.datasets.mnist6 import mnist6_m
from relaxed_keras.datasets.noisy_rotated_mnist import noisy_rotated_mnist

DATASETS = {
    "mnist": mnist,
    "rotated_mnist": rotated_mnist,
    "mnist6_180": mnist6_180,
    "mnist6_m": mnist6_m,
    "noisy_rotated_mnist": noisy_rotated_mnist,
    "fashion_mnist": fashion_mnist,
    "rotated_fashion_mnist": rotated_fashion_mnist,
    "cifar10": cifar10,
    "cifar100": cifar100,
}


def list_datasets():
    """Names accepted by `load_dataset`."""
    return sorted(DATASETS)


def load_dataset(name, train_size=None, validation_size=0, test_size=None, **kwargs):
    """Load a data set by name and cut fixed slices.

    Every loader returns its splits in a fixed order (seeded shuffles), so
    the slices are fixed too: training images are the first
    ``train_size`` of the training split, validation images the *last*
    ``validation_size`` of it (never overlapping the training slice), test
    images the first ``test_size`` of the test split.

    Args:
        name: one of `list_datasets()`.
        train_size, validation_size, test_size: slice sizes (None: all;
            validation 0: no validation split).
        **kwargs: the loader's own arguments (``source``, ``noise``, ...).

    Returns:
        ``{"train": (x, y), "validation": (x, y) or None, "test": (x, y)}``.
    """
    if name not in DATASETS:
        close = difflib.get_close_matches(str(name), list(DATASETS), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"Unknown data set {name!r}. Available: {list_datasets()}.{hint}"
        )
    loader = DATASETS[name]
    # A misspelt or foreign argument would otherwise be a TypeError from
    # the loader call.
    accepted = list(inspect.signature(loader).parameters)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"Data set {name!r} does not take the argument(s) {unknown}. "
            f"Its loader accepts: {accepted}."
        )
    for key, value in (("train_size", train_size), ("test_size", test_size),
                       ("validation_size", validation_size)):
        # A float used to be truncated silently (2.7 -> 2 images).
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, np.integer))
        ):
            raise ValueError(
                f"`{key}` must be an integer (or None). Received: "
                f"{key}={value!r}"
            )
    (x_train, y_train), (x_test, y_test) = loader(**kwargs)
    total = len(x_train)
    validation_size = int(validation_size or 0)
    usable = total - validation_size
    train_size = usable if train_size is None else int(train_size)
    if validation_size < 0 or train_size <= 0 or train_size > usable:
        raise ValueError(
            f"{name} has {total} training images: train_size ({train_size}) + "
            f"validation_size ({validation_size}) must fit. Received: "
            f"train_size={train_size}, validation_size={validation_size}"
        )
    validation = None
    if validation_size:
        validation = (x_train[usable:], y_train[usable:])
    if test_size is not None:
        if not 1 <= int(test_size) <= len(x_test):
            raise ValueError(
                f"{name} has {len(x_test)} test images: test_size must be "
                f"between 1 and {len(x_test)} (or None for all). Received: "
                f"test_size={test_size}"
            )
        x_test, y_test = x_test[: int(test_size)], y_test[: int(test_size)]
    return {
        "train": (x_train[:train_size], y_train[:train_size]),
        "validation": validation,
        "test": (x_test, y_test),
    }
