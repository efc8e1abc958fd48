import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _one_share_of_the_cores_per_worker():
    """Under JAX and torch, pin each pytest-xdist worker to its share of the
    cores before the backend starts (XLA sizes its thread pool by the cores
    it can see; torch also takes its share of threads below).
    Subprocesses inherit the pinning. Whole suite on 2 cores, fresh-clone CI
    runs: JAX 447 s pinned against 570 s unpinned in the run before, torch
    313 s against 439 s. Not TensorFlow: pinned, its suite took 457 s
    against 355 s (not investigated; perhaps its trainings then lose the
    core the other worker leaves idle while compiling)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if (workers < 2 or not worker.startswith("gw")
            or os.environ.get("KERAS_BACKEND") not in ("jax", "torch")
            or not hasattr(os, "sched_setaffinity")):
        return
    cores = sorted(os.sched_getaffinity(0))
    share = len(cores) // workers
    if share < 1:
        return
    index = int(worker[2:]) % workers
    os.sched_setaffinity(0, cores[index * share:(index + 1) * share])


_one_share_of_the_cores_per_worker()

# The suite runs tiny inputs through many distinct graphs, so under JAX its
# time is mostly XLA compilation, and XLA's LLVM optimisation pipeline is
# most of that: a PreActResNet18-p4m builds in 3.5 s instead of 19.6 s
# (random initialisers compile once per kernel shape) and the JAX suite
# takes 496 s instead of 887 s on 2 cores. The flag changes code generation, not the
# computed function; subprocesses inherit it. JAX only: TensorFlow's XLA at
# this level ran its suite slower and returned NaN gradients for one
# jit-compiled partial-conv model (finite at the default level).
# Long training runs in subprocesses without it (tests/xla_flags.py).
# RK_TEST_XLA_OPTIMIZE=1 keeps XLA's defaults. Benchmarks never set it.
from tests.xla_flags import with_xla_flag  # noqa: E402

if (os.environ.get("KERAS_BACKEND") == "jax"
        and os.environ.get("RK_TEST_XLA_OPTIMIZE", "0") != "1"):
    os.environ["XLA_FLAGS"] = with_xla_flag(os.environ)
# JAX tests also run XLA's Eigen convolutions instead of YNNPACK, as the
# `relaxed-keras` CLI does (relaxed_keras/xla_cpu.py): the two in-process
# MNIST6-180 training tests took 122 s instead of 148 s with it.
if os.environ.get("KERAS_BACKEND") == "jax":
    from relaxed_keras.xla_cpu import use_eigen_convolutions  # noqa: E402

    use_eigen_convolutions()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def _float32_arithmetic_on_gpus():
    """The tests prove float32 properties (exactness to 1e-5). On GPUs
    with TF32 units, JAX's default precision and torch's cuDNN convolutions
    round float32 operands to TF32 (10-bit mantissa): on an H100, 27 of the
    layer tests' tolerance checks failed under JAX's defaults and all of
    them passed with TF32 off (BENCHMARKS.md, GPU). Turn TF32 off when a GPU
    is present; CPUs compute in float32 either way."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if jax.default_backend() != "cpu":
            jax.config.update("jax_default_matmul_precision", "highest")
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False


_float32_arithmetic_on_gpus()


def _share_cores_between_torch_workers():
    """pytest-xdist workers each start torch with one thread per core: two
    workers on 2 cores oversubscribe them, and two torch trainings side by
    side then ran up to 7.5x slower than alone (CI: the Z2CNN recipe test 257 s
    against 34 s alone). Give each worker its share of the cores."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if keras.backend.backend() == "torch" and workers > 1:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


_share_cores_between_torch_workers()


def _compile_torch_train_step_once():
    """Keras's torch `train_step` calls `zero_grad()`, and dynamo guards on
    every parameter's `.grad is None`: None before the first step, a tensor
    at every later one, so each `jit_compile=True` fit traces and compiles
    its training step twice (TORCH_LOGS=recompiles: "1/0: ...bias._value.grad
    is None ... in zero_grad"). Give the trainable parameters zero gradients
    before the first compiled step: `zero_grad` clears them before the
    backward pass either way, so every step computes the same numbers (same
    losses, checked), and dynamo compiles only the steady-state version.
    Small partial test model, 8 steps, cold inductor cache: 281 s -> 207 s
    (tracing 165 s -> 102 s). `rk.zoo.compile_classifier` does the same
    for the models it compiles; this patch covers every model the tests
    compile with their own `model.compile` (docs/known_limits.md)."""
    if keras.backend.backend() != "torch":
        return
    from keras.src.backend.torch.trainer import TorchTrainer

    from relaxed_keras.zoo.presets import _compile_torch_step_once

    make_train_function = TorchTrainer.make_train_function

    def make_train_function_with_gradients(self, force=False):
        function = make_train_function(self, force)
        _compile_torch_step_once(self)
        return function

    TorchTrainer.make_train_function = make_train_function_with_gradients


_compile_torch_train_step_once()


def _trace_tensorflow_train_step_once():
    """Keras's TensorFlow trainer builds the optimizer and the loss and
    metric trackers symbolically only under a distribution strategy
    (`_maybe_symbolic_build`); otherwise their variables are created while
    the first `train_step` is traced, and `tf.function` then traces the whole
    step a second time without variable creation. Build them first, as
    Keras does under a strategy (default strategy here): every fit traces
    once. Partial MNIST6 preset, 2 epochs of 2 steps: 21.5 s -> 17.0 s,
    identical losses and metrics. Tests only (docs/known_limits.md)."""
    if keras.backend.backend() != "tensorflow":
        return
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    maybe_symbolic_build = TensorFlowTrainer._maybe_symbolic_build

    def symbolic_build_without_strategy(self, iterator=None, data_batch=None):
        if self._distribute_strategy is not None:
            return maybe_symbolic_build(self, iterator, data_batch)
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = next(batches)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    TensorFlowTrainer._maybe_symbolic_build = symbolic_build_without_strategy


_trace_tensorflow_train_step_once()


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _seed_and_reset():
    if keras.backend.backend() == "torch":
        # Each test compiles its own models (jit_compile=True). Without a
        # reset, torch.compile's "automatic dynamic shapes" remembers that a
        # layer's code already ran at another input size earlier in this
        # worker process and traces it with symbolic sizes, which the
        # continuous layers' shape arithmetic does not support (docs/
        # known_limits.md). Reset so every test sees a fresh process.
        import torch._dynamo

        torch._dynamo.reset()
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(autouse=True)
def _torch_compile_backend(request, monkeypatch):
    """Under torch, `jit_compile=True` is `torch.compile` with inductor, whose
    C++ code generation is most of a compiled test's time on CPU (small
    partial model, one thread, cold cache: fit 180 s, predict 36 s; with
    `aot_eager` 72 s and 19 s; epoch losses 1.33676, 1.13397 against
    1.33676, 1.13257). `aot_eager` runs everything before code generation:
    dynamo's graph capture (graph breaks, guards, recompiles) and
    AOTAutograd's functionalisation of the state updates (kernel caches,
    Gumbel steps). Tests marked `inductor`
    (the partial model's compiled fit, with the continuous-kernel engine and
    the integer hash, and the p4 G-CNN's) keep inductor, so its code
    generation for the library's ops stays tested;
    RK_TEST_TORCH_COMPILE=inductor uses it everywhere."""
    if (keras.backend.backend() != "torch"
            or request.node.get_closest_marker("inductor") is not None
            or os.environ.get("RK_TEST_TORCH_COMPILE") == "inductor"):
        yield
        return
    import torch

    compile_with_inductor = torch.compile

    def compile_without_codegen(model=None, **options):
        options.setdefault("backend", "aot_eager")
        return compile_with_inductor(model, **options)

    monkeypatch.setattr(torch, "compile", compile_without_codegen)
    yield


@pytest.fixture
def rng():
    return np.random.RandomState(0)
