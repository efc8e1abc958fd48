"""Expanded-kernel cache for inference (`predict` / `evaluate`).

A regular group convolution expands its base kernel into all ``|G|``
transformed copies on every call. During training that is one expansion
per step, as it must be (the weights change every step). During inference
the weights do not change, so `cached_kernels(model)` expands every kernel
once, stores it in the layer's `KernelCache` and lets the layers read it
instead; `ZooModel.predict`/`evaluate` (and their ``*_on_batch`` forms) run
inside that scope, so the expansion happens once per `predict` call, not
once per batch.

The cache is state, not a weight: it is absent from ``layer.weights``,
``count_params()``, ``get_weights()`` and from every checkpoint, so saved
files never depend on whether a cache was used (`.weights.h5` and `.keras`
hold the base parameters only). It is a non-trainable variable all the same
(``layer.variables``), so the compiled JAX predict function receives its
current value as state instead of freezing it as a constant; like a
`SeedGenerator`'s state it is one of the ``non_trainable_variables`` that
``layer.stateless_call`` takes.
"""

import contextlib
import weakref

import keras
import numpy as np
from keras import ops

from relaxed_keras import backend_policy


@keras.saving.register_keras_serializable(package="relaxed_keras")
class KernelCache(keras.layers.Layer):
    """Holds one layer's expanded convolution kernel between refreshes.

    Args:
        shape: shape of the cached kernel.
    """

    def __init__(self, shape, **kwargs):
        # Never trainable (a config from `get_config` carries the flag).
        kwargs.pop("trainable", None)
        super().__init__(trainable=False, **kwargs)
        self.cache_shape = tuple(int(d) for d in shape)
        self.value = self.add_weight(
            name="value", shape=self.cache_shape, initializer="zeros", trainable=False
        )
        self.built = True

    def get_config(self):
        return {**super().get_config(), "shape": self.cache_shape}

    @property
    def weights(self):
        # State, not a weight (like metric state and seed generators).
        return []

    def save_own_variables(self, store):
        """Caches never enter checkpoints."""

    def load_own_variables(self, store):
        """Caches are refreshed from the weights, never loaded."""


class KernelCacheMixin:
    """For layers whose kernel depends on their weights only.

    Subclasses implement `compute_conv_kernel()` and call
    `_build_kernel_cache(shape)` at the end of `build`; `conv_kernel()` then
    returns the cached kernel inside `cached_kernels` and computes it
    otherwise.
    """

    _kernel_cache_active = False

    def _build_kernel_cache(self, shape):
        # The layer's variable dtype (float64 layers cache float64 kernels).
        self.kernel_cache = KernelCache(
            shape, name="kernel_cache", dtype=self.dtype_policy
        )

    def refresh_kernel_cache(self):
        """Store the kernel of the current weights in the cache."""
        self.kernel_cache.value.assign(self.compute_conv_kernel())

    def conv_kernel(self):
        if self._kernel_cache_active:
            return ops.convert_to_tensor(self.kernel_cache.value)
        return self.compute_conv_kernel()


class _KernelExpansion(keras.Model):
    """Every kernel of ``expanded_layers`` in one compiled program (JAX and
    TensorFlow).

    JAX runs eager operations one by one and compiles each for its shapes
    on first use: expanding a relaxed ResNetCK's 7 kernels eagerly took
    3.1-4.6 s the first time, one compiled `predict_on_batch` 0.44 s (p4cnn
    relaxed: 1.5 s / 0.36 s). TensorFlow runs eager operations one by one
    too: every `predict` call of the P4CNN spent 5.7 ms refreshing its
    caches eagerly, 1.6 ms in one graph call (relaxed P4CNN: 10.6 / 2.0
    ms), for 0.05-0.09 s of tracing on the first call.
    float32 policy: the kernels are computed as in the eager path (the
    layers' own variable dtype, no autocast).
    """

    def __init__(self, expanded_layers):
        # An explicit name: the automatic one ("_kernel_expansion") is not a
        # valid TensorFlow name scope.
        super().__init__(dtype="float32", name="kernel_expansion")
        self.expanded_layers = list(expanded_layers)
        # Built layers only: nothing to build (and no eager trial call).
        self.built = True

    def call(self, inputs):
        return [layer.compute_conv_kernel() for layer in self.expanded_layers]


# {model: _KernelExpansion} (JAX and TensorFlow; kept while the model lives).
_expansions = weakref.WeakKeyDictionary()


def _inside_traced_function(variable):
    """Whether this runs while a function is traced (a `tf.function` that
    enters the scope): there a variable's value is symbolic and cannot be
    copied to the host, so the helper model, whose `predict_on_batch`
    returns host arrays, cannot run; the eager expansion joins the trace."""
    try:
        ops.convert_to_numpy(variable.value)
    except Exception:  # the backends raise different types here
        return True
    return False


def _refresh(model, layers):
    """Store every layer's current kernel in its cache."""
    if not layers:
        return
    if (not backend_policy.active("compiled_kernel_refresh")
            or len(layers) < 2
            or keras.distribution.distribution() is not None
            or _inside_traced_function(layers[0].kernel_cache.value)):
        for layer in layers:
            layer.refresh_kernel_cache()
        return
    expansion = _expansions.get(model)
    if expansion is None or expansion.expanded_layers != layers:
        expansion = _expansions[model] = _KernelExpansion(layers)
    kernels = expansion.predict_on_batch(np.zeros((1, 1), "float32"))
    for layer, kernel in zip(layers, kernels):
        layer.kernel_cache.value.assign(kernel)


def _cached_layers(model):
    return [
        layer
        for layer in model._flatten_layers(include_self=True)
        if isinstance(layer, KernelCacheMixin) and layer.built
    ]


# The model's `predict_function` / `test_function` traced inside the scope
# (they read the cache), kept between scopes: {model: (compile token,
# {name: function})}.
_FUNCTIONS = ("predict_function", "test_function")
_scope_functions = weakref.WeakKeyDictionary()


def _swap_in_scope_functions(model):
    """Install the functions traced in an earlier scope (if the model was
    not recompiled since) and return the ones traced outside."""
    token = getattr(model, "_compile_config", None)
    token_then, inside = _scope_functions.get(model, (None, {}))
    if token_then is not token:
        inside = {}
    outside = {name: getattr(model, name, None) for name in _FUNCTIONS}
    for name in _FUNCTIONS:
        setattr(model, name, inside.get(name))
    return outside


def _swap_out_scope_functions(model, outside):
    inside = {name: getattr(model, name, None) for name in _FUNCTIONS}
    _scope_functions[model] = (getattr(model, "_compile_config", None), inside)
    for name, function in outside.items():
        setattr(model, name, function)


@contextlib.contextmanager
def cached_kernels(model):
    """Inference scope: every cacheable layer of ``model`` expands its
    kernel once on entry and reads that cache until the scope ends.

    Use it around inference calls only (the weights must not change inside
    it). A `keras.Model`'s ``predict_function`` / ``test_function`` traced
    inside the scope read the cache, so they are used only inside it: the
    scope swaps them in on entry and out on exit (they are kept for the
    next scope, until the model is recompiled), and calls outside the scope
    use functions traced outside it, which expand the kernels per batch.

    Example:

    >>> with cached_kernels(model):  # doctest: +SKIP
    ...     logits = model.predict(images)
    """
    layers = _cached_layers(model)
    previous = [layer._kernel_cache_active for layer in layers]
    # Only the outermost scope swaps the compiled functions.
    swap = isinstance(model, keras.Model) and layers and not all(previous)
    _refresh(model, [layer for layer in layers if not layer._kernel_cache_active])
    outside = _swap_in_scope_functions(model) if swap else None
    try:
        for layer in layers:
            layer._kernel_cache_active = True
        yield model
    finally:
        for layer, state in zip(layers, previous):
            layer._kernel_cache_active = state
        if swap:
            _swap_out_scope_functions(model, outside)
