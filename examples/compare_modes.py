"""Compare the equivariance modes on MNIST6-180 with the shipped presets.

A 6 versus a 6 rotated by 180 degrees: the strict G-CNN is invariant to the
rotation and cannot tell them apart (50 %); the relaxations learn how much
equivariance to drop. Prints test accuracy, the invariance error to 90
degree rotations and the parameter count of each preset. To train the
models from scratch instead, see ``examples/partial_mnist6.py``.

Run: ``KERAS_BACKEND=torch python examples/compare_modes.py``
"""

import argparse

import numpy as np

import relaxed_keras as rk

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--test-size", type=int, default=None,
                    help="evaluate the first N test images (default: all 200; "
                    "the strict model's 50 %% needs the whole paired set)")
args = parser.parse_args()
if args.test_size is not None and args.test_size < 1:
    parser.error(f"--test-size must be >= 1. Received: {args.test_size}")
(_, _), (x_test, y_test) = rk.datasets.mnist6_180(source="subset")
x_test, y_test = x_test[: args.test_size], y_test[: args.test_size]
print(f"{'preset':28s} {'mode':8s} {'test acc. %':>11s} {'rot90 error':>12s} {'params':>8s}")
for mode in ("none", "strict", "relaxed", "partial", "soft"):
    name = f"{'z2cnn' if mode == 'none' else 'p4cnn'}_{mode}_mnist6_180"
    model = rk.zoo.load(name, compile=False)
    predicted = np.argmax(model.predict(x_test, verbose=0), axis=-1)
    error = rk.diagnostics.equivariance_error(
        model, x_test[:32], group="p4", metric="relative"
    )
    print(f"{name:28s} {mode:8s} {100 * np.mean(predicted == y_test):11.2f} "
          f"{error:12.2e} {model.count_params():8,d}")
