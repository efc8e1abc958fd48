"""Data sets, returned like `keras.datasets`: ``(x_train, y_train),
(x_test, y_test)`` numpy arrays. Every loader works offline."""

from relaxed_keras.datasets.mnist import load_mnist
from relaxed_keras.datasets.mnist import load_mnist_subset
from relaxed_keras.datasets.mnist6 import mnist6
from relaxed_keras.datasets.mnist6 import mnist6_180
from relaxed_keras.datasets.mnist6 import mnist6_m
from relaxed_keras.datasets.noise import add_noise
from relaxed_keras.datasets.noise import noise_strength_map
from relaxed_keras.datasets.noisy_rotated_mnist import noisy_rotated_mnist
from relaxed_keras.datasets.noisy_rotated_mnist import rotate_by_quarter_turns

__all__ = [
    "load_mnist",
    "load_mnist_subset",
    "mnist6",
    "mnist6_180",
    "mnist6_m",
    "noise_strength_map",
    "add_noise",
    "noisy_rotated_mnist",
    "rotate_by_quarter_turns",
]
