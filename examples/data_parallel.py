"""Train a preset recipe data-parallel with `keras.distribution.DataParallel`.

Keras's distribution API runs on the JAX backend. On one CPU this script
asks XLA for two virtual devices, so the same code path as on several GPUs
runs anywhere:

    KERAS_BACKEND=jax python examples/data_parallel.py [RECIPE] [--epochs N]

(the same as ``XLA_FLAGS=--xla_force_host_platform_device_count=2
KERAS_BACKEND=jax relaxed-keras train p4cnn_strict_mnist6_180 --epochs 2
--distribute data_parallel --output outputs/data_parallel_preset``). Each
batch is split across the devices; gradients are averaged by XLA. The
strict G-CNN cannot tell a 6 from its 180-degree rotation: 50 % is its
expected accuracy (model card); ``z2cnn_none_mnist6_180`` learns the task.
"""

import argparse
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("recipe", nargs="?", default="p4cnn_strict_mnist6_180",
                    help="recipe name (relaxed-keras list --recipes)")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--output",
                    default=os.path.join(ROOT, "outputs", "data_parallel_preset"),
                    help="preset folder to write (default: outputs/ of the repository)")
args = parser.parse_args()
if args.epochs < 1:
    parser.error(f"--epochs must be >= 1. Received: {args.epochs}")

os.environ.setdefault("KERAS_BACKEND", "jax")
# Added to any XLA_FLAGS already set (setdefault would drop it silently).
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2").strip()

import keras  # noqa: E402

from relaxed_keras import xla_cpu  # noqa: E402
from relaxed_keras.zoo.training import train_recipe  # noqa: E402

if keras.backend.backend() != "jax":
    parser.error("keras.distribution.DataParallel needs KERAS_BACKEND=jax. "
                 f"Received: KERAS_BACKEND={keras.backend.backend()}")
xla_cpu.use_eigen_convolutions()  # as the command line does (README)
print("devices:", keras.distribution.list_devices())
model, meta = train_recipe(
    args.recipe, distribute="data_parallel", epochs=args.epochs,
    output=args.output, verbose=2,
)
print(f"test accuracy {meta['test_accuracy']:.2f} % on "
      f"{meta['environment']['devices']} devices; preset written to {args.output}")
