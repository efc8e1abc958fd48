"""Speed of relaxed_keras against PyTorch peers and the dense limit.

One command measures, in one run on one machine:

* per Keras backend (each in its own subprocess), the library's workloads
  and the **dense limit** (an ordinary Keras CNN / `Conv2D` with the same
  expanded convolution shapes, on the same backend):
  1. P4CNN (zoo ``p4cnn``, 28x28x1): training images/s through `fit`,
     inference images/s through `predict`; the dense limit is ``z2cnn``
     with ``width = 10 * |G|`` channels;
  2. one strict p4 group conv, 32x32, 32 -> 32 channels per element, k=3:
     forward + backward (one `train_on_batch` step); dense limit `Conv2D`
     128 -> 128;
  3. `ContinuousGroupConv2D` and `PartialGroupConv2D` on SE(2), N=8, 32x32,
     16 channels: forward + backward; dense limit `Conv2D` 128 -> 128;
  4. `NonStationaryConv2D` (translation relaxed, T(2)), 32x32, 32 -> 32,
     k=3: forward + backward and peak memory; against `Conv2D` 32 -> 32;
  5. `RelaxedGroupConv2D` (L=3) against the strict group conv of workload 2.
* in this process, the PyTorch references (`torch_references.py`): e2cnn's ``R2Conv`` P4CNN (train
  and cached eval mode) and a plain PyTorch P4CNN that rotates its kernels
  with ``torch.rot90`` and calls ``conv2d``; and their single p4 layer.

Batch 64, float32, 2 CPU threads: every contender (each Keras worker and
the PyTorch references) runs pinned to the same 2 cores
(`os.sched_setaffinity`, Linux), with TensorFlow's and torch's thread pools
set to 2 too: on a bigger machine TensorFlow and JAX would otherwise use
every core while the references used 2. The table of ratios comes last. The
Keras workers run JAX with XLA's Eigen convolution kernels, as the
``relaxed-keras`` command line does (`relaxed_keras.xla_cpu`); add
``--backends ... jax-xla-default`` to measure XLA's default (YNNPACK) too.

Run: ``python benchmarks/compare.py`` (``--smoke`` for a tiny CI run,
``--backends jax``, ``--output results/benchmarks.json``). ``--device gpu``
measures on the first CUDA device instead (Keras's JAX and torch backends
place work there by themselves; the PyTorch references move their models
and data there and synchronise before every clock reading; peak memory is
the device allocator's peak; more images per P4CNN epoch, so the GPU's
per-epoch overhead does not dominate). On a CPU, peak memory is the growth
of the resident set of a fresh process running two training steps of the
layer (`nonstationary_memory.measure`).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from timing import best_seconds as _best_seconds  # noqa: E402
from timing import device_name as _device_name  # noqa: E402
from timing import gpu_peak_memory_mb as _gpu_peak_memory_mb  # noqa: E402
from timing import limit_cpus  # noqa: E402,F401 (interleaved.py)
from torch_references import torch_references  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")
# Measured with --backends only: JAX with XLA's default convolution kernels.
EXTRA_BACKENDS = ("jax-xla-default",)


# ---------------------------------------------------------- keras worker
def tf_data_pipelines(x, y, batch):
    """(train, test) `tf.data` pipelines without autotuning: the
    workaround for TensorFlow's iterator-destruction wait (docs/known_limits.md)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    train = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x))
             .batch(batch).prefetch(1).with_options(options))
    test = (tf.data.Dataset.from_tensor_slices(x).batch(batch)
            .prefetch(1).with_options(options))
    return train, test


def keras_worker(cfg):
    """Measure the Keras workloads on the current backend."""
    sys.path.insert(0, ROOT)
    cores = limit_cpus(cfg["threads"]) if cfg.get("device") != "gpu" else None
    from relaxed_keras import xla_cpu

    # What the relaxed-keras command line does; the "-xla-default" rows
    # keep XLA's own convolution kernels (YNNPACK) for comparison.
    if not cfg.get("xla_default"):
        xla_cpu.use_eigen_convolutions()
    import keras
    import numpy as np

    import relaxed_keras as rk

    batch, repeats = cfg["batch"], cfg["repeats"]
    size = cfg["size"]
    rng = np.random.RandomState(0)
    out = {"backend": keras.backend.backend(), "keras": keras.__version__,
           "xla_flags": os.environ.get("XLA_FLAGS", ""), "cpu_cores": cores}
    gpu = cfg.get("device") == "gpu"
    out["device"] = _device_name()
    if gpu and "cpu" in out["device"].lower():
        raise RuntimeError(f"--device gpu, but {out['backend']} runs on "
                           f"{out['device']}")

    def fit_throughput(model, jit_compile, pipeline="numpy"):
        """``pipeline``: ``"numpy"`` (arrays straight into `fit`/`predict`)
        or ``"tf.data"`` (TensorFlow only: a `tf.data.Dataset` with
        ``options.autotune.enabled = False``, the workaround for the
        iterator-destruction wait described in docs/known_limits.md)."""
        import gc

        images = cfg["images"]
        x = rng.rand(images, 28, 28, 1).astype("float32")
        y = rng.randint(0, 10, images)
        model.compile(optimizer="adam", jit_compile=jit_compile,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        if pipeline == "tf.data":
            train, test = tf_data_pipelines(x, y, batch)
            fit_args, predict_args = (train,), (test,)
            # Warm-up calls trace with the pipeline's own element spec.
            warm_fit, warm_predict = (train.take(1),), (test.take(1),)
            kwargs = {}
        else:
            fit_args, predict_args = (x, y), (x,)
            warm_fit, warm_predict = (x[:batch], y[:batch]), (x[:batch],)
            kwargs = {"batch_size": batch}
        model.fit(*warm_fit, epochs=1, verbose=0, **kwargs)
        # Iterators left by the previous workload are destroyed here, not
        # inside its successor's timing (TensorFlow's iterator destructor
        # can wait, see above); repeats of one workload keep the wait, as
        # the epochs of one long `fit` do.
        gc.collect()
        seconds = _best_seconds(
            lambda: model.fit(*fit_args, epochs=1, verbose=0, **kwargs),
            repeats, warmup=0)
        model.predict(*warm_predict, verbose=0, **kwargs)
        gc.collect()
        infer = _best_seconds(
            lambda: model.predict(*predict_args, verbose=0, **kwargs),
            repeats, warmup=0)
        return images / seconds, images / infer

    for jit in cfg["jit"]:
        key = f"jit={jit}"
        pipelines = ["numpy"]
        if keras.backend.backend() == "tensorflow":
            pipelines.insert(0, "tf.data")
        for pipeline in pipelines:
            suffix = "" if pipeline == "numpy" else "_tfdata"
            keras.utils.set_random_seed(0)
            p4 = rk.zoo.build("p4cnn", equivariance="strict")
            dense = rk.zoo.build("z2cnn", equivariance="none", width=10 * 4)
            out[f"p4cnn_train{suffix}/{key}"], out[f"p4cnn_infer{suffix}/{key}"] = (
                fit_throughput(p4, jit, pipeline))
            (out[f"dense_p4cnn_train{suffix}/{key}"],
             out[f"dense_p4cnn_infer{suffix}/{key}"]) = fit_throughput(dense, jit, pipeline)

    def step_seconds(layer, input_shape, wrap=None):
        inputs = keras.Input(input_shape[1:])
        y = layer(inputs) if wrap is None else wrap(layer, inputs)
        model = keras.Model(inputs, y)
        model.compile(optimizer="sgd", loss="mse")
        # Backend tensors, converted before the clock starts, as the
        # PyTorch references hold theirs.
        x = keras.ops.convert_to_tensor(rng.rand(*input_shape).astype("float32"))
        target = keras.ops.zeros(
            (input_shape[0],) + tuple(model.output_shape[1:]), "float32")
        return _best_seconds(lambda: model.train_on_batch(x, target), repeats)

    c = cfg["channels"]
    p4 = rk.groups.get("p4")
    out["gconv_p4"] = step_seconds(
        rk.layers.GroupConv2D(c, 3, p4, padding=1, use_bias=False),
        (batch, size, size, 4, c))
    out["dense_gconv_p4"] = step_seconds(
        keras.layers.Conv2D(4 * c, 3, padding="same", use_bias=False),
        (batch, size, size, 4 * c))
    out["relaxed_gconv_p4"] = step_seconds(
        rk.layers.RelaxedGroupConv2D(c, 3, p4, num_filter_banks=3, padding=1,
                                     use_bias=False),
        (batch, size, size, 4, c))

    n, cc = cfg["continuous_elements"], cfg["continuous_channels"]
    se2 = rk.groups.SE2(num_elements=n)

    def with_elements(layer, inputs):
        elements = se2.grid_elements()
        return layer([inputs, elements])[0]

    out["continuous_se2"] = step_seconds(
        rk.layers.ContinuousGroupConv2D(cc, 3, se2, padding=1),
        (batch, size, size, n, cc), wrap=with_elements)
    out["partial_se2"] = step_seconds(
        rk.layers.PartialGroupConv2D(cc, 3, se2, padding=1),
        (batch, size, size, n, cc), wrap=with_elements)
    out["dense_se2"] = step_seconds(
        keras.layers.Conv2D(n * cc, 3, padding="same"),
        (batch, size, size, n * cc))

    before = _gpu_peak_memory_mb(reset=True) if gpu else None
    out["nonstationary_t2"] = step_seconds(
        rk.layers.NonStationaryConv2D(c, 3, omega_prime=1.0, padding=1,
                                      chunk_size=cfg["chunk"]),
        (batch, size, size, c))
    if gpu:
        after = _gpu_peak_memory_mb()
        out["nonstationary_t2_peak_mb"] = (
            None if after is None else max(0.0, after - before))
    else:
        # This process's resident peak was set by the P4CNN workloads
        # (the in-process difference read 0 MB): two training steps of the
        # same layer in a fresh process instead, and of a Conv2D of the
        # same shape (the baseline: that growth includes the framework's
        # own tracing and allocator, 120-140 MB for one convolution).
        import nonstationary_memory

        shape = dict(size=size, channels=c, n=1, batch=batch, train=True,
                     remat=True)
        out["nonstationary_t2_peak_mb"] = nonstationary_memory.measure(dict(
            shape, layer="t2", chunk=cfg["chunk"]))["peak_mb"]
        out["dense_t2_peak_mb"] = nonstationary_memory.measure(dict(
            shape, layer="conv2d", chunk=0))["peak_mb"]
    out["dense_t2"] = step_seconds(
        keras.layers.Conv2D(c, 3, padding="same"), (batch, size, size, c))
    return out


# ------------------------------------------------------------------ main
def configs(smoke, device="cpu"):
    if smoke:
        return {"batch": 8, "repeats": 1, "images": 16, "size": 8, "channels": 4,
                "continuous_elements": 4, "continuous_channels": 2, "chunk": 16,
                "threads": 2, "jit": ["auto"], "device": device}
    if device == "gpu":
        # 8,192 images per P4CNN epoch (128 steps): a 512-image epoch of 8
        # steps is mostly per-epoch overhead on a GPU.
        return {"batch": 64, "repeats": 5, "images": 8192, "size": 32,
                "channels": 32, "continuous_elements": 8, "continuous_channels": 16,
                "chunk": 64, "threads": os.cpu_count(), "jit": ["auto"],
                "device": device}
    return {"batch": 64, "repeats": 5, "images": 512, "size": 32, "channels": 32,
            "continuous_elements": 8, "continuous_channels": 16, "chunk": 64,
            "threads": 2, "jit": [False, True], "device": device}


def run_backend(backend, cfg):
    """``backend``: a Keras backend, or ``jax-xla-default`` (JAX with XLA's
    default convolution kernels instead of `use_eigen_convolutions`)."""
    keras_backend = backend.split("-")[0]
    cfg = dict(cfg, xla_default=backend.endswith("-xla-default"))
    threads = str(cfg["threads"])
    env = dict(os.environ, KERAS_BACKEND=keras_backend, TF_CPP_MIN_LOG_LEVEL="3",
               OMP_NUM_THREADS=threads, TF_NUM_INTRAOP_THREADS=threads,
               TF_NUM_INTEROP_THREADS=threads)
    result = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)],
        capture_output=True, text=True, env=env, timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{backend} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def ratio_rows(results, refs):
    """(workload, backend, value, reference, ratio, target) rows."""
    rows = []
    for backend, r in results.items():
        runs = [(suffix, k.split("/")[1]) for suffix in ("", "_tfdata")
                for k in r if k.startswith(f"p4cnn_train{suffix}/")]
        for suffix, jit in runs:
            tr, inf = r[f"p4cnn_train{suffix}/{jit}"], r[f"p4cnn_infer{suffix}/{jit}"]
            label = f"{backend} {jit}" + (" tf.data" if suffix else "")
            rows.append(("P4CNN train img/s", label, tr, "dense limit",
                         r[f"dense_p4cnn_train{suffix}/{jit}"] / tr, "<= 1.05"))
            if refs.get("e2cnn_p4cnn_train"):
                rows.append(("P4CNN train img/s", label, tr, "e2cnn",
                             refs["e2cnn_p4cnn_train"] / tr, "<= 1 (fastest <= 0.67)"))
            rows.append(("P4CNN train img/s", label, tr, "plain torch",
                         refs["torch_p4cnn_train"] / tr, "-"))
            rows.append(("P4CNN predict img/s", label, inf, "dense limit",
                         r[f"dense_p4cnn_infer{suffix}/{jit}"] / inf, "<= 1.05"))
            if refs.get("e2cnn_p4cnn_infer"):
                rows.append(("P4CNN predict img/s", label, inf, "e2cnn eval",
                             refs["e2cnn_p4cnn_infer"] / inf, "fastest <= 0.67"))
            rows.append(("P4CNN predict img/s", label, inf, "plain torch",
                         refs["torch_p4cnn_infer"] / inf, "-"))
        rows.append(("p4 gconv fwd+bwd s", backend, r["gconv_p4"], "dense limit",
                     r["gconv_p4"] / r["dense_gconv_p4"], "<= 1.05"))
        rows.append(("p4 gconv fwd+bwd s", backend, r["gconv_p4"], "plain torch",
                     r["gconv_p4"] / refs["torch_gconv_p4"], "-"))
        rows.append(("relaxed L=3 fwd+bwd s", backend, r["relaxed_gconv_p4"],
                     "strict gconv", r["relaxed_gconv_p4"] / r["gconv_p4"], "-"))
        for key, name in (("continuous_se2", "continuous SE(2) N=8"),
                          ("partial_se2", "partial SE(2) N=8")):
            rows.append((f"{name} fwd+bwd s", backend, r[key], "dense limit",
                         r[key] / r["dense_se2"], "-"))
        peak, dense_peak = (r["nonstationary_t2_peak_mb"],
                            r.get("dense_t2_peak_mb"))
        memory = "peak n/a" if peak is None else f"peak {peak:.0f} MB"
        if peak is not None and dense_peak is not None:
            memory += f" (Conv2D {dense_peak:.0f} MB)"
        rows.append(("non-stationary T(2) fwd+bwd s", backend, r["nonstationary_t2"],
                     "Conv2D", r["nonstationary_t2"] / r["dense_t2"], memory))
    return rows


def format_table(rows):
    lines = ["| workload | backend | value | reference | ratio | target |",
             "| --- | --- | --- | --- | --- | --- |"]
    for workload, backend, value, ref, ratio, target in rows:
        lines.append(f"| {workload} | {backend} | {value:.4g} | {ref} | "
                     f"{ratio:.2f} | {target} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS),
                        choices=list(BACKENDS + EXTRA_BACKENDS),
                        help="jax-xla-default: JAX without "
                             "relaxed_keras.xla_cpu.use_eigen_convolutions")
    parser.add_argument("--output", default=None, help="JSON results")
    parser.add_argument("--markdown", default=None,
                        help="write the ratio table as markdown here")
    parser.add_argument("--jit", nargs="+", default=None,
                        choices=["auto", "False", "True"],
                        help="jit_compile settings of the P4CNN workload "
                             "(default: False and True; auto in --smoke)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"],
                        help="gpu: the first CUDA device (jax and torch)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        print(json.dumps(keras_worker(json.loads(args.worker))))
        return None
    cfg = configs(args.smoke, args.device)
    if args.jit:
        cfg["jit"] = [{"False": False, "True": True}.get(j, j) for j in args.jit]
    # The references run in this process (pinned while they run, so that
    # a caller's process, e.g. a test, keeps its cores); the workers pin
    # themselves.
    affinity = (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity")
                else None)
    try:
        if cfg["device"] != "gpu":
            cfg["cpu_cores"] = limit_cpus(cfg["threads"])
        refs = torch_references(cfg)
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    results, failures = {}, {}
    for backend in args.backends:
        try:
            results[backend] = run_backend(backend, cfg)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            failures[backend] = str(error)
            print(f"{backend}: FAILED\n{error}", file=sys.stderr)
    rows = ratio_rows(results, refs)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/compare.py"
                   + (" --smoke" if args.smoke else "")
                   + (" --device gpu" if args.device == "gpu" else "")
                   + (" --backends " + " ".join(args.backends)
                      if list(args.backends) != list(BACKENDS) else "")
                   + (" --jit " + " ".join(args.jit) if args.jit else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                   f"Python {platform.python_version()}"
                   + (f", GPU {refs.get('device')}" if args.device == "gpu" else ""),
        "failures": failures,
        "config": cfg, "references": refs, "results": results,
    }
    if args.output:
        with open(args.output, "w") as f:
            json.dump(report, f, indent=2)
    versions = "; ".join(
        f"{b}: keras {r['keras']}" for b, r in results.items())
    header = (f"Machine: {report['machine']}; torch {refs['torch']}, e2cnn "
              f"{refs.get('e2cnn')}; {versions}. Command: `{report['command']}`.")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(header + "\n\n" + format_table(rows) + "\n")
    print(header)
    print("ratio = our time / the reference's time for the same work "
          "(< 1: ours is faster; throughputs are inverted accordingly)")
    print(format_table(rows))
    if failures:
        raise SystemExit(f"failed backends: {sorted(failures)}")
    return report


if __name__ == "__main__":
    main()
