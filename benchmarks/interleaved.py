"""P4CNN throughput against e2cnn and the dense limit, in interleaved rounds.

`compare.py` measures each contender once, one after another: e2cnn at the
start, each Keras backend minutes later. This machine's speed drifts over
minutes, so a ratio between two such measurements moves with it (torch
compiled training read 1.59x, 1.61x and 1.32x e2cnn's throughput in three
runs of one day, while our own throughput moved by 9 %). Here every
contender stays loaded and warm for the whole run: one process per Keras
backend (its P4CNN and its dense limit, compiled once), e2cnn and the plain
PyTorch P4CNN in this process, all pinned to the same cores. Each round
times one training epoch and one `predict` pass of every contender in turn,
seconds apart, and rotates the order from round to round. A ratio is taken
within a round; the table gives its median and range over the rounds and
how many rounds reach the issue's target (1.5x e2cnn).

Each Keras backend runs at its fastest CPU setting (`compare.py`'s
measurements): TensorFlow with ``jit_compile=False`` fed by a `tf.data`
pipeline without autotuning (TensorFlow's iterator wait, docs/known_limits.md), JAX and torch with ``jit_compile=True``. ``--settings`` takes
others, e.g. ``torch:False`` for eager torch.

Run: ``python benchmarks/interleaved.py`` (``--rounds 15``, ``--images
1024``, ``--output results/interleaved_cpu.json``; ``--smoke`` for a tiny CI
run).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
import torch_references  # noqa: E402

ROOT = compare.ROOT
DEFAULT_SETTINGS = ("tensorflow:False:tf.data", "jax:True", "torch:True")
TARGET = 1.5  # P4CNN training and predict: at least 1.5x e2cnn's throughput


def parse_setting(text):
    """``"backend:jit[:tf.data]"`` -> (backend, jit_compile, pipeline)."""
    parts = text.split(":")
    jit = {"False": False, "True": True, "auto": "auto"}
    if (len(parts) not in (2, 3) or parts[0] not in compare.BACKENDS
            or parts[1] not in jit or parts[2:] not in ([], ["tf.data"])
            or (parts[2:] and parts[0] != "tensorflow")):
        raise ValueError(
            f"`--settings` entries are 'backend:jit' or 'tensorflow:jit:tf.data' "
            f"with backend in {list(compare.BACKENDS)} and jit in "
            f"{list(jit)}; got {text!r}.")
    return parts[0], jit[parts[1]], parts[2] if parts[2:] else "numpy"


# ---------------------------------------------------------- keras worker
def keras_worker(cfg):
    """Serve timed epochs of this backend's P4CNN and dense limit.

    Reads one JSON command per line on stdin (``{"model": "p4cnn" |
    "dense", "task": "train" | "predict"}``), answers the epoch's seconds
    on stdout; an empty line ends the worker."""
    sys.path.insert(0, ROOT)
    cores = compare.limit_cpus(cfg["threads"])
    from relaxed_keras import xla_cpu

    xla_cpu.use_eigen_convolutions()  # what the relaxed-keras CLI does
    import gc

    import keras
    import numpy as np

    import relaxed_keras as rk

    batch, images = cfg["batch"], cfg["images"]
    rng = np.random.RandomState(0)
    x = rng.rand(images, 28, 28, 1).astype("float32")
    y = rng.randint(0, 10, images)
    if cfg["pipeline"] == "tf.data":
        train, test = compare.tf_data_pipelines(x, y, batch)
        fit_args, predict_args, kwargs = (train,), (test,), {}
    else:
        fit_args, predict_args, kwargs = (x, y), (x,), {"batch_size": batch}

    # Backend-specific forms switched off for this worker (`branches.py`);
    # decisions are taken at trace time, so before anything is built.
    rk.backend_policy.disable(*cfg.get("disable", ()))
    keras.utils.set_random_seed(0)
    builders = {"p4cnn": lambda: rk.zoo.build("p4cnn", equivariance="strict"),
                "dense": lambda: rk.zoo.build("z2cnn", equivariance="none",
                                              width=10 * 4)}
    models = {name: builders[name]()
              for name in cfg.get("models", ("p4cnn", "dense"))}
    tasks = {}
    for name, model in models.items():
        model.compile(optimizer="adam", jit_compile=cfg["jit"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        tasks[name, "train"] = (
            lambda m=model: m.fit(*fit_args, epochs=1, verbose=0, **kwargs))
        tasks[name, "predict"] = (
            lambda m=model: m.predict(*predict_args, verbose=0, **kwargs))
    # Compile and warm up, untimed, in two passes over every task: torch's
    # compiled train step is one function for both models, and its first
    # call after the other model's recompiles it once more.
    for _ in range(2):
        for task in tasks.values():
            task()
    print(json.dumps({"ready": True, "keras": keras.__version__, "cpu_cores": cores}),
          flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        command = json.loads(line)
        # Iterators left by the previous epoch are destroyed here, outside
        # the clock (TensorFlow's iterator destructor can wait).
        gc.collect()
        start = time.perf_counter()
        tasks[command["model"], command["task"]]()
        print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)


class Worker:
    """One Keras backend's worker process, driven over its pipes."""

    def __init__(self, setting, cfg, label=None):
        backend, jit, pipeline = parse_setting(setting)
        self.setting = label or setting
        threads = str(cfg["threads"])
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   OMP_NUM_THREADS=threads, TF_NUM_INTRAOP_THREADS=threads,
                   TF_NUM_INTEROP_THREADS=threads)
        worker_cfg = dict(cfg, jit=jit, pipeline=pipeline)
        # stderr to a file, not a pipe: nobody reads it while the worker
        # runs, and a full pipe would block the worker's warnings.
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker",
             json.dumps(worker_cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            text=True, env=env)
        self.info = self._answer()

    def _answer(self):
        for line in self.process.stdout:
            if line.startswith("{"):
                return json.loads(line)
        # The worker ended without answering: show why.
        self.process.wait(timeout=60)
        self.stderr.seek(0)
        raise RuntimeError(f"{self.setting} worker failed:\n"
                           f"{self.stderr.read()[-3000:]}")

    def seconds(self, model, task):
        self.process.stdin.write(json.dumps({"model": model, "task": task}) + "\n")
        self.process.stdin.flush()
        return self._answer()["seconds"]

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("\n")
                self.process.stdin.flush()
                self.process.wait(timeout=60)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
        self.stderr.close()


# ------------------------------------------------------- torch references
def torch_contenders(cfg):
    """``{(name, task): epoch}`` for e2cnn (when installed) and plain torch;
    each ``epoch()`` returns its seconds, like `Worker.seconds`."""
    import torch

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    x = torch.rand(cfg["images"], 1, 28, 28)
    y = torch.randint(0, 10, (cfg["images"],))
    models = {"plain torch": torch_references.TorchP4CNN()}
    try:
        models["e2cnn"] = torch_references.e2cnn_p4cnn()
    except ImportError:
        pass
    tasks = {}
    for name, model in models.items():
        for task, epoch in zip(("train", "predict"),
                               torch_references.torch_epochs(model, x, y, cfg["batch"])):
            epoch()  # warm-up, untimed
            tasks[name, task] = lambda epoch=epoch: _timed(epoch)
    return tasks


def _timed(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# ------------------------------------------------------------- summary
def summarize(times, images, settings):
    """Rows: (task, contender, median img/s, reference, ratio median, min,
    max, rounds at target). Ratios are the reference's time over ours in
    the same round (> 1: ours is faster), so they read as "Nx e2cnn"."""
    rows = []
    for task in ("train", "predict"):
        for setting in settings:
            ours = times[setting, "p4cnn", task]
            references = [("dense limit", times[setting, "dense", task])]
            for name in ("e2cnn", "plain torch"):
                if (name, name, task) in times:
                    references.append((name, times[name, name, task]))
            for reference, theirs in references:
                ratios = [t / o for t, o in zip(theirs, ours)]
                at_target = (sum(r >= TARGET for r in ratios)
                             if reference == "e2cnn" else None)
                rows.append((task, f"{setting} P4CNN",
                             images / statistics.median(ours), reference,
                             statistics.median(ratios), min(ratios), max(ratios),
                             at_target))
    for name in ("e2cnn", "plain torch"):
        for task in ("train", "predict"):
            if (name, name, task) in times:
                rows.append((task, name, images / statistics.median(
                    times[name, name, task]), "-", None, None, None, None))
    return rows


def format_table(rows, rounds):
    lines = [f"| task | contender | img/s (median) | reference | speed-up "
             f"(median of {rounds} rounds) | range | rounds >= {TARGET}x |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for task, contender, rate, reference, median, low, high, at_target in rows:
        if median is None:
            lines.append(f"| {task} | {contender} | {rate:.0f} | - | - | - | - |")
            continue
        lines.append(f"| {task} | {contender} | {rate:.0f} | {reference} | "
                     f"{median:.2f}x | {low:.2f}-{high:.2f} | "
                     f"{'-' if at_target is None else f'{at_target}/{rounds}'} |")
    return "\n".join(lines)


def run(settings, cfg, progress=print):
    """Time every contender in ``cfg["rounds"]`` rotating rounds; returns
    ``{(contender, model, task): [seconds per round]}``."""
    affinity = (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity")
                else None)
    workers = []
    try:
        cfg["cpu_cores"] = compare.limit_cpus(cfg["threads"])
        local = torch_contenders(cfg)
        contenders = [(name, name, task, fn) for (name, task), fn in local.items()]
        for setting in settings:
            progress(f"starting {setting} (compiles and warms up its models)")
            worker = Worker(setting, cfg)
            workers.append(worker)
            for model in ("p4cnn", "dense"):
                for task in ("train", "predict"):
                    contenders.append((setting, model, task,
                                       lambda w=worker, m=model, t=task: w.seconds(m, t)))
        times = {key[:3]: [] for key in contenders}
        for round_index in range(cfg["rounds"]):
            shift = round_index % len(contenders)
            for name, model, task, seconds in contenders[shift:] + contenders[:shift]:
                times[name, model, task].append(seconds())
            progress(f"round {round_index + 1}/{cfg['rounds']} done")
        return times, {w.setting: w.info for w in workers}
    finally:
        for worker in workers:
            worker.close()
        if affinity is not None:
            os.sched_setaffinity(0, affinity)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run for CI: 2 rounds of 16 images")
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS),
                        help="backend:jit[:tf.data] per Keras contender "
                             f"(default: {' '.join(DEFAULT_SETTINGS)})")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--images", type=int, default=None,
                        help="images per timed epoch (default 1024)")
    parser.add_argument("--output", default=None, help="JSON results")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.worker is not None:
        keras_worker(json.loads(args.worker))
        return None
    for setting in args.settings:
        parse_setting(setting)
    cfg = {"batch": 8 if args.smoke else 64, "threads": 2,
           "images": args.images or (16 if args.smoke else 1024),
           "rounds": args.rounds or (2 if args.smoke else 15)}
    if cfg["rounds"] < 1 or cfg["images"] < cfg["batch"]:
        raise ValueError(f"`--rounds` must be >= 1 and `--images` >= the batch "
                         f"size {cfg['batch']}; got {cfg['rounds']} and "
                         f"{cfg['images']}.")
    times, workers = run(args.settings, cfg,
                         progress=lambda m: print(m, file=sys.stderr, flush=True))
    rows = summarize(times, cfg["images"], args.settings)
    import torch

    header = (f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores "
              f"({cfg['cpu_cores']} used by every contender), Python "
              f"{platform.python_version()}; torch {torch.__version__}; keras "
              f"{next(iter(workers.values()))['keras'] if workers else '-'}. "
              f"{cfg['rounds']} rounds of {cfg['images']} images, batch "
              f"{cfg['batch']}. Command: `python benchmarks/interleaved.py"
              + (" " + " ".join(argv) if argv else "") + "`.")
    report = {"date": time.strftime("%Y-%m-%d"), "header": header,
              "config": cfg, "workers": workers,
              "times": {" / ".join(k): v for k, v in times.items()},
              "rows": rows}
    if args.output:
        with open(args.output, "w") as f:
            json.dump(report, f, indent=2)
    print(header)
    print(format_table(rows, cfg["rounds"]))
    return report


if __name__ == "__main__":
    main()
