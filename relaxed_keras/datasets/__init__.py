"""Data sets, returned like `keras.datasets`: ``(x_train, y_train),
(x_test, y_test)`` numpy arrays. Every loader reads offline sources (the
Keras cache, Debian files, the shipped MNIST subset); only CIFAR without
a cache and ``source="keras"`` download, through `keras.datasets`, and a
failed download is a ValueError that says how to provide the files."""

from relaxed_keras.datasets.cifar import cifar10
from relaxed_keras.datasets.cifar import cifar100
from relaxed_keras.datasets.fashion_mnist import fashion_mnist
from relaxed_keras.datasets.fashion_mnist import load_fashion_mnist
from relaxed_keras.datasets.fashion_mnist import read_idx
from relaxed_keras.datasets.fashion_mnist import rotated_fashion_mnist
from relaxed_keras.datasets.mnist import load_mnist
from relaxed_keras.datasets.mnist import mnist
from relaxed_keras.datasets.mnist import rotated_mnist
from relaxed_keras.datasets.mnist import load_mnist_subset
from relaxed_keras.datasets.mnist6 import mnist6
from relaxed_keras.datasets.mnist6 import mnist6_180
from relaxed_keras.datasets.mnist6 import mnist6_m
from relaxed_keras.datasets.noise import add_noise
from relaxed_keras.datasets.noise import noise_strength_map
from relaxed_keras.datasets.noisy_rotated_mnist import noisy_rotated_mnist
from relaxed_keras.datasets.noisy_rotated_mnist import rotate_by_quarter_turns
from relaxed_keras.datasets.registry import list_datasets
from relaxed_keras.datasets.registry import load_dataset
from relaxed_keras.datasets.rotation import rotate_array_images

__all__ = [
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "load_fashion_mnist",
    "read_idx",
    "rotated_fashion_mnist",
    "mnist",
    "rotated_mnist",
    "list_datasets",
    "load_dataset",
    "rotate_array_images",
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
