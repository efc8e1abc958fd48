"""Read and plot how much equivariance each layer of a preset learned.

Run: ``python examples/learned_equivariance.py [PRESET] [--plot out.png]``
"""

import argparse

import relaxed_keras as rk

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("preset", nargs="?", default="p4cnn_partial_mnist6_180")
parser.add_argument("--plot", default=None, help="PNG to write (default: none)")
args = parser.parse_args()

model = rk.zoo.load(args.preset, compile=False)
rows = rk.diagnostics.learned_equivariance(model)
if not rows:  # a plain CNN (mode "none")
    raise SystemExit(f"{args.preset} has no group layers: nothing to report")
print(rk.diagnostics.format_learned_equivariance(rows))
if args.plot:
    rk.diagnostics.plot_learned_equivariance(rows, args.plot)
    print(f"plot: {args.plot}")

# How far the features are from 90-degree equivariance after each layer.
meta = rk.zoo.load_metadata(args.preset)
data = rk.datasets.load_dataset(
    meta["dataset"], test_size=16, **meta["recipe"].get("dataset_args", {})
)
x_test, _ = data["test"]
for layer, error in rk.diagnostics.layerwise_equivariance_error(model, x_test):
    print(f"{layer:10s} rot90 equivariance error {error:.2e}")
