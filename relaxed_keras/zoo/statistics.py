"""Population statistics of batch normalisation, re-estimated after training.

Batch norm's moving averages (``momentum=0.9``: about the last ten
batches) describe the activations of the last training steps, with
dropout on and, for partial layers, sampled subgroups; at inference
dropout is off and the kernels are deterministic. The moving statistics
then disagree with the inference-time activations, and on deep stacks the
error compounds (a Z2CNN on rotated Fashion-MNIST: 18 % test accuracy with
its moving statistics, 61 % with re-estimated ones, same weights).
`reestimate_batch_norm` replaces them by the exact mean and variance of
each layer's *inference-mode* input over a set of training images, layer
by layer in graph order, so that every layer sees the inputs produced by
the already corrected layers before it (the "precise BN" of Wu & Johnson,
2021, computed in inference mode).
"""

import math

import keras
import numpy as np

from relaxed_keras.arguments import positive_int


def batch_norm_layers(model):
    """The `keras.layers.BatchNormalization` layers of a functional model,
    in graph order."""
    return [
        layer for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


class BatchNormEstimator:
    """Re-estimates a model's batch-norm statistics; keeps the sub-models
    that compute each layer's input moments, so repeated calls (one per
    epoch) compile nothing new.

    Args:
        model: a functional `keras.Model` whose batch-norm layers normalise
            the last axis (every zoo architecture).
        batch_size: images per forward pass.
    """

    def __init__(self, model, batch_size=256):
        self.model = model
        self.batch_size = positive_int(batch_size, "batch_size")
        self.layers = batch_norm_layers(model)
        self._probes = []
        for layer in self.layers:
            try:
                x = layer.input
            except (ValueError, AttributeError) as error:
                raise ValueError(
                    f"Layer {layer.name!r} is not reachable in the functional "
                    f"graph of {model.name!r} (a nested layer?): {error}"
                ) from None
            axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
            if axis not in (-1, len(x.shape) - 1):
                raise ValueError(
                    f"Layer {layer.name!r} normalises axis {layer.axis}; "
                    "re-estimation supports channels-last batch norm "
                    "(axis=-1) only."
                )
            # Per-batch moments inside the graph: the feature maps never
            # leave the backend.
            axes = tuple(range(len(x.shape) - 1))
            probe = keras.Model(model.inputs, list(keras.ops.moments(x, axes=axes)))
            self._probes.append((probe, math.prod(x.shape[1:-1])))

    def __call__(self, images):
        """Set every layer's moving mean and variance to the population
        moments of its inference-mode input over ``images``.

        Returns:
            dict ``{layer name: max |log(old variance / new variance)|}``,
            how far the old statistics were off (0 = exact).
        """
        images = np.asarray(images)
        if len(images) == 0:
            raise ValueError("`images` must hold at least one image.")
        drift = {}
        for layer, (probe, positions) in zip(self.layers, self._probes):
            mean, variance = self._moments(probe, positions, images)
            old = np.asarray(keras.ops.convert_to_numpy(layer.moving_variance))
            drift[layer.name] = float(np.max(np.abs(
                np.log((old + layer.epsilon) / (variance + layer.epsilon))
            )))
            layer.moving_mean.assign(mean.astype(layer.moving_mean.dtype))
            layer.moving_variance.assign(
                variance.astype(layer.moving_variance.dtype)
            )
        return drift

    def _moments(self, probe, positions, images):
        """Per-channel mean and (population) variance over every axis but
        the last: per-batch moments combined in float64 (Chan et al.'s
        pairwise update)."""
        count, mean, m2 = 0, 0.0, 0.0
        for start in range(0, len(images), self.batch_size):
            batch = images[start:start + self.batch_size]
            batch_mean, batch_variance = (
                np.asarray(v, "float64") for v in probe.predict_on_batch(batch)
            )
            n = len(batch) * positions
            delta = batch_mean - mean
            total = count + n
            mean = mean + delta * n / total
            m2 = m2 + batch_variance * n + delta ** 2 * count * n / total
            count = total
        return mean, m2 / count


def reestimate_batch_norm(model, images, batch_size=256):
    """Replace the moving statistics of every batch-norm layer of ``model``
    by the exact moments of its inference-mode input over ``images``.

    Call it after training (or fine-tuning) on a few thousand training
    images; the zoo's trainer does so before every validation pass and
    before saving a preset.

    Args:
        model: a functional `keras.Model` (every zoo model).
        images: training images ``[N, H, W, C]``, as the model takes them.
        batch_size: images per forward pass.

    Returns:
        dict ``{layer name: max |log(old / new variance)|}``.

    Example:

    >>> model = rk.zoo.load("p4cnn_strict_fashion_mnist")  # doctest: +SKIP
    >>> model.fit(x, y, epochs=1)  # doctest: +SKIP
    >>> rk.zoo.reestimate_batch_norm(model, x[:4096])  # doctest: +SKIP
    """
    return BatchNormEstimator(model, batch_size)(images)
