"""Exactness report: does every strided layer satisfy Eq. 3?"""

import keras
import numpy as np

from relaxed_keras.arguments import boolean
from relaxed_keras.layers.spatial import SpatialSamplingMixin


class _KerasLayerGeometry(SpatialSamplingMixin):
    """Window geometry of Keras's own Conv2D/MaxPooling2D/AveragePooling2D
    (channels_last; ``"same"`` as on TensorFlow/JAX)."""

    def __init__(self, layer):
        self.kernel_size = tuple(
            getattr(layer, "kernel_size", None) or layer.pool_size
        )
        self.strides = tuple(layer.strides)
        self.dilation_rate = tuple(getattr(layer, "dilation_rate", (1, 1)))
        self.padding = layer.padding


class _KerasBorderGeometry:
    """Keras's ZeroPadding2D (``sign=1``) and Cropping2D (``sign=-1``): a
    window of one pixel, stride one; exact only when both sides of an axis
    change by the same amount (otherwise the image moves off the centre of
    rotation)."""

    def __init__(self, layer, sign):
        pairs = layer.padding if sign > 0 else layer.cropping
        self.pads = tuple((sign * int(a), sign * int(b)) for a, b in pairs)

    def sampling_geometry(self, spatial_shape):
        return [
            {
                "size": size,
                "kernel_size": 1,
                "stride": 1,
                "padding": pad,
                "output_size": None if size is None else size + sum(pad),
                "exact": pad[0] == pad[1],
            }
            for size, pad in zip(spatial_shape, self.pads)
        ]


_KERAS_WINDOWED = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)


def _geometry(layer):
    if hasattr(layer, "sampling_geometry"):
        return layer
    if isinstance(layer, _KERAS_WINDOWED):
        return _KerasLayerGeometry(layer)
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return _KerasBorderGeometry(layer, 1)
    if isinstance(layer, keras.layers.Cropping2D):
        return _KerasBorderGeometry(layer, -1)
    return None


def _windowed_layers(model):
    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if _geometry(layer) is not None
    ]


class ExactnessReport:
    """Rows per windowed layer, overall verdict and suggested input sizes.

    Attributes:
        rows: list of dicts (layer, class, axis, size, kernel_size, stride,
            padding, output_size, condition, same_on_both_axes, exact).
        exact: True when every layer is exact.
        suggested_sizes: nearest square input sizes ``(smaller, larger)``
            for which every layer is exact (None where none was found).
    """

    def __init__(self, input_shape, rows, suggested_sizes):
        self.input_shape = tuple(input_shape)
        self.rows = rows
        self.exact = all(row["exact"] for row in rows)
        self.suggested_sizes = suggested_sizes

    @property
    def offending_layers(self):
        return sorted({row["layer"] for row in self.rows if not row["exact"]})

    def __str__(self):
        header = (
            f"{'layer':<28}{'axis':>5}{'i':>5}{'k':>4}{'s':>3}{'pad':>8}"
            f"{'o':>5}{'(i+p-k)%s':>11}  exact"
        )
        lines = [f"Exactness report for input {self.input_shape}", header]
        for row in self.rows:
            pad = "{}+{}".format(*row["padding"])
            lines.append(
                f"{row['layer'][:27]:<28}{row['axis']:>5}{row['size']:>5}"
                f"{row['kernel_size']:>4}{row['stride']:>3}{pad:>8}"
                f"{row['output_size']:>5}{row['condition']:>11}  "
                + ("yes" if row["exact"] else "NO" if row["same_on_both_axes"]
                   else "NO (height and width differ)")
            )
        verdict = "every layer is exact" if self.exact else (
            "not exact: " + ", ".join(self.offending_layers)
        )
        lines.append(verdict)
        if not self.exact:
            lines.append(
                "nearest exact input sizes: "
                f"{self.suggested_sizes[0]} (smaller), "
                f"{self.suggested_sizes[1]} (larger)"
            )
        return "\n".join(lines)

    __repr__ = __str__


def _graph(model):
    """The functional graph of a functional or Sequential model."""
    graph = getattr(model, "_functional", None) or model
    if not hasattr(graph, "_run_through_graph"):
        raise ValueError(
            "exactness_report needs a functional or Sequential keras.Model "
            f"built with an input shape. Received: {type(model).__name__}"
        )
    return graph


def _trace_input_shapes(model, input_shape):
    """Input shape of every layer when the model sees ``input_shape``.

    Runs the graph symbolically with each layer's `compute_output_spec`
    (nested models are entered), so it also works for models whose `Input`
    was declared with another spatial size.
    """
    shapes = {}

    def run(graph, spec):
        def operation_fn(op):
            def fn(*args, **kwargs):
                if hasattr(args[0], "shape"):
                    shapes.setdefault(id(op), tuple(args[0].shape))
                if isinstance(op, keras.Model):
                    return run(_graph(op), args[0])
                return op.compute_output_spec(*args, **kwargs)

            return fn

        return graph._run_through_graph(spec, operation_fn=operation_fn)

    run(_graph(model), keras.KerasTensor((1,) + tuple(input_shape)))
    return shapes


def _rows_for(model, layers, input_shape, quarter_turns):
    shapes = _trace_input_shapes(model, input_shape)
    specs = [keras.KerasTensor(shapes[id(layer)]) for layer in layers]
    rows = []
    for layer, spec in zip(layers, specs):
        spatial = tuple(spec.shape[1:3])
        geometry = _geometry(layer).sampling_geometry(spatial)
        # A quarter turn swaps height and width: the window (dilation
        # included) and the stride must be the same along both.
        same = len({(g["kernel_size"], g["stride"]) for g in geometry}) == 1
        for axis, geo in zip(("h", "w"), geometry):
            before, after = geo["padding"]
            rows.append(
                {
                    "layer": layer.name,
                    "class": type(layer).__name__,
                    "axis": axis,
                    "condition": (
                        geo["size"] + before + after - geo["kernel_size"]
                    ) % geo["stride"],
                    **geo,
                    "same_on_both_axes": same,
                    "exact": geo["exact"] and (same or not quarter_turns),
                }
            )
    return rows


def _is_exact_size(model, layers, channels_shape, size, quarter_turns):
    try:
        rows = _rows_for(model, layers, (size, size) + channels_shape,
                         quarter_turns)
    except ValueError:
        return False
    return all(row["exact"] for row in rows)


def exactness_report(model, input_shape, search_radius=16, quarter_turns=True):
    """Check Eq. 3 of Edixhoven et al. (2023) for every windowed layer.

    Walks every strided or padded convolution and pooling (relaxed_keras
    layers and Keras's Conv2D/pooling layers) and every Keras
    ZeroPadding2D/Cropping2D (exact only when symmetric) of a functional
    or Sequential model, computes each one's input size for ``input_shape`` and checks
    that its window grid is symmetric, i.e. ``(i + 2p - k) mod s == 0``
    with symmetric padding (see `relaxed_keras.layers.padding`). When a
    layer fails, the nearest square input sizes that make the whole model
    exact are suggested.

    Args:
        model: a built functional or Sequential `keras.Model`.
        input_shape: ``(H, W, C)`` without the batch axis.
        search_radius: how far to look for exact input sizes.
        quarter_turns: the model is meant to be equivariant to rotations
            by 90 degrees (p4, p4m, SE(2) with 4k elements; the default).
            A quarter turn swaps height and width, so a layer whose window
            or stride differs between the two axes is not exact even when
            each axis satisfies Eq. 3 (e.g. a pooling with ``pool_size=(1,
            3)``). ``False`` for models equivariant to 180-degree rotations
            and mirrors only (p2, p2m), where such layers can be exact.

    Returns:
        `ExactnessReport` (print it for a table).

    Example:

    >>> report = exactness_report(model, (32, 32, 3))  # doctest: +SKIP
    >>> report.exact, report.offending_layers          # doctest: +SKIP
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "exactness_report needs a functional or Sequential keras.Model "
            f"(received a {type(model).__name__}); for one layer, read "
            "`layer.sampling_geometry((height, width))`."
        )
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                   and d >= 1 for d in input_shape)
    ):
        raise ValueError(
            "`input_shape` must be (height, width, channels), three positive "
            f"integers. Received: input_shape={input_shape!r}"
        )
    input_shape = tuple(int(d) for d in input_shape)
    quarter_turns = boolean(quarter_turns, "quarter_turns")
    layers = _windowed_layers(model)
    if not layers:
        return ExactnessReport(input_shape, [], (None, None))
    rows = _rows_for(model, layers, input_shape, quarter_turns)
    suggestions = (None, None)
    if not all(row["exact"] for row in rows):
        size = input_shape[0]
        channels_shape = tuple(input_shape[2:])
        smaller = next(
            (
                n
                for n in range(size - 1, max(size - search_radius - 1, 0), -1)
                if _is_exact_size(model, layers, channels_shape, n, quarter_turns)
            ),
            None,
        )
        larger = next(
            (
                n
                for n in range(size + 1, size + search_radius + 1)
                if _is_exact_size(model, layers, channels_shape, n, quarter_turns)
            ),
            None,
        )
        suggestions = (smaller, larger)
    return ExactnessReport(input_shape, rows, suggestions)


__all__ = ["exactness_report", "ExactnessReport"]
