"""What each backend-specific form of `relaxed_keras.backend_policy` gains.

For every speed entry, the zoo's strict P4CNN (28x28x1) on a backend the
entry applies to, at a setting a user trains with, against the same model
with only that entry switched off (`backend_policy.disable` in the worker,
before the model is built). All workers of one setting stay loaded (one
process each, `interleaved.Worker`, pinned to the same cores); each round
times one `fit` epoch and one `predict` pass of each in turn, rotating the
order, and the gain is the neutral form's time over the specific form's in
the same round (median and range over the rounds). An entry is kept where
it gains at least 10 % on `fit` or `predict` (`THRESHOLD`).

Run: ``python benchmarks/branches.py --output results/branches_cpu.json``
(``--rounds 10``, ``--images 1024``, ``--groups torch:True``; ``--smoke``
for a tiny CI run).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import compare  # noqa: E402
import interleaved  # noqa: E402

sys.path.insert(0, compare.ROOT)
from relaxed_keras import backend_policy  # noqa: E402

THRESHOLD = 1.10
# Settings a user trains with (`interleaved.py`'s fastest per backend, and
# torch's Keras default, eager) -> the speed entries to measure there.
GROUPS = {
    "torch:True": ("channels_first_views", "unfolded_training",
                   "tile_by_matmul", "affine_batch_norm", "select_relu"),
    "torch:False": ("channels_first_views", "unfolded_training",
                    "tile_by_matmul", "affine_batch_norm"),
    "jax:True": ("compiled_kernel_refresh",),
    "tensorflow:False:tf.data": ("compiled_kernel_refresh",),
}


def measure(setting, names, cfg, progress):
    """``{label: {task: [seconds per round]}}`` for the specific forms
    (label ``"all"``) and each entry off (label = its name)."""
    workers = {}
    try:
        for label, disable in [("all", ())] + [(n, (n,)) for n in names]:
            progress(f"{setting}: starting worker without {label}"
                     if disable else f"{setting}: starting the reference worker")
            workers[label] = interleaved.Worker(
                setting, dict(cfg, disable=list(disable), models=["p4cnn"]),
                label=f"{setting} -{label}")
        contenders = [(label, task) for label in workers
                      for task in ("train", "predict")]
        times = {label: {"train": [], "predict": []} for label in workers}
        for index in range(cfg["rounds"]):
            shift = index % len(contenders)
            for label, task in contenders[shift:] + contenders[:shift]:
                times[label][task].append(workers[label].seconds("p4cnn", task))
            progress(f"{setting}: round {index + 1}/{cfg['rounds']}")
        return times
    finally:
        for worker in workers.values():
            worker.close()


def gains(times):
    """Rows ``(entry, task, median, low, high)``: neutral time / specific
    time in the same round (> 1: the specific form is faster)."""
    rows = []
    for label, tasks in times.items():
        if label == "all":
            continue
        for task, neutral in tasks.items():
            ratios = [n / s for n, s in zip(neutral, times["all"][task])]
            rows.append((label, task, statistics.median(ratios), min(ratios),
                         max(ratios)))
    return rows


def verdicts(rows):
    """``{entry: (best median gain, kept)}`` over tasks and settings."""
    best = {}
    for label, _, median, _, _ in rows:
        best[label] = max(best.get(label, 0.0), median)
    return {label: (gain, gain >= THRESHOLD) for label, gain in best.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run for CI: 1 round of 16 images, the first "
                        "entry of each setting")
    parser.add_argument("--groups", nargs="+", default=None,
                        help=f"settings to measure (default: {list(GROUPS)})")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--output", default=None, help="JSON results")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    groups = args.groups or list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        parser.error(f"--groups takes {list(GROUPS)}; got {unknown}")
    for names in GROUPS.values():
        for name in names:
            assert backend_policy.BRANCHES[name].kind == "speed", name
    cfg = {"batch": 8 if args.smoke else 64, "threads": 2,
           "images": args.images or (16 if args.smoke else 1024),
           "rounds": args.rounds or (1 if args.smoke else 10)}
    affinity = (os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity")
                else None)

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    results, rows = {}, []
    try:
        cfg["cpu_cores"] = compare.limit_cpus(cfg["threads"])
        for setting in groups:
            names = GROUPS[setting][:1] if args.smoke else GROUPS[setting]
            results[setting] = measure(setting, names, cfg, progress)
            rows += [(setting,) + row for row in gains(results[setting])]
    finally:
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
    header = (f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores "
              f"({cfg['cpu_cores']} used by every worker), Python "
              f"{platform.python_version()}. {cfg['rounds']} rounds of "
              f"{cfg['images']} images, batch {cfg['batch']}. Command: "
              "`python benchmarks/branches.py"
              + (" " + " ".join(argv) if argv else "") + "`.")
    report = {"date": time.strftime("%Y-%m-%d"), "header": header, "config": cfg,
              "times": results, "rows": rows,
              "verdicts": verdicts([row[1:] for row in rows])}
    if args.output:
        with open(args.output, "w") as f:
            json.dump(report, f, indent=2)
    print(header)
    for setting, label, task, median, low, high in rows:
        print(f"{setting:26s} without {label:24s} {task:8s} "
              f"{median:.2f}x ({low:.2f}-{high:.2f})")
    return report


if __name__ == "__main__":
    main()
