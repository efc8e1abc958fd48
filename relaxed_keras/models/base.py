"""Base class of the zoo's functional models."""

import inspect

import keras
import numpy as np

from relaxed_keras.initialization import keras_layer_call
from relaxed_keras.layers.activation import use_compiled_torch_select
from relaxed_keras.layers.kernel_cache import cached_kernels


class CachedKernelsMixin:
    """`predict`, `evaluate`, `predict_on_batch`, `test_on_batch` and
    `export` of a `keras.Model` inside `relaxed_keras.layers.cached_kernels`:
    the group convolutions expand their kernels once per call instead of
    once per batch."""

    def predict(self, *args, **kwargs):
        with cached_kernels(self):
            return super().predict(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with cached_kernels(self):
            return super().evaluate(*args, **kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None,
               input_signature=None, **kwargs):
        """`keras.Model.export` with the expanded kernels of the group
        convolutions cached, as in `predict`: the artifact stores them as
        constants instead of expanding them at every call. A model that
        was never called (freshly loaded) is called once on a zero batch
        first: Keras's ONNX exporter needs it."""
        if not self._called:
            self(np.zeros((1,) + tuple(self.input_shape[1:]), "float32"),
                 training=False)
        with cached_kernels(self):
            return super().export(filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)

    def predict_on_batch(self, *args, **kwargs):
        with cached_kernels(self):
            return super().predict_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        with cached_kernels(self):
            return super().test_on_batch(*args, **kwargs)


class ZooModel(CachedKernelsMixin, keras.Model):
    """A functional `keras.Model` whose config is its constructor arguments.

    Subclasses build the feature graph in ``__init__`` (keras-hub style) and
    end with `_finish_classifier`, which adds the dense head, initialises the
    functional model and records the config.

    `predict`, `evaluate`, `predict_on_batch`, `test_on_batch` and `export`
    run inside
    `relaxed_keras.layers.cached_kernels`: the group convolutions expand
    their kernels once per call instead of once per batch (also for the
    validation pass of `fit`, which calls `evaluate`).

    `compile` tells the model's `relaxed_keras.layers.ReLU` layers whether
    torch.compile runs them (``jit_compile=True`` on torch), where they
    take a faster form with the same results.
    """

    @property
    def jit_compile(self):
        return keras.Model.jit_compile.fget(self)

    @jit_compile.setter
    def jit_compile(self, value):
        # `compile` sets it: the `relaxed_keras.layers.ReLU` layers pick
        # their form for torch.compile from it.
        keras.Model.jit_compile.fset(self, value)
        if getattr(self, "_layers", None):
            use_compiled_torch_select(self, self._jit_compile)

    def _model_input(self, input_shape, model_kwargs):
        """``keras.Input`` and, when ``input_normalization=(mean, std)`` is
        among ``model_kwargs``, a `keras.layers.Normalization` with those
        per-channel statistics (scalars apply to every channel), so the model
        takes raw images in ``[0, 1]``. A per-channel affine map commutes
        with rotations and flips: equivariance is unchanged.

        Returns:
            ``(inputs, x)``.
        """
        stats = model_kwargs.pop("input_normalization", None)
        self._check_model_kwargs(model_kwargs)
        inputs = keras.Input(input_shape)
        self._input_normalization = None
        if stats is None:
            return inputs, inputs
        if len(stats) != 2:
            raise ValueError(
                "`input_normalization` must be (mean, std) with scalars or one "
                f"value per channel. Received: input_normalization={stats!r}"
            )
        channels = input_shape[-1]
        mean, std = (
            [float(v)] * channels if np.ndim(v) == 0 else [float(a) for a in v]
            for v in stats
        )
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise ValueError(
                f"`input_normalization` needs {channels} means and {channels} "
                f"positive stds. Received: input_normalization={stats!r}"
            )
        self._input_normalization = [mean, std]
        layer = keras.layers.Normalization(
            axis=-1, mean=mean, variance=[s * s for s in std],
            name="input_normalization",
        )
        return inputs, layer(inputs)

    # What `keras.Model` does with the remaining keyword arguments; Keras's
    # functional constructor drops any other silently (a misspelt
    # ``num_class=2`` built a 10-class model).
    _MODEL_KWARGS = ("name", "trainable")

    def _check_model_kwargs(self, model_kwargs):
        unknown = sorted(set(model_kwargs) - set(self._MODEL_KWARGS))
        if not unknown:
            return
        parameters = inspect.signature(type(self).__init__).parameters
        accepted = [
            name for name, p in parameters.items()
            if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
        ] + ["input_normalization", *self._MODEL_KWARGS]
        hint = ""
        if "dtype" in unknown:
            hint = (
                " For mixed precision, set the policy before building: "
                "keras.config.set_dtype_policy('mixed_bfloat16')."
            )
        raise ValueError(
            f"{type(self).__name__} got unknown arguments {unknown}. "
            f"Accepted: {accepted}.{hint}"
        )

    def _finish_classifier(self, inputs, features, spec, model_kwargs, **config):
        """Dense head ``logits``, ``keras.Model.__init__`` and the config.

        Args:
            inputs: the `keras.Input`.
            features: ``[B, C]`` features.
            spec: the `ModelSpec` (its equivariance/group/relaxed settings
                join the config).
            model_kwargs: ``name`` etc. for `keras.Model`.
            **config: the remaining constructor arguments; must include
                ``input_shape`` and ``num_classes``.
        """
        logits = keras.layers.Dense(config["num_classes"], name="logits")
        super().__init__(inputs, keras_layer_call(logits)(features), **model_kwargs)
        # The backbone's outputs for `relaxed_keras.zoo.transfer` (graph
        # tensors, rebuilt with the model; not part of its config).
        self._backbone_tensors = (features, spec.feature_maps, spec.feature_elements)
        config["input_shape"] = tuple(config["input_shape"])
        self._zoo_config = {**config, **spec.get_config()}
        if getattr(self, "_input_normalization", None) is not None:
            self._zoo_config["input_normalization"] = self._input_normalization

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._zoo_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
