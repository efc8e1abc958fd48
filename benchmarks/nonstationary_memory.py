"""Time and peak memory of the non-stationary (soft) layers against their
chunk size.

The layer alone in a Keras model (`jit_compile` Keras's "auto"), under the
current backend. Rows: the stationary fast path (translation ``omega' = 0``:
one convolution), then the position-dependent path (``omega' = 0.5``) for
each chunk size; training rows twice, with ``rematerialize=True`` (each
chunk in `keras.remat`, the default) and ``False``.

Each configuration runs in a fresh subprocess. Peak memory is the growth of
the resident set from just before the first call to its high-water mark
after the second (the first call's tracing included): the high-water mark
(``VmHWM``) is reset just before the first call by writing ``5`` to
``/proc/self/clear_refs`` (Linux), so memory that importing and building
touched earlier does not hide a smaller peak of the calls. Where that file
cannot be written, the growth of ``ru_maxrss`` is used instead (it can only
grow, and reads 0 when the calls stay below the import's peak, as the T(2)
rows of `compare.py` did before this reset). Time is the second call.
Forward: `predict_on_batch`; training: `train_on_batch` (SGD, mean squared
error: the backward pass of every trainable weight, the kernel network's
included). Prints a table with ratios to the fast path of the same shape.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/nonstationary_memory.py``
(the issue's T(2) layer, 32x32, 32 -> 32 channels, batch 64); ``--layer
se2`` for `NonStationaryGroupConv2D`; ``--smoke`` for a tiny CI-sized run.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

WORKER = r'''
import json, resource, sys, time
import numpy as np
import keras
sys.path.insert(0, {root!r})
import relaxed_keras as rk
cfg = json.loads(sys.argv[1])
size, channels, n, batch = cfg["size"], cfg["channels"], cfg["n"], cfg["batch"]
options = dict(padding="same", chunk_size=cfg["chunk"] or None,
               rematerialize=cfg["remat"], seed=0)
translation = 0.5 if cfg["chunk"] else 0.0
if cfg["layer"] == "conv2d":
    inputs = keras.Input((size, size, channels))
    outputs = keras.layers.Conv2D(channels, 3, padding="same")(inputs)
elif cfg["layer"] == "t2":
    inputs = keras.Input((size, size, channels))
    outputs = rk.layers.NonStationaryConv2D(
        channels, 3, omega_prime=translation, **options)(inputs)
else:
    group = rk.groups.SE2(n)
    inputs = keras.Input((size, size, n, channels))
    outputs = rk.layers.NonStationaryGroupConv2D(
        channels, 3, group, omega_prime=[translation, translation, 0.5],
        **options)([inputs, group.grid_elements()])[0]
model = keras.Model(inputs, outputs)
model.compile(optimizer="sgd", loss="mse")
rng = np.random.RandomState(0)
x = rng.rand(batch, *model.input_shape[1:]).astype("float32")
target = np.zeros((batch,) + tuple(model.output_shape[1:]), "float32")
if cfg["train"]:
    step = lambda: model.train_on_batch(x, target)
else:
    step = lambda: model.predict_on_batch(x)
def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kb("VmRSS")
except OSError:
    before = None
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
step()
start = time.perf_counter(); step(); seconds = time.perf_counter() - start
if before is not None:
    peak = status_kb("VmHWM") - before
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before
print(json.dumps({{"seconds": seconds, "peak_mb": max(peak, 0) / 1024.0}}))
'''


def measure(config, root=None):
    """One configuration in a fresh subprocess: ``{"seconds", "peak_mb"}``.

    ``config``: ``layer`` ("t2", "se2", or "conv2d": a `keras.layers.Conv2D`
    of the T(2) layer's shape, the baseline of the framework's own
    tracing and allocator growth), ``size``, ``channels``, ``n``,
    ``batch``, ``chunk`` (0: the stationary fast path), ``train``,
    ``remat``."""
    root = root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", WORKER.format(root=root), json.dumps(config)],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
        timeout=1800,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def build_parser():
    """The command line (`benchmarks/report.py` reads its defaults)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layer", choices=["t2", "se2"], default="t2")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--num-elements", type=int, default=8, help="se2 only")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--chunks", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--modes", nargs="+", choices=["forward", "train"],
                        default=["forward", "train"])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--output", default=None)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.size, args.channels, args.num_elements, args.batch = 6, 2, 2, 2
        args.chunks = [4]
    n = args.num_elements if args.layer == "se2" else 1
    import keras

    rows = []
    for mode in args.modes:
        base = dict(layer=args.layer, size=args.size, channels=args.channels, n=n,
                    batch=args.batch, train=mode == "train")
        reference = measure({**base, "chunk": 0, "remat": True})
        rows.append({"mode": mode, "path": "fast (one conv)", "chunk": "-",
                     "remat": "-", "reference": reference, **reference})
        for chunk in args.chunks:
            for remat in ([True, False] if mode == "train" else [True]):
                rows.append({"mode": mode, "path": "positions", "chunk": chunk,
                             "remat": remat if mode == "train" else "-",
                             "reference": reference,
                             **measure({**base, "chunk": chunk, "remat": remat})})
    layer = ("NonStationaryConv2D (T(2))" if args.layer == "t2"
             else f"NonStationaryGroupConv2D (SE(2), N={n})")
    print(f"backend {keras.backend.backend()}: {layer} {args.size}x{args.size}, "
          f"{args.channels}->{args.channels} channels, k=3, batch {args.batch}")
    print(f"{'mode':<9}{'path':<17}{'chunk':>7}{'remat':>7}{'time s':>10}"
          f"{'peak MB':>10}{'time x':>9}{'mem x':>8}")
    for row in rows:
        reference = row.pop("reference")
        print(f"{row['mode']:<9}{row['path']:<17}{row['chunk']!s:>7}"
              f"{row['remat']!s:>7}{row['seconds']:>10.3f}{row['peak_mb']:>10.1f}"
              f"{row['seconds'] / reference['seconds']:>9.1f}"
              f"{row['peak_mb'] / max(reference['peak_mb'], 1e-3):>8.1f}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d"),
                       "machine": f"{platform.machine()}, {os.cpu_count()} CPU "
                                  f"cores, Python {platform.python_version()}",
                       "args": vars(args), "backend": keras.backend.backend(),
                       "keras": keras.__version__, "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
