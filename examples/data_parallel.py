"""Train a preset recipe data-parallel with `keras.distribution.DataParallel`.

Keras's distribution API runs on the JAX backend. On one CPU this script
asks XLA for two virtual devices, so the same code path as on several GPUs
runs anywhere:

    KERAS_BACKEND=jax python examples/data_parallel.py

(the same as ``relaxed-keras train z2cnn_none_mnist6_180 --distribute
data_parallel``). Each batch is split across the devices; gradients are
averaged by XLA.
"""

import argparse
import os

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--output", default="outputs/data_parallel_preset",
                    help="preset folder to write")
args = parser.parse_args()

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import keras  # noqa: E402

from relaxed_keras.zoo.training import train_recipe  # noqa: E402

print("devices:", keras.distribution.list_devices())
model, meta = train_recipe(
    "p4cnn_strict_mnist6_180", distribute="data_parallel", epochs=args.epochs,
    output=args.output, verbose=2,
)
print(f"test accuracy {meta['test_accuracy']:.2f} % on "
      f"{meta['environment']['devices']} devices")
