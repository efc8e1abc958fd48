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

import keras
from keras import ops


class KernelCache(keras.layers.Layer):
    """Holds one layer's expanded convolution kernel between refreshes.

    Args:
        shape: shape of the cached kernel.
    """

    def __init__(self, shape, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.value = self.add_weight(
            name="value", shape=tuple(shape), initializer="zeros", trainable=False
        )
        self.built = True

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
        self.kernel_cache = KernelCache(shape, name="kernel_cache")

    def refresh_kernel_cache(self):
        """Store the kernel of the current weights in the cache."""
        self.kernel_cache.value.assign(self.compute_conv_kernel())

    def conv_kernel(self):
        if self._kernel_cache_active:
            return ops.convert_to_tensor(self.kernel_cache.value)
        return self.compute_conv_kernel()


def _cached_layers(model):
    return [
        layer
        for layer in model._flatten_layers(include_self=True)
        if isinstance(layer, KernelCacheMixin) and layer.built
    ]


@contextlib.contextmanager
def cached_kernels(model):
    """Inference scope: every cacheable layer of ``model`` expands its
    kernel once on entry and reads that cache until the scope ends.

    Use it around inference calls only (the weights must not change inside
    it). Functions that Keras compiles inside the scope (``predict_function``
    / ``test_function``) read the cache; use them inside the scope too, as
    `ZooModel` does.

    Example:

    >>> with cached_kernels(model):  # doctest: +SKIP
    ...     logits = model.predict(images)
    """
    layers = _cached_layers(model)
    previous = [layer._kernel_cache_active for layer in layers]
    for layer in layers:
        if not layer._kernel_cache_active:
            layer.refresh_kernel_cache()
    try:
        for layer in layers:
            layer._kernel_cache_active = True
        yield model
    finally:
        for layer, state in zip(layers, previous):
            layer._kernel_cache_active = state
