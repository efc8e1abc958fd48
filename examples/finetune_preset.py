"""Load a pretrained preset, evaluate it, fine-tune it with `model.fit`.

Run: ``KERAS_BACKEND=jax python examples/finetune_preset.py [PRESET] [--epochs N]``
(the same recipe as ``relaxed-keras finetune p4cnn_partial_mnist6_180
--epochs 1``, which also saves the fine-tuned preset and plots).
"""

import argparse

import keras

import relaxed_keras as rk
from relaxed_keras.zoo.training import callbacks_for

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("name", nargs="?", default="p4cnn_partial_mnist6_180",
                    help="preset name or folder (relaxed-keras list)")
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()
if args.epochs < 1:
    parser.error(f"--epochs must be >= 1. Received: {args.epochs}")

# Before loading: the layers' dropout and sampling seeds are drawn when the
# model is built.
keras.utils.set_random_seed(0)
# Compiled: Adam at the command line's fine-tuning rate, cross-entropy on
# logits, accuracy.
model = rk.zoo.load(args.name, learning_rate=5e-4)
recipe = rk.zoo.load_metadata(args.name)["recipe"]  # the preset's own data
data = rk.datasets.load_dataset(
    recipe["dataset"], train_size=recipe.get("train_size"),
    validation_size=recipe.get("validation_size", 0),
    **recipe.get("dataset_args", {}),
)
(x_train, y_train), (x_test, y_test) = data["train"], data["test"]
print("before: loss %.4f, accuracy %.4f" % tuple(model.evaluate(x_test, y_test, verbose=0)))
# The callbacks its layers need (the Gumbel temperature schedule of
# partial layers with mirrors; none for this SE(2) preset).
model.fit(x_train, y_train, batch_size=32, epochs=args.epochs,
          callbacks=callbacks_for(model))
print("after:  loss %.4f, accuracy %.4f" % tuple(model.evaluate(x_test, y_test, verbose=0)))
print(rk.diagnostics.format_learned_equivariance(
    rk.diagnostics.learned_equivariance(model)))
