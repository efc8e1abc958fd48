"""The ``relaxed-keras`` command line: presets, training and reports.

Run ``relaxed-keras --help``; set ``KERAS_BACKEND`` to pick the backend.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from relaxed_keras.cli_output import fmt
from relaxed_keras.cli_output import plots
from relaxed_keras.cli_output import print_table
from relaxed_keras.cli_output import save_plots

DEFAULT_PRESET = "p4cnn_partial_mnist6_180"
# `--jit-compile` choices -> `model.compile(jit_compile=...)`.
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}
# `report` rotates at most this many test images (the default).
REPORT_TEST_SIZE = 500


def _positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 1. Received: {text!r}")
    return value


def _positive_float(text):
    """argparse type: a finite number > 0 (no NaN learning rate)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(
            f"expected a finite number > 0. Received: {text!r}")
    return value


def _check_classes(model, labels, dataset, preset):
    """A data set with more classes than the preset's head is an error, not
    a run that trains on out-of-range labels (silent on JAX, a traceback
    on TensorFlow)."""
    classes = int(model.output_shape[-1])
    needed = int(np.max(labels)) + 1 if len(labels) else 0
    if needed > classes:
        raise ValueError(
            f"data set {dataset!r} has labels up to {needed - 1}, but preset "
            f"{preset!r} predicts {classes} classes. Choose a data set with at "
            f"most {classes} classes (--dataset), or build a model for it with "
            "rk.zoo.build(..., num_classes=...)."
        )


def _dataset(meta, name=None, train_size=None, test_size=None):
    """Train/test data of a preset's data set (or ``name`` with its default
    arguments)."""
    from relaxed_keras.datasets import load_dataset

    recipe = meta.get("recipe")
    if not isinstance(recipe, dict) or not isinstance(recipe.get("dataset"), str):
        # A preset folder written by hand: its data set must be named.
        if name is None:
            raise ValueError(
                f"Preset {meta.get('name', '?')!r} has no training recipe with a "
                "data set in its metadata.json (presets written by `relaxed-keras "
                "train` or `finetune` have one); name the data set with --dataset."
            )
        recipe = {"dataset": None}
    if name is None or name == recipe["dataset"]:
        name, kwargs = recipe["dataset"], dict(recipe.get("dataset_args", {}))
        train_size = train_size or recipe.get("train_size")
        validation = recipe.get("validation_size", 0)
    else:
        kwargs, validation = {}, 0
    return name, load_dataset(
        name, train_size=train_size, validation_size=validation,
        test_size=test_size, **kwargs,
    )


def _accuracy(model, x, y, batch_size=256):
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    return 100.0 * float(np.mean(np.argmax(logits, axis=-1) == y))


def cmd_list(args):
    from relaxed_keras import zoo
    from relaxed_keras.zoo.cards import trainable_count

    if args.recipes:
        for name in zoo.list_recipes():
            print(name)
        return 0
    if args.architectures:
        for name in zoo.list_architectures():
            print(f"{name:14s} {zoo.describe(name)}")
        return 0
    rows = []
    for name in zoo.list_presets():
        meta = zoo.load_metadata(name)
        rows.append((name, meta["dataset"], f"{meta['test_accuracy']:.2f}",
                     f"{trainable_count(meta):,}"))
    print_table(("preset", "data set", "test acc. %", "trainable params"), rows)
    return 0


def cmd_info(args):
    from relaxed_keras.zoo import presets

    folder = presets.preset_path(args.name)
    if args.json:
        meta = presets.load_metadata(args.name)
        meta.pop("probe_logits", None)
        print(json.dumps(meta, indent=2))
    else:
        with open(os.path.join(folder, presets.CARD_FILE)) as f:
            print(f.read())
    return 0


def cmd_evaluate(args):
    import keras

    from relaxed_keras import zoo

    meta = zoo.load_metadata(args.name)
    name, data = _dataset(meta, args.dataset, train_size=1, test_size=args.test_size)
    model = zoo.load(args.name)
    x, y = data["test"]
    _check_classes(model, y, name, args.name)
    start = time.time()
    accuracy = _accuracy(model, x, y)
    rows = [(args.name, name, len(y), f"{accuracy:.2f}",
             f"{meta['test_accuracy']:.2f}"
             if name == meta.get("dataset") and "test_accuracy" in meta else "-",
             f"{time.time() - start:.1f}")]
    print(f"backend: {keras.backend.backend()}")
    print_table(("preset", "data set", "images", "accuracy %", "card %", "seconds"), rows)
    return 0


def cmd_report(args):
    from relaxed_keras import diagnostics
    from relaxed_keras import zoo

    meta = zoo.load_metadata(args.name)
    _, data = _dataset(meta, None, train_size=1, test_size=args.test_size)
    model = zoo.load(args.name)
    os.makedirs(args.output, exist_ok=True)
    x, y = data["test"]
    if args.test_size is None:
        # The default: at most REPORT_TEST_SIZE images (MNIST6's test sets
        # have 200, and a fixed 500 used to refuse them).
        x, y = x[:REPORT_TEST_SIZE], y[:REPORT_TEST_SIZE]
    rows, sweep, paths = save_plots(model, x, y, args.output, args.name)
    print(diagnostics.format_learned_equivariance(rows) if rows
          else "(no group layers)")
    print()
    print_table(("angle", "accuracy %"),
                 [(f"{r['angle']:.0f}", f"{100 * r['accuracy']:.2f}") for r in sweep])
    for key, path in paths.items():
        print(f"{key} plot: {path}")
    return 0


def cmd_finetune(args):
    import keras

    from relaxed_keras import diagnostics
    from relaxed_keras import zoo
    from relaxed_keras.zoo import presets
    from relaxed_keras.zoo import recipes
    from relaxed_keras.zoo import training
    from relaxed_keras.zoo.saving import save_preset

    devices = training.set_distribution(args.distribute)
    meta = zoo.load_metadata(args.name)
    name, data = _dataset(meta, args.dataset, train_size=args.train_size,
                          test_size=args.test_size)
    (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
    print(f"backend: {keras.backend.backend()}, devices: {devices}, dtype policy: "
          f"{keras.config.dtype_policy().name}; "
          f"data set {name}: {len(y_train)} training / {len(y_test)} test images")
    # Before loading: the seeds of the dropout and sampling layers are drawn
    # when the model is built (a later seed left the run unreproducible).
    keras.utils.set_random_seed(args.seed)
    model = zoo.load(args.name, learning_rate=args.learning_rate,
                     jit_compile=JIT_COMPILE[args.jit_compile])
    _check_classes(model, np.concatenate([y_train, y_test]), name, args.name)
    # The new preset's recipe, checked before training. A hand-written
    # preset folder may lack one: its config.json names the architecture.
    config = presets.load_config(args.name)
    base = meta.get("recipe") if isinstance(meta.get("recipe"), dict) else {
        "architecture": config["architecture"], "model": config.get("config", {})}
    recipe = dict(base, dataset=name, epochs=args.epochs,
                  learning_rate=args.learning_rate, batch_size=args.batch_size,
                  train_size=args.train_size, test_size=args.test_size,
                  seed=args.seed, finetuned_from=args.name)
    if recipe["dataset"] != base.get("dataset"):
        # The preset's data-set arguments belong to its own data set.
        recipe["dataset_args"] = {}
    recipes.validate_recipe(recipe, source="The fine-tuning recipe")
    keras.utils.set_random_seed(args.seed)
    before = (
        _accuracy(model, x_test, y_test),
        diagnostics.equivariance_error(
            model, x_test[:32], group="p4", metric="relative"
        ),
        diagnostics.learned_equivariance(model),
    )
    start = time.time()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              callbacks=training.callbacks_for(model), verbose=args.verbose)
    seconds = time.time() - start
    # One measurement of the fine-tuned model serves the table, the plots
    # and the new preset's metadata.
    measured = training.measure(model, x_test, y_test)
    print()
    print_table(
        ("model", "test accuracy %", "rot90 invariance error"),
        [("pretrained", f"{before[0]:.2f}", f"{before[1]:.2e}"),
         (f"fine-tuned ({args.epochs} epochs, {seconds:.0f} s)",
          f"{measured['test_accuracy']:.2f}",
          f"{measured['rot90_invariance_error']:.2e}")],
    )
    os.makedirs(args.output, exist_ok=True)
    rows = measured["learned_equivariance"]
    sweep = [{"angle": r["angle"], "accuracy": r["accuracy"] / 100.0}
             for r in measured["rotation_sweep"]]
    paths = plots(rows, sweep, args.output, args.name)
    print()
    print("Learned equivariance per layer (pretrained -> fine-tuned):")
    print_table(
        ("layer", "type", "rotation range (deg)", "mirror prob.", "omega'"),
        [(new["layer"], new["type"],
          *(f"{fmt(old.get(key))} -> {fmt(new.get(key))}"
            for key in ("rotation_range_deg", "mirror_probability", "omega_prime")))
         for old, new in zip(before[2], rows)] or [("-", "(no group layers)", "", "", "")],
    )
    new_meta = {
        "recipe": recipe, "dataset": name,
        "split": {"train_images": int(len(y_train)), "validation_images": 0,
                  "test_images": int(len(y_test)),
                  "note": f"fine-tuned from {args.name}"},
        "train_seconds": round(seconds, 1),
        "accuracy_before_finetuning": round(before[0], 3),
        "environment": training.environment(devices),
        **measured,
    }
    target = os.path.join(args.output, "preset")
    save_preset(model, target, config["architecture"], new_meta)
    print()
    print(f"fine-tuned preset: {target} (load with rk.zoo.load({target!r}))")
    for key, path in paths.items():
        print(f"{key} plot: {path}")
    return 0


def cmd_train(args):
    from relaxed_keras.zoo import recipes
    from relaxed_keras.zoo import training

    recipe = recipes.get_recipe(args.recipe)
    name = args.recipe if isinstance(args.recipe, str) and not os.path.isfile(
        args.recipe) else "custom"
    output = args.output or os.path.join("presets", name)
    if os.path.isdir(output) and os.listdir(output) and not args.overwrite:
        raise ValueError(
            f"--output {output} exists and is not empty; pass --overwrite to "
            "replace it, or choose another folder."
        )
    state_dir = args.state_dir or os.path.join("training_state", name)
    try:
        _, meta = training.train_recipe(
            recipe, output=output, distribute=args.distribute,
            epochs=args.epochs, train_size=args.train_size,
            test_size=args.test_size, verbose=args.verbose,
            jit_compile=JIT_COMPILE[args.jit_compile], state_dir=state_dir,
        )
    except KeyboardInterrupt:
        # Nothing is written to --output before the last epoch; the state
        # folder holds every finished epoch.
        print(f"relaxed-keras train: interrupted; the same command resumes "
              f"from {state_dir}", file=sys.stderr)
        return 130
    print(f"{name}: test accuracy {meta['test_accuracy']:.2f} % on "
          f"{meta['test_images']} images, {meta['train_seconds']:.0f} s; "
          f"preset written to {output}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="relaxed-keras",
        description="Pretrained relaxed group-equivariant models for Keras 3 "
        "(KERAS_BACKEND=tensorflow|jax|torch).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list presets (or recipes, architectures)")
    p.add_argument("--recipes", action="store_true")
    p.add_argument("--architectures", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="print a preset's model card")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print metadata.json")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("evaluate", help="test accuracy of a preset")
    p.add_argument("name")
    p.add_argument("--dataset", default=None, help="default: the preset's")
    p.add_argument("--test-size", type=_positive_int, default=None)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="learned equivariance + rotation plot")
    p.add_argument("name")
    p.add_argument("--output", default="report")
    p.add_argument("--test-size", type=_positive_int, default=None,
                   help=f"default: the first {REPORT_TEST_SIZE} test images "
                   "(all when fewer)")
    p.set_defaults(func=cmd_report)

    for command, func, help_text in (
        ("finetune", cmd_finetune, "fine-tune a preset with model.fit"),
        ("train", cmd_train, "train a recipe into a preset folder"),
    ):
        p = sub.add_parser(command, help=help_text)
        if command == "finetune":
            p.add_argument("name", nargs="?", default=DEFAULT_PRESET)
            p.add_argument("--dataset", default=None, help="default: the preset's")
            p.add_argument("--output", default="finetuned")
            p.add_argument("--learning-rate", type=_positive_float, default=5e-4)
            p.add_argument("--batch-size", type=_positive_int, default=32)
            p.add_argument("--seed", type=int, default=0)
            p.add_argument("--epochs", type=_positive_int, default=2)
        else:
            p.add_argument("recipe", help="recipe name (list --recipes) or JSON file")
            p.add_argument("--output", default=None,
                           help="preset folder to write (default presets/NAME)")
            p.add_argument("--overwrite", action="store_true",
                           help="replace an existing, non-empty --output")
            p.add_argument("--state-dir", default=None,
                           help="resumable training state, checkpointed every "
                           "epoch; a rerun continues there (default "
                           "training_state/NAME; deleted once the preset is "
                           "written)")
            p.add_argument("--epochs", type=_positive_int, default=None)
        p.add_argument("--train-size", type=_positive_int, default=None)
        p.add_argument("--test-size", type=_positive_int, default=None)
        p.add_argument("--distribute", choices=("none", "data_parallel"),
                       default="none",
                       help="data_parallel: keras.distribution.DataParallel "
                       "over all local devices (JAX backend)")
        p.add_argument("--dtype-policy", default="float32",
                       choices=("float32", "mixed_bfloat16", "mixed_float16"),
                       help="Keras dtype policy of the model's layers (mixed: "
                       "float32 weights, low-precision convolutions)")
        p.add_argument("--jit-compile", default="auto", choices=tuple(JIT_COMPILE),
                       help="model.compile's jit_compile (auto: Keras's choice; "
                       "on: torch trains the strict P4CNN 1.3-1.5x faster per "
                       "step after minutes of compilation, BENCHMARKS.md)")
        p.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2))
        p.set_defaults(func=func)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # Before any computation: XLA reads its flags once (see xla_cpu and
    # backend_policy.BRANCHES["xla_eigen_convolutions"]).
    from relaxed_keras import backend_policy
    from relaxed_keras import xla_cpu

    if backend_policy.active("xla_eigen_convolutions"):
        xla_cpu.use_eigen_convolutions()
    policy = getattr(args, "dtype_policy", None)
    previous = None
    if policy is not None:
        import keras

        # Layers read the global policy when they are built.
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(policy)
    try:
        return args.func(args)
    except ValueError as error:
        print(f"relaxed-keras {args.command}: error: {error}", file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            keras.config.set_dtype_policy(previous)


if __name__ == "__main__":
    sys.exit(main())
