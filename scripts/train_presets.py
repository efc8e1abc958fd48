"""Re-train shipped presets from their recipes (all by default).

Usage: KERAS_BACKEND=tensorflow python scripts/train_presets.py [NAME ...]
       [--output-root relaxed_keras/zoo/presets]
Each preset is written to OUTPUT_ROOT/NAME; failures are reported at the end.
Each training checkpoints every epoch into training_state/NAME, so the same
command run again resumes an interrupted preset at its next epoch.
"""

import argparse
import os
import sys
import traceback

from relaxed_keras.zoo.recipes import list_recipes
from relaxed_keras.zoo.training import train_recipe

ORDER = ("mnist6_180", "noisy_rotated_mnist", "mnist6_m", "_fashion_mnist",
         "rotated_fashion_mnist")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--output-root", default=os.path.join(
        os.path.dirname(__file__), "..", "relaxed_keras", "zoo", "presets"))
    args = parser.parse_args()
    names = args.names or sorted(
        list_recipes(),
        key=lambda n: next(i for i, s in enumerate(ORDER) if n.endswith(s)),
    )
    failed = []
    for name in names:
        print(f"=== {name}", flush=True)
        try:
            _, meta = train_recipe(
                name, output=os.path.join(args.output_root, name), verbose=2,
                state_dir=os.path.join("training_state", name),
            )
            print(f"=== {name}: test accuracy {meta['test_accuracy']:.2f} %, "
                  f"{meta['train_seconds']:.0f} s", flush=True)
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        print("FAILED:", failed)
        sys.exit(1)


if __name__ == "__main__":
    main()
