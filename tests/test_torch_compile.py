"""torch.compile (``jit_compile=True`` on the torch backend) traces every
layer into one graph: no graph breaks inside the library's layers.

A graph break splits a compiled training step into pieces that TorchDynamo
compiles and guards separately; numpy constants inside ``call`` and Keras's
`ops.pad` (a global name counter advanced on every call) did that, and the
counter's guard recompiled the padded pieces at every step until they fell
back to eager. The other backends trace whole functions by construction:
these tests skip there (`pad_spatial` is tested on every backend).
Keras's own batch norm (its reduction axes a tracked list) and `ops.max`
(a type check on its result) break graphs under torch; the library's
batch norm and max poolings avoid both. Keras's torch random numbers
(a `torch.Generator` under `torch.compiler.disable`) break too: the
sampling layers and the dropout draw with `relaxed_keras.random` in
training.
"""

import keras
import numpy as np
import pytest

from relaxed_keras import layers as L
from relaxed_keras.groups import E2
from relaxed_keras.groups import SE2
from relaxed_keras.layers.spatial import pad_spatial
from tests.helpers import to_numpy

torch_only = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="torch.compile graph breaks"
)


def _layer_cases():
    elements = SE2(4).grid_elements()
    return {
        "nonstationary_lifting_positions": (
            L.NonStationaryLiftingConv2D(2, 3, "se2_4", omega_prime=[0.5, 0.5],
                                         padding="same"),
            (2, 8, 8, 1), None),
        "nonstationary_group_positions": (
            L.NonStationaryGroupConv2D(2, 3, "se2_4", omega_prime=[0.5, 0.5, 1.0],
                                       strides=2, padding=1),
            (2, 9, 9, 4, 3), elements),
        "nonstationary_t2": (
            L.NonStationaryConv2D(3, 3, omega_prime=0.8, padding="same"),
            (2, 8, 8, 2), None),
        "partial_inference": (
            L.PartialGroupConv2D(2, 3, "se2_4", padding="same"),
            (2, 8, 8, 4, 3), elements),
        "strided_p4_conv": (
            L.GroupConv2D(2, 3, "p4", strides=2, padding="same"),
            (2, 9, 9, 4, 3), None),
        "padded_max_pooling": (
            L.GroupMaxPooling2D(3, strides=2, padding="same"), (2, 8, 8, 4, 3), None),
        "batch_norm_training": (
            L.BatchNormalization(), (2, 5, 5, 4, 3), None),
        "continuous_max_pooling": (
            L.ContinuousGroupPooling("max"), (2, 5, 5, 4, 3), elements),
        # Random draws in training (relaxed_keras.random): grid offset,
        # sampled rotations and Gumbel noise of the mirror.
        "continuous_lifting_training": (
            L.ContinuousLiftingConv2D(2, 3, "se2_4", padding="same", seed=1),
            (2, 8, 8, 1), None),
        "partial_training": (
            L.PartialGroupConv2D(2, 3, "e2_4", padding="same", seed=1),
            (2, 8, 8, 4, 3), E2(4).grid_elements()),
        # Seeded: Keras's seeded torch dropout is a graph break.
        "seeded_dropout_training": (
            L.Dropout(0.3, seed=1), (2, 5, 5, 4, 3), None),
    }


@torch_only
@pytest.mark.parametrize("name", sorted(_layer_cases()))
def test_layer_compiles_to_one_graph_without_breaks(name):
    import torch
    import torch._dynamo

    layer, shape, elements = _layer_cases()[name]
    training = name.endswith("_training")
    x = torch.rand(*shape)
    inputs = x if elements is None else [x, torch.as_tensor(elements)]

    def forward(inputs):
        out = layer(inputs, training=training)
        return out[0] if isinstance(out, (list, tuple)) else out

    forward(inputs)  # build outside the compiled region
    report = torch._dynamo.explain(forward)(inputs)
    reasons = [r.reason.splitlines()[0] for r in report.break_reasons]
    assert report.graph_break_count == 0, reasons
    assert report.graph_count == 1
    # A second call reuses the compiled graph (no guard on mutable state).
    # Layers that sample in training draw new numbers in it: the seed
    # state advances inside the graph, not as a traced-in constant.
    torch._dynamo.reset()
    compiled = torch.compile(forward, backend="eager")
    expected = compiled(inputs)
    with torch.compiler.set_stance("fail_on_recompile"):
        same = np.array_equal(to_numpy(compiled(inputs)), to_numpy(expected))
    samples = training and hasattr(layer, "seed_generator")
    assert bool(same) == (not samples)


@torch_only
def test_group_cnn_training_forward_compiles_to_one_graph():
    """Layers inside a functional model: Keras's `ops.max` breaks there
    (not when called alone), and each break recompiles the per-layer
    frames after it (14 graphs for the P4CNN before)."""
    import torch
    import torch._dynamo

    inputs = keras.Input((10, 10, 1))
    x = L.LiftingConv2D(3, 3, "p4", padding="same")(inputs)
    x = L.BatchNormalization()(x)
    x = L.GroupConv2D(3, 3, "p4", padding="same", activation="relu")(x)
    x = L.GroupPooling("max")(x)
    x = L.GlobalSpatialPooling2D("max")(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    images = torch.rand(2, 10, 10, 1)
    report = torch._dynamo.explain(lambda t: model(t, training=True))(images)
    reasons = [r.reason.splitlines()[0] for r in report.break_reasons]
    assert report.graph_break_count == 0, reasons
    assert report.graph_count == 1


@pytest.mark.parametrize("value", [0.0, -np.inf])
def test_pad_spatial_equals_numpy_pad(value):
    x = np.random.RandomState(0).rand(2, 3, 4, 2, 5).astype("float32")
    pads = ((1, 2), (0, 3))
    expected = np.pad(x, [(0, 0), pads[0], pads[1], (0, 0), (0, 0)],
                      constant_values=value)
    actual = to_numpy(pad_spatial(keras.ops.convert_to_tensor(x), pads, value))
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected)
    assert pad_spatial(x, ((0, 0), (0, 0))) is x
