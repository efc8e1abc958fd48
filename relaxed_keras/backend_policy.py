"""Every place where the library computes differently per Keras backend.

The layers are written once with `keras.ops`; a backend-specific form is
kept only where a backend needs it for correctness or where it gains at
least 10 % on a user workload (`model.fit` or `predict` of a zoo model).
Each such form is one named entry of `BRANCHES`, with the backends it
applies to and the reason; the code asks `active(name)` and never compares
backend names itself (a test enforces it). `benchmarks/branches.py`
measures every speed entry against the backend-neutral form in interleaved
rounds, and BENCHMARKS.md ("Backend-specific forms") reports the ratios.

Example:

>>> from relaxed_keras import backend_policy
>>> sorted(backend_policy.BRANCHES)[:2]
['affine_batch_norm', 'channels_first_views']
>>> with backend_policy.disabled("select_relu"):
...     backend_policy.active("select_relu")
False
"""

import contextlib
import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class Branch:
    """One backend-specific form: where it applies and why.

    Args:
        backends: the Keras backends that use the specific form.
        kind: ``"correctness"`` (the neutral form fails or is wrong there),
            ``"memory"`` (it keeps a documented memory bound) or
            ``"speed"`` (measured, `benchmarks/branches.py`).
        reason: what goes wrong with the neutral form.
    """

    backends: tuple
    kind: str
    reason: str


BRANCHES = {
    "pad_by_concatenation": Branch(
        ("torch",), "correctness",
        "`keras.ops.pad` creates a Keras Operation on every eager call, and "
        "each creation advances a global name counter: under torch.compile "
        "the step broke its graph in every padded layer and recompiled at "
        "every step until dynamo's limit, then ran eagerly. Padding is a "
        "concatenation with constant blocks there (`layers.spatial`)."),
    "channels_first_views": Branch(
        ("torch",), "speed",
        "Keras's torch convolutions and poolings permute channels-last "
        "input to channels-first and back (copies of every feature map and "
        "gradient); the op on the transposed view with "
        "``data_format='channels_first'`` reads the memory as it is."),
    "unfolded_training": Branch(
        ("torch",), "speed",
        "Elementwise work (bias, batch norm, dropout) on group maps runs on "
        "the folded ``[B, H, W, |G| C]`` view everywhere except torch "
        "training, where inductor's folded batch statistics halved the "
        "P4CNN's throughput (BENCHMARKS.md, \"Tried and rejected\")."),
    "tile_by_matmul": Branch(
        ("torch",), "speed",
        "Per-channel vectors tiled over the group: a product with a 0/1 "
        "matrix on torch (inductor fuses a concatenation into the consumer "
        "and loops over C again), a concatenation elsewhere (XLA turns a "
        "product's reshape or a broadcast into a modulo its vectoriser "
        "cannot handle)."),
    "affine_batch_norm": Branch(
        ("torch",), "speed",
        "Batch norm as one multiply and one add where the map is not "
        "folded; Keras's torch form makes four passes over the map."),
    "select_relu": Branch(
        ("torch",), "speed",
        "ReLU on group maps as ``where(x <= 0, 0, x)`` under torch.compile "
        "(``jit_compile=True``): inductor stores ``torch.relu``'s mask for "
        "the backward pass with masked 10-lane vector stores (C = 10)."),
    "compiled_kernel_refresh": Branch(
        ("jax", "tensorflow"), "speed",
        "The inference kernel cache is refreshed by one compiled call for "
        "all layers on JAX and TensorFlow, whose eager ops cost more than "
        "one compiled call; torch refreshes eagerly (1.1 ms per P4CNN)."),
    "remat_reads_stored_variables": Branch(
        ("tensorflow", "torch"), "correctness",
        "`keras.remat` inside `stateless_call` reruns the chunk after the "
        "stateless scope ended, so it read the stored variables instead of "
        "the values passed in: wrong gradients. Those calls keep the chunks "
        "(JAX's `jax.checkpoint` reruns on the traced values)."),
    "chunks_in_map": Branch(
        ("jax",), "memory",
        "The soft layers' position chunks run in `keras.ops.map` on JAX: "
        "XLA schedules the kernel generation of an unrolled loop's chunks "
        "together, so unrolled chunking did not bound its memory. "
        "TensorFlow cannot (`tf.recompute_grad` inside `tf.map_fn` fails to "
        "capture the layer's variables) and needs no map."),
    "batched_diagnostic_predict": Branch(
        ("jax",), "speed",
        "Equivariance errors of a one-output functional model run as one "
        "compiled `predict` on JAX, where eager calls compile every op "
        "(partial P4CNN, 32 images, 4 rotations: 1.25 s against 5.5 s)."),
    "zero_grads_before_compile": Branch(
        ("torch",), "speed",
        "torch with ``jit_compile=True``: zero gradients before the first "
        "step, or dynamo guards on ``.grad is None`` and compiles the step "
        "twice (strict P4CNN, 2 cores: 40 s more in the second `fit` "
        "against 0.5 s)."),
    "xla_eigen_convolutions": Branch(
        ("jax",), "speed",
        "XLA's Eigen convolution kernels on CPU (`relaxed_keras.xla_cpu`, "
        "set by the command line): 2.5-3.5x faster JAX training; "
        "TensorFlow's XLA gained nothing and aborts on unknown flags."),
    "data_parallel": Branch(
        ("jax",), "correctness",
        "`keras.distribution.DataParallel` exists on JAX only."),
}

_disabled = set()


def _check(name):
    if name not in BRANCHES:
        raise ValueError(
            f"Unknown backend branch {name!r}. Expected one of "
            f"{sorted(BRANCHES)}."
        )


def active(name, backend=None):
    """Whether ``backend`` (default: Keras's current one) uses the specific
    form ``name`` (and it is not `disabled`)."""
    _check(name)
    backend = backend or keras.backend.backend()
    return backend in BRANCHES[name].backends and name not in _disabled


@contextlib.contextmanager
def disabled(*names):
    """Use the backend-neutral form of ``names`` inside the block (the
    decisions are taken when a layer is traced: build and compile the
    model inside it). For benchmarks and tests."""
    for name in names:
        _check(name)
    added = [name for name in names if name not in _disabled]
    _disabled.update(added)
    try:
        yield
    finally:
        _disabled.difference_update(added)


def disable(*names):
    """`disabled` for a whole process (a benchmark worker)."""
    for name in names:
        _check(name)
    _disabled.update(names)
