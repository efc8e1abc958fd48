"""XLA:CPU convolution kernels for training on the JAX backend.

jaxlib 0.10 hands every convolution to YNNPACK (XLA's
``individual_convolution`` YNN fusion). On the CPUs we measured, its
filter-gradient convolution is several times slower than XLA's own Eigen
kernel, and erratic; with Eigen, training of the P4CNN and of the dense CNN
is 2.5-3.5x faster and `predict` no slower. BENCHMARKS.md measures JAX with
the Eigen kernels (its JAX rows, e.g. "P4CNN against e2cnn and the dense
limit (CPU, interleaved rounds)").

The choice is a process-wide XLA flag, read once when JAX creates its CPU
client, so it cannot be a layer option. `use_eigen_convolutions` sets it
when that is still possible; the ``relaxed-keras`` command line (on the
JAX backend) and the benchmark call it before any computation. Library
code never calls it: a program that imports ``relaxed_keras`` keeps XLA's defaults unless it asks.
"""

import os
import re
import sys
import warnings
from importlib import metadata

FLAG_NAME = "xla_cpu_experimental_ynn_fusion_type"
EIGEN_CONVOLUTION_FLAG = f"--{FLAG_NAME}=-individual_convolution"
# The oldest jaxlib we ran with the flag. XLA aborts the process on a flag
# it does not know, so older versions are left alone.
MIN_JAXLIB = (0, 10)


def _jaxlib_version():
    try:
        version = metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return None
    numbers = re.findall(r"\d+", version)[:2]
    return tuple(int(n) for n in numbers) if len(numbers) == 2 else None


def _xla_started():
    """Whether JAX in this process has created its XLA clients (and read
    ``XLA_FLAGS``). Looked up without importing JAX, in JAX's own module
    when it is loaded; False when that module or function is missing."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    started = getattr(bridge, "backends_are_initialized", None)
    try:
        return bool(started()) if callable(started) else False
    except Exception:  # a private function: never fail because of it
        return False


def use_eigen_convolutions(environ=None):
    """Ask XLA:CPU for its Eigen convolution kernels instead of YNNPACK's.

    Appends ``--xla_cpu_experimental_ynn_fusion_type=-individual_convolution``
    to ``XLA_FLAGS``. Call it before the first JAX computation of the
    process (importing Keras is fine; creating a tensor is too late). It
    changes nothing when ``XLA_FLAGS`` already names that flag (pass
    ``--xla_cpu_experimental_ynn_fusion_type=+individual_convolution`` to
    keep YNNPACK's convolutions), or when jaxlib is missing or older than
    0.10 (XLA aborts on flags it does not know), or, for this process's
    own environment, when JAX has already started XLA (a warning says
    so: the flag would reach subprocesses only). Only XLA reads the flag:
    it affects JAX on CPU (and TensorFlow's XLA-compiled functions, where
    we measured no change); GPUs, torch and eager TensorFlow ignore it.

    Args:
        environ: the environment mapping to change (default `os.environ`;
            another mapping, e.g. for a subprocess, is changed whatever
            this process's XLA has done).

    Returns:
        True when the flag was added by this call.

    Example:

    >>> import relaxed_keras.xla_cpu
    >>> relaxed_keras.xla_cpu.use_eigen_convolutions(environ={})
    True
    """
    own = environ is None or environ is os.environ
    environ = os.environ if environ is None else environ
    version = _jaxlib_version()
    if version is None or version < MIN_JAXLIB:
        return False
    flags = environ.get("XLA_FLAGS", "")
    if FLAG_NAME in flags:
        return False
    if own and _xla_started():
        warnings.warn(
            "relaxed_keras.xla_cpu.use_eigen_convolutions() was called after "
            "JAX started XLA, which has read XLA_FLAGS already: this process "
            "keeps XLA's convolution kernels. Call it before the first JAX "
            "computation (importing Keras is fine).",
            stacklevel=2,
        )
        return False
    environ["XLA_FLAGS"] = f"{flags} {EIGEN_CONVOLUTION_FLAG}".strip()
    return True
