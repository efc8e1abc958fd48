"""Relaxed G-CNNs on MNIST6-180 / MNIST6-M (Romero & Lohit 2022, Tab. 1;
van der Ouderaa et al. 2022, Tab. 2).

Trains the P4CNN architecture of the zoo four ways: a plain CNN (``none``),
the strict G-CNN (``strict``: discrete p4 or p4m; it pools over the group,
so 6 and its rotated/mirrored copy look the same: exactly 50 %), the Partial
G-CNN (``partial``: continuous SIREN kernels on SE(2)/E(2) with N samples,
learned theta / mirror probability per layer) and the soft G-CNN (``soft``:
non-stationary kernels on SE(2), learned omega'_theta per layer; rotation
task only). Prints accuracy and the learned equivariance per layer; with
``--output FILE.json`` also writes the results and a plot per partial or
soft model.

Run: ``KERAS_BACKEND=torch python examples/partial_mnist6.py --epochs 30``
(``--train-size`` for a slice, ``--task mirror`` for MNIST6-M,
``--modes soft`` for one model).
"""

import argparse
import json
import os
import time

import keras

import relaxed_keras as rk
from relaxed_keras.zoo.training import callbacks_for


def options(mode, args):
    if mode == "partial":
        network = {
            "siren": rk.kernels.SIREN(),
            "relu": rk.kernels.MLPKernel(activation="relu"),
            "swish": rk.kernels.MLPKernel(activation="swish"),
        }[args.kernel_network]
        return {"continuous_options": {
            "distribution_lr_factor": args.distribution_lr_factor,
            "kernel_network": keras.saving.serialize_keras_object(network)}}
    if mode == "soft":
        return {"continuous_options": {
            "sample_offset": False,
            "omega_prime": [0.0, 0.0, args.omega_prime],
            "learn_omega_prime": ["theta"],
            "omega_prime_penalty": args.omega_prime_penalty,
        }}
    return {}


def train(mode, data, args):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(args.seed)
    model = rk.zoo.build(
        "p4cnn",
        equivariance=mode,
        group=args.group[mode],
        num_classes=2,
        dropout=0.0,
        normalization=args.normalization,
        **options(mode, args),
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # The Gumbel temperature schedule only where a layer has mirrors.
    callbacks = [rk.callbacks.LearnedEquivarianceLogger(), *callbacks_for(model)]
    start = time.time()
    model.fit(
        x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
        verbose=2 if args.verbose else 0, callbacks=callbacks,
    )
    seconds = time.time() - start
    _, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    rows = rk.diagnostics.learned_equivariance(model)
    layer_errors = []
    if mode != "none" and model.get_layer("conv1").group.order % 4 == 0:
        layer_errors = rk.diagnostics.layerwise_equivariance_error(model, x_test[:32])
    return model, {
        "mode": mode,
        "group": args.group[mode],
        "params": model.count_params(),
        "test_accuracy": 100 * accuracy,
        "train_seconds": seconds,
        "learned_equivariance": rows,
        "layer_equivariance_error": layer_errors,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="rot180", choices=["rot180", "mirror"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--distribution-lr-factor", type=float, default=0.1,
        help="theta / mirror logit learn this much slower (paper: 0.1)",
    )
    parser.add_argument("--num-elements", type=int, default=8)
    parser.add_argument("--kernel-network", default="siren",
                        choices=["siren", "relu", "swish"],
                        help="kernel network of the partial model (paper Tab. 7)")
    parser.add_argument("--omega-prime", type=float, default=2.0,
                        help="initial omega'_theta of the soft layers (learned)")
    parser.add_argument("--omega-prime-penalty", type=float, default=1e-4)
    parser.add_argument(
        "--normalization", default="layer", choices=["layer", "batch"],
        help="per-image layer norm (default) or batch norm; with batch norm "
        "the soft nets relied on batch statistics (50 %% in inference mode)",
    )
    parser.add_argument("--modes", nargs="+", default=["none", "strict", "partial"],
                        choices=["none", "strict", "partial", "soft"])
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--source", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON results (+ .png plot)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "num_elements", "train_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    discrete = "p4" if args.task == "rot180" else "p4m"
    continuous = ("se2_" if args.task == "rot180" else "e2_") + str(args.num_elements)
    args.group = {"none": None, "strict": discrete, "partial": continuous,
                  "soft": "se2_" + str(args.num_elements)}
    if args.task == "mirror" and "soft" in args.modes:
        parser.error("soft layers are SE(2) only: use --task rot180")

    (x_train, y_train), test = rk.datasets.mnist6(args.task, source=args.source)
    if args.train_size:
        x_train, y_train = x_train[: args.train_size], y_train[: args.train_size]
    print(
        f"backend {keras.backend.backend()}: MNIST6-"
        f"{'180' if args.task == 'rot180' else 'M'}, {len(x_train)} train / "
        f"{len(test[0])} test images"
    )
    results, models = [], {}
    for mode in args.modes:
        model, row = train(mode, ((x_train, y_train), test), args)
        models[mode] = model
        results.append(row)
        print(f"{mode:<8} {row['group'] or '-':<7} params {row['params']:>6}  "
              f"test {row['test_accuracy']:6.2f} %  ({row['train_seconds']:.0f} s)")
    for row in results:
        if row["mode"] in ("partial", "soft"):
            print(f"\nLearned equivariance of the {row['mode']} model:")
            print(rk.diagnostics.format_learned_equivariance(row["learned_equivariance"]))
        if row["layer_equivariance_error"]:
            print(f"rot90 equivariance error per layer ({row['mode']}): " + ", ".join(
                f"{name} {error:.1e}" for name, error in row["layer_equivariance_error"]))
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            json.dump({"args": {k: v for k, v in vars(args).items()},
                       "backend": keras.backend.backend(),
                       "train_images": len(x_train), "results": results}, f, indent=2,
                      default=str)
        for mode in ("partial", "soft"):
            if mode in models:
                rk.diagnostics.learned_equivariance(
                    models[mode], plot=os.path.splitext(args.output)[0] + f"_{mode}.png"
                )
    return results


if __name__ == "__main__":
    main()
