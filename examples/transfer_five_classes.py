"""Transfer a Fashion-MNIST preset to a 5-class task: a new head trained on
a frozen backbone (linear probe), then the whole network fine-tuned.

The task: the first five Fashion-MNIST classes (T-shirt, trouser,
pullover, dress, coat). The preset's head is replaced by a new 5-way
`Dense` (``rk.zoo.load(name, num_classes=5)``); every other weight is the
preset's.

Run: ``KERAS_BACKEND=jax python examples/transfer_five_classes.py``
(``--train-size 5000 --epochs 2``; needs ``apt-get install
dataset-fashion-mnist``).
"""

import argparse

import keras
import numpy as np

import relaxed_keras as rk

CLASSES = 5


def five_classes(x, y, size=None):
    keep = np.flatnonzero(y < CLASSES)[:size]
    return x[keep], y[keep]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", nargs="?", default="p4cnn_strict_fashion_mnist")
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    for option in ("train_size", "test_size", "epochs"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1")

    data = rk.datasets.load_dataset("fashion_mnist")
    x_train, y_train = five_classes(*data["train"], args.train_size)
    x_test, y_test = five_classes(*data["test"], args.test_size)

    keras.utils.set_random_seed(0)
    model = rk.zoo.load(args.name, num_classes=CLASSES, compile=False)
    rows = []

    # 1. Linear probe: only the new head learns; the backbone's batch norms
    #    run in inference mode.
    rk.zoo.set_backbone_trainable(model, False)
    rk.zoo.compile_classifier(model, learning_rate=1e-2)
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=2)
    rows.append(("frozen backbone", model.evaluate(x_test, y_test, verbose=0)[1]))

    # 2. Fine-tune everything at a lower learning rate (recompile after
    #    changing `trainable`).
    rk.zoo.set_backbone_trainable(model, True)
    rk.zoo.compile_classifier(model, learning_rate=5e-4)
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=2)
    rk.zoo.reestimate_batch_norm(model, x_train)
    rows.append(("fine-tuned", model.evaluate(x_test, y_test, verbose=0)[1]))

    for stage, accuracy in rows:
        print(f"{stage:16s} test accuracy on {len(x_test)} images: {100 * accuracy:.2f} %")
    return rows


if __name__ == "__main__":
    main()
