"""Load a pretrained preset, evaluate it, fine-tune it with `model.fit`.

Run: ``KERAS_BACKEND=jax python examples/finetune_preset.py``
(the same as ``relaxed-keras finetune p4cnn_partial_mnist6_180``).
"""

import argparse

import relaxed_keras as rk
from relaxed_keras.zoo.training import callbacks_for

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("name", nargs="?", default="p4cnn_partial_mnist6_180",
                    help="preset name or folder (relaxed-keras list)")
parser.add_argument("--epochs", type=int, default=1)
args = parser.parse_args()

model = rk.zoo.load(args.name)  # compiled: Adam, cross-entropy on logits, accuracy
(x_train, y_train), (x_test, y_test) = rk.datasets.mnist6_180(source="subset")
print("before:", model.evaluate(x_test, y_test, verbose=0))
# The callbacks its layers need (the Gumbel temperature schedule of
# partial layers with mirrors; none for this SE(2) preset).
model.fit(x_train, y_train, batch_size=32, epochs=args.epochs,
          callbacks=callbacks_for(model))
print("after: ", model.evaluate(x_test, y_test, verbose=0))
print(rk.diagnostics.format_learned_equivariance(
    rk.diagnostics.learned_equivariance(model)))
