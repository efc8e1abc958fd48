"""Time and peak memory of the position-dependent (non-stationary) path
against its chunk size.

Each configuration runs in a fresh subprocess; peak memory is the growth of
the process's maximum resident set size (``ru_maxrss``) over one forward
pass (inference) or one forward + backward pass (``--train``) over the
process's size after building the inputs (a warm-up call on a 1-image batch
comes first and is included; the timed call is the second). Prints a table with ratios to the
stationary fast path (one convolution) of the same shape.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/nonstationary_memory.py``
(``--smoke`` for a tiny CI-sized run).
"""

import argparse
import json
import os
import subprocess
import sys

WORKER = r'''
import json, resource, sys, time
import numpy as np
import keras
from keras import ops
sys.path.insert(0, {root!r})
import relaxed_keras as rk
cfg = json.loads(sys.argv[1])
size, channels, n, batch = cfg["size"], cfg["channels"], cfg["n"], cfg["batch"]
omega_prime = [0.5, 0.5, 0.5] if cfg["chunk"] else [0.0, 0.0, 0.5]
layer = rk.layers.NonStationaryGroupConv2D(
    channels, 3, rk.groups.SE2(n), omega_prime=omega_prime, padding="same",
    chunk_size=cfg["chunk"] or None)
x = np.random.rand(batch, size, size, n, channels).astype("float32")
elements = rk.groups.SE2(n).grid_elements()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
layer([x[:1], elements])
def run():
    if cfg["train"]:
        from tests.helpers import gradient
        values = [ops.convert_to_tensor(v) for v in layer.trainable_variables]
        index = len(values) - 1
        def loss(w):
            current = list(values); current[index] = w
            (y, _), _ = layer.stateless_call(current, [ops.convert_to_tensor(v) for v in layer.non_trainable_variables], [x, elements])
            return ops.sum(y)
        return gradient(loss, ops.convert_to_numpy(values[index]))
    return layer([x, elements])[0]
start = time.perf_counter(); ops.convert_to_numpy(run()); seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"seconds": seconds, "peak_mb": peak / 1024.0}}))
'''


def measure(config, root):
    result = subprocess.run(
        [sys.executable, "-c", WORKER.format(root=root), json.dumps(config)],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=1200,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--num-elements", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--chunks", type=int, nargs="+", default=[16, 64, 256, 1024])
    parser.add_argument("--train", action="store_true", help="forward + backward")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.channels, args.num_elements, args.batch = 6, 2, 2, 2
        args.chunks = [4, 36]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    import keras

    rows = []
    base = dict(size=args.size, channels=args.channels, n=args.num_elements,
                batch=args.batch, train=args.train)
    reference = measure({**base, "chunk": 0}, root)
    rows.append({"path": "fast (one conv)", "chunk": "-", **reference})
    for chunk in args.chunks:
        rows.append({"path": "positions", "chunk": chunk,
                     **measure({**base, "chunk": chunk}, root)})
    print(f"backend {keras.backend.backend()}: NonStationaryGroupConv2D "
          f"{args.size}x{args.size}, {args.channels}->{args.channels} channels, "
          f"k=3, N={args.num_elements}, batch {args.batch}, "
          f"{'forward+backward' if args.train else 'forward'}")
    print(f"{'path':<18}{'chunk':>7}{'time s':>10}{'peak MB':>10}{'time x':>9}{'mem x':>8}")
    for row in rows:
        print(f"{row['path']:<18}{row['chunk']!s:>7}{row['seconds']:>10.3f}"
              f"{row['peak_mb']:>10.1f}{row['seconds'] / reference['seconds']:>9.1f}"
              f"{row['peak_mb'] / max(reference['peak_mb'], 1e-3):>8.1f}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"args": vars(args), "backend": keras.backend.backend(),
                       "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
