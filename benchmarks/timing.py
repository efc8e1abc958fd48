"""Timing helpers shared by the benchmark workloads: one CPU budget for
every contender, best-of-``repeats`` wall time, device name and GPU peak
memory."""

import os
import time


def limit_cpus(threads):
    """Pin this process (and the threads it starts) to ``threads`` cores.

    The same limit for every contender: torch's ``set_num_threads`` and
    TensorFlow's ``TF_NUM_*_THREADS`` bound their own pools, but XLA (JAX)
    sizes its pool by the cores it can see. Returns the cores used (all of
    them where affinity cannot be set)."""
    if not hasattr(os, "sched_setaffinity"):
        return os.cpu_count()
    available = sorted(os.sched_getaffinity(0))
    if threads < len(available):
        os.sched_setaffinity(0, available[:threads])
    return len(os.sched_getaffinity(0))


def best_seconds(step, repeats, warmup=1):
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def device_name():
    """Where the current Keras backend places its tensors."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind)
    if backend == "torch":
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return gpus[0].name if gpus else "cpu"


def gpu_peak_memory_mb(reset=False):
    """torch's GPU allocator peak so far (``reset=True`` starts a new peak
    first). JAX's device statistics keep one peak for the whole process,
    which earlier workloads set: ``None`` (not measured) there."""
    import keras

    if keras.backend.backend() == "torch":
        import torch

        if reset:
            torch.cuda.reset_peak_memory_stats()
        return torch.cuda.max_memory_allocated() / 2**20
    return None
