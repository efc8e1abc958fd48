"""Warm start on rotated Fashion-MNIST: a relaxed P4CNN fine-tuned from the
strict upright preset (`rk.convert.relax`) against the same relaxed
architecture trained from scratch, for the same epochs on the same images.

Arms (all the strict preset's width, 10 channels per rotation):

- ``strict, pretrained``: the upright strict preset, no training on
  rotated images;
- ``strict, fine-tuned``: that preset fine-tuned (pretraining alone);
- ``relaxed, warm start``: `rk.convert.relax` of the preset, fine-tuned
  (pretraining plus the freedom to break rotation symmetry);
- ``relaxed, from scratch``: `rk.models.build("p4cnn", "relaxed",
  width=10)` trained from random weights.

Fixed epochs, nothing chosen on the test images; validation accuracy per
epoch goes into the PNG. Writes a JSON report and the PNG under
``--output``.

Measured with the defaults (10,000 rotated training images, 3 epochs,
2,000 test images; JAX, 2 CPU cores; `results/warm_start/`): strict
pretrained 47.75 %, strict fine-tuned 82.25 %, relaxed warm start
81.65 %, relaxed from scratch 65.15 %. The warm start buys 16.5 points
over training the relaxed net from scratch; in three epochs it does not
beat the strict fine-tuned net.

Run: ``KERAS_BACKEND=jax python examples/warm_start_relaxed.py``
(needs ``apt-get install dataset-fashion-mnist``).
"""

import argparse
import json
import os
import time

import keras
import numpy as np

import relaxed_keras as rk

PRESET = "p4cnn_strict_fashion_mnist"


class _ValidationCurve(keras.callbacks.Callback):
    def __init__(self, x, y):
        super().__init__()
        self.data, self.accuracy = (x, y), []

    def on_epoch_end(self, epoch, logs=None):
        self.accuracy.append(float(self.model.evaluate(*self.data, verbose=0)[1]))


def _train(model, data, args, learning_rate):
    rk.zoo.compile_classifier(model, learning_rate=learning_rate)
    curve = _ValidationCurve(*data["validation"])
    model.fit(*data["train"], batch_size=args.batch_size, epochs=args.epochs,
              verbose=2, callbacks=[curve])
    rk.zoo.reestimate_batch_norm(model, data["train"][0])
    return curve.accuracy


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        if row["validation_curve"]:
            epochs = range(1, len(row["validation_curve"]) + 1)
            ax.plot(epochs, [100 * a for a in row["validation_curve"]], marker="o",
                    label=row["arm"])
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy (%), rotated Fashion-MNIST")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--validation-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--fine-tune-lr", type=float, default=1e-3)
    parser.add_argument("--scratch-lr", type=float, default=3e-3)
    parser.add_argument("--output", default="results/warm_start")
    args = parser.parse_args(argv)
    for option in ("train_size", "validation_size", "test_size", "epochs", "batch_size"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1")
    for option in ("fine_tune_lr", "scratch_lr"):
        if not getattr(args, option) > 0:
            parser.error(f"--{option.replace('_', '-')} must be > 0")

    data = rk.datasets.load_dataset(
        "rotated_fashion_mnist", train_size=args.train_size,
        validation_size=args.validation_size, test_size=args.test_size)
    x_test, y_test = data["test"]
    keras.utils.set_random_seed(0)
    strict = rk.zoo.load(PRESET, compile=False)
    normalization = strict.get_config()["input_normalization"]
    rows = []

    def record(arm, model, curve, seconds):
        accuracy = float(model.evaluate(x_test, y_test, verbose=0)[1])
        rows.append({"arm": arm, "test_accuracy": round(100 * accuracy, 2),
                     "validation_curve": curve, "train_seconds": round(seconds, 1)})
        print(f"{arm:24s} test accuracy {100 * accuracy:.2f} % ({seconds:.0f} s)")

    rk.zoo.compile_classifier(strict)
    record("strict, pretrained", strict, [], 0.0)
    arms = [
        ("strict, fine-tuned", lambda: rk.zoo.load(PRESET, compile=False), args.fine_tune_lr),
        ("relaxed, warm start",
         lambda: rk.convert.relax(rk.zoo.load(PRESET, compile=False)), args.fine_tune_lr),
        ("relaxed, from scratch",
         lambda: rk.models.build("p4cnn", equivariance="relaxed", width=10, dropout=0.1,
                                 input_normalization=normalization), args.scratch_lr),
    ]
    for arm, make, learning_rate in arms:
        keras.utils.set_random_seed(0)
        model = make()
        start = time.time()
        curve = _train(model, data, args, learning_rate)
        record(arm, model, curve, time.time() - start)

    os.makedirs(args.output, exist_ok=True)
    report = {"preset": PRESET, "backend": keras.backend.backend(),
              "settings": vars(args), "rows": rows}
    with open(os.path.join(args.output, "warm_start.json"), "w") as f:
        json.dump(report, f, indent=2)
    _plot(rows, os.path.join(args.output, "warm_start.png"))
    return rows


if __name__ == "__main__":
    main()
