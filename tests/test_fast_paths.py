"""Fast paths against the straightforward computation they replace
(relative error < 1e-5 in float32), on every backend."""

import os

import keras
import numpy as np
import pytest
from keras import ops

import relaxed_keras as rk
from relaxed_keras.layers.spatial import channels_last_op
from tests.helpers import gradient
from tests.helpers import relative_error
from tests.helpers import to_numpy
from tests.models import small_gcnn


def test_kernel_transform_gather_matches_rot90_and_roll():
    """The one-gather p4 expansion equals rotating every copy with
    `ops.rot90` and cyclically shifting its input group axis."""
    p4 = rk.groups.get("p4")
    kernel = np.random.RandomState(2).randn(3, 3, 4, 2, 5).astype("float32")
    fast = to_numpy(rk.kernels.KernelTransform(p4, (3, 3), lifting=False).expand(
        ops.convert_to_tensor(kernel)))
    for r in range(4):
        rotated = to_numpy(ops.rot90(ops.convert_to_tensor(kernel), k=r, axes=(0, 1)))
        slow = np.roll(rotated, r, axis=2)
        assert relative_error(fast[..., r, :], slow) < 1e-5


def test_continuous_kernel_network_runs_once_per_call():
    """All group elements' kernels come from one batched kernel-network
    evaluation (not one per element)."""
    layer = rk.layers.ContinuousGroupConv2D(3, 3, rk.groups.SE2(num_elements=8),
                                            padding=1)
    elements = rk.groups.SE2(num_elements=8).grid_elements()
    x = np.random.RandomState(3).rand(2, 6, 6, 8, 2).astype("float32")
    layer([x, elements])
    calls = []
    network_call = layer.kernel_network.call

    def counting_call(*args, **kwargs):
        calls.append(args[0].shape)
        return network_call(*args, **kwargs)

    layer.kernel_network.call = counting_call
    layer([x, elements])
    assert len(calls) == 1
    assert tuple(calls[0])[:-1] == (8, 3, 3, 8)


@pytest.mark.parametrize("group, on, lifting", [
    ("p4m", "output", False), ("p4m", "input", False), ("p4m", "output", True)])
def test_relaxed_mixed_kernel_matches_per_bank_convolutions(group, on, lifting):
    """Relaxed conv (Eq. 5): one convolution with the weight-mixed kernel
    (all banks expanded by one gather, mixed by one einsum) equals running
    a strict group conv per filter bank and summing ``w_l(g) * out_l(.,
    g)`` over the banks (output indexing), or ``out_l`` of the input with
    group slice ``h`` scaled by ``w_l(h)`` (input indexing), for arbitrary
    (symmetry-breaking) relaxed weights and a non-zero bias. The gradient
    with respect to ``w_l(g)`` is, by linearity, the upstream gradient's
    inner product with bank ``l``'s output on element ``g`` (1e-5
    relative)."""
    g = rk.groups.get(group)
    rng = np.random.RandomState(4)
    shape = (2, 7, 7, 3) if lifting else (2, 7, 7, g.size, 3)
    x = rng.rand(*shape).astype("float32")
    cls = rk.layers.RelaxedLiftingConv2D if lifting else rk.layers.RelaxedGroupConv2D
    layer = cls(4, 3, g, num_filter_banks=3, relaxed_weights_on=on, padding=1,
                bias_initializer="random_normal")
    layer(x)
    weights = rng.randn(3, g.size).astype("float32")
    layer.relaxed_weights.assign(weights)
    strict_cls = rk.layers.LiftingConv2D if lifting else rk.layers.GroupConv2D
    strict = strict_cls(4, 3, g, padding=1, use_bias=False)
    strict(x)
    # parts[l][e]: bank l's output on element e (output indexing) or for
    # the input's slice e alone (input indexing).
    parts = []
    for bank in to_numpy(layer.kernel):
        strict.kernel.assign(bank.astype("float32"))
        if on == "output":
            out = to_numpy(strict(x))
            parts.append([out[:, :, :, e] for e in range(g.size)])
        else:
            parts.append([])
            for e in range(g.size):
                alone = np.zeros_like(x)
                alone[:, :, :, e] = x[:, :, :, e]
                parts[-1].append(to_numpy(strict(alone)))
    slow = np.broadcast_to(to_numpy(layer.bias), (2, 7, 7, g.size, 4)).copy()
    for bank_parts, w in zip(parts, weights):
        for e, part in enumerate(bank_parts):
            if on == "output":
                slow[:, :, :, e] += w[e] * part
            else:
                slow += w[e] * part
    assert relative_error(layer(x), slow) < 1e-5
    upstream = rng.randn(*slow.shape).astype("float32")
    expected = np.array([[np.sum(part * (upstream[:, :, :, e] if on == "output"
                                         else upstream))
                          for e, part in enumerate(bank_parts)]
                         for bank_parts in parts])
    index = [v.name for v in layer.trainable_variables].index("relaxed_weights")
    values = [ops.convert_to_tensor(v) for v in layer.trainable_variables]
    state = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]

    def loss(p):
        current = list(values)
        current[index] = p[0]
        y, _ = layer.stateless_call(current, state, x)
        return ops.sum(y * ops.convert_to_tensor(upstream))

    (actual,) = _flat_gradient(loss, [weights])
    assert relative_error(actual, expected) < 1e-5


class SmallRelaxedZooModel(rk.models.base.ZooModel):
    """A `ZooModel` (kernels cached in predict/evaluate) with the relaxed
    lifting and group convs of the relaxed P4CNN, BN and dropout (the
    zoo's layers), but two conv layers instead of seven: under torch the
    compilation of the full P4CNN dominates the test's time."""

    def __init__(self):
        inputs = keras.Input((12, 12, 1))
        x = rk.layers.RelaxedLiftingConv2D(4, 3, "p4", padding=1)(inputs)
        x = rk.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = rk.layers.Dropout(0.1)(x)
        x = rk.layers.RelaxedGroupConv2D(4, 3, "p4", padding=1)(x)
        x = rk.layers.GroupPooling("max")(rk.layers.GroupMaxPooling2D(2)(x))
        x = keras.layers.GlobalAveragePooling2D()(x)
        super().__init__(inputs, keras.layers.Dense(10)(x))
        self._zoo_config = {}


@pytest.mark.parametrize("jit_compile", [False, True])
def test_cached_kernels_match_per_call_kernels_and_follow_weight_updates(
    tmp_path, jit_compile
):
    """`predict`/`evaluate` read kernels expanded once per call: the same
    outputs as the per-call expansion, refreshed after every weight update
    (also inside compiled predict functions), and never saved. One batch
    size throughout: under torch every new input shape is another inductor
    compilation."""
    keras.utils.set_random_seed(0)
    model = SmallRelaxedZooModel()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    rng = np.random.RandomState(5)
    x = rng.rand(16, 12, 12, 1).astype("float32")
    y = rng.randint(0, 10, 16)
    convs = [layer for layer in model._flatten_layers()
             if isinstance(layer, rk.layers.BaseGroupConv)]
    assert len(convs) == 2 and all(not layer._kernel_cache_active for layer in convs)
    params = model.count_params()
    cached = model.predict(x, batch_size=8, verbose=0)
    direct = to_numpy(model(x, training=False))
    assert relative_error(cached, direct) < 1e-5
    assert relative_error(model.predict_on_batch(x[:8]), direct[:8]) < 1e-5
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # weights change
    after = model.predict(x, batch_size=8, verbose=0)
    assert relative_error(after, to_numpy(model(x, training=False))) < 1e-5
    assert relative_error(after, cached) > 1e-4  # the cache followed the update
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    expected_loss = float(to_numpy(loss_fn(y, model(x, training=False))))
    # evaluate averages the two batches' losses: float32 rounding only.
    assert relative_error(model.evaluate(x, y, batch_size=8, verbose=0),
                          expected_loss) < 1e-5
    batch_loss = float(to_numpy(loss_fn(y[:8], model(x[:8], training=False))))
    assert relative_error(model.test_on_batch(x[:8], y[:8]), batch_loss) < 1e-5
    assert all(not layer._kernel_cache_active for layer in convs)
    # State, not weights: no parameters, no checkpoint entries.
    assert model.count_params() == params
    assert not any("kernel_cache" in v.path for v in model.weights)
    assert any("kernel_cache" in v.path for v in model.non_trainable_variables)
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    import h5py

    with h5py.File(path, "r") as f:
        names = []
        f.visit(names.append)
    assert not any("kernel_cache" in n and "vars/" in n for n in names)
    clone = SmallRelaxedZooModel()
    clone.load_weights(path)
    assert relative_error(clone.predict(x, batch_size=8, verbose=0), after) < 1e-5


@pytest.mark.parametrize(
    "padding, strides, dilation",
    [(1, 1, 1), ("same", 1, 1), ("same_equiv", 1, 2), (2, 1, 1), (1, 2, 1)],
)
def test_same_padding_fast_path_matches_explicit_padding(padding, strides, dilation):
    """Stride-1 symmetric ``(k - 1) / 2`` padding runs as ``ops.conv(padding=
    "same")`` without copying the input; every padding equals explicit
    zero padding followed by a ``"valid"`` convolution."""
    p4 = rk.groups.get("p4")
    x = np.random.RandomState(5).rand(2, 9, 9, 4, 3).astype("float32")
    layer = rk.layers.GroupConv2D(5, 3, p4, padding=padding, strides=strides,
                                  dilation_rate=dilation)
    fast = to_numpy(layer(x))
    _, conv_padding = layer._pad_for_conv(x.reshape(2, 9, 9, 12), (9, 9))
    expect_same = strides == 1 and padding in (1, "same", "same_equiv")
    assert conv_padding == ("same" if expect_same else "valid")
    pads = layer.spatial_padding((9, 9))
    padded = np.pad(x.reshape(2, 9, 9, 12), [(0, 0), pads[0], pads[1], (0, 0)])
    slow = ops.conv(ops.convert_to_tensor(padded), layer.compute_conv_kernel(),
                    strides=strides, padding="valid", dilation_rate=dilation)
    slow = to_numpy(slow).reshape(fast.shape) + to_numpy(layer.bias)
    assert relative_error(fast, slow) < 1e-5


@pytest.mark.parametrize("group,lifting", [("p4", True), ("p4m", False)])
def test_folded_bias_matches_rank5_bias(group, lifting):
    """The bias added to the rank-4 convolution output (tiled over the
    group-major channels) equals adding ``bias[c]`` to every group element
    of the rank-5 output."""
    g = rk.groups.get(group)
    rng = np.random.RandomState(6)
    cls = rk.layers.LiftingConv2D if lifting else rk.layers.GroupConv2D
    shape = (2, 7, 7, 3) if lifting else (2, 7, 7, g.size, 3)
    x = rng.rand(*shape).astype("float32")
    with_bias = cls(5, 3, g, padding=1)
    without_bias = cls(5, 3, g, padding=1, use_bias=False)
    with_bias.build(shape)
    without_bias.build(shape)
    bias = rng.randn(5).astype("float32")
    with_bias.bias.assign(bias)
    without_bias.kernel.assign(to_numpy(with_bias.kernel))
    expected = to_numpy(without_bias(x)) + bias
    assert relative_error(to_numpy(with_bias(x)), expected) < 1e-5


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_to_group_layout_matches_reshape_then_bias(dtype, training):
    """The shared output step of strict and continuous group convs: the
    bias add, folded or not (torch folds outside training only), equals
    reshaping to ``[B, H, W, |G|, F]`` and adding ``bias[f]`` to every
    group element, in the output's dtype."""
    from relaxed_keras.layers.spatial import folds_group_axis
    from relaxed_keras.layers.spatial import to_group_layout

    assert folds_group_axis(training) == (
        keras.backend.backend() != "torch" or not training
    )
    rng = np.random.RandomState(7)
    y = rng.randn(2, 5, 6, 8 * 3).astype("float32")
    bias = rng.randn(3).astype("float32")
    out = to_group_layout(
        ops.cast(y, dtype), ops.convert_to_tensor(bias), 8, 3, training=training
    )
    assert tuple(out.shape) == (2, 5, 6, 8, 3)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    expected = y.reshape(2, 5, 6, 8, 3) + bias
    tolerance = 1e-5 if dtype == "float32" else 1e-2
    assert relative_error(to_numpy(ops.cast(out, "float32")), expected) < tolerance
    no_bias = to_group_layout(ops.convert_to_tensor(y), None, 8, 3, training=training)
    assert relative_error(to_numpy(no_bias), y.reshape(2, 5, 6, 8, 3)) < 1e-7


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_tile_and_mean_over_group_match_numpy(dtype):
    """The vector operations of the folded fast paths: tiling (a
    concatenation on TensorFlow/JAX, a 0/1-matrix product on torch) is
    exact, bit-equal to `np.tile`; the mean over group elements (a
    0/1-matrix product) matches numpy."""
    from relaxed_keras.layers.spatial import mean_over_group
    from relaxed_keras.layers.spatial import tile_over_group

    rng = np.random.RandomState(11)
    vector = rng.randn(5).astype("float32")
    tiled = tile_over_group(ops.cast(vector, dtype), 8)
    assert keras.backend.standardize_dtype(tiled.dtype) == dtype
    rounded = to_numpy(ops.cast(ops.cast(vector, dtype), "float32"))
    assert np.array_equal(to_numpy(ops.cast(tiled, "float32")), np.tile(rounded, 8))
    folded = rng.randn(8 * 5).astype("float32")
    expected = folded.reshape(8, 5).mean(axis=0)
    assert relative_error(to_numpy(mean_over_group(ops.convert_to_tensor(folded), 8)),
                          expected) < 1e-6


def _paired_batch_norms(rng, channels, rank=5, **kwargs):
    """Keras's BatchNormalization and ours, same (non-trivial) weights."""
    layers = [keras.layers.BatchNormalization(momentum=0.9, **kwargs),
              rk.layers.BatchNormalization(momentum=0.9, **kwargs)]
    values = {"gamma": rng.rand(channels) + 0.5, "beta": rng.randn(channels),
              "moving_mean": rng.randn(channels),
              "moving_variance": rng.rand(channels) + 0.5}
    shape = (None, 5, 5, 4, channels) if rank == 5 else (None, 5, 20, channels)
    for layer in layers:
        layer.build(shape)
        for name, value in values.items():
            if getattr(layer, name, None) is not None:
                getattr(layer, name).assign(value.astype("float32"))
    return layers


@pytest.mark.parametrize("group_size", [4, 8])
@pytest.mark.parametrize("scale_center", [True, False])
def test_batch_norm_fast_path_matches_keras_batch_norm(group_size, scale_center):
    """`rk.layers.BatchNormalization` on ``[B, H, W, |G|, C]`` (folded
    moments in training, tiled scale/offset in training and inference on
    TensorFlow and JAX, in inference on torch) gives Keras's outputs, moving statistics and input
    gradients, also when frozen; rank 4 is Keras's code on TensorFlow and
    JAX (torch's `_affine_call` at rank 4: the parameter-gradient test
    below)."""
    rng = np.random.RandomState(8)
    channels = 3
    # Per-(g, c) means and scales differ, so a wrong combination of the
    # per-element moments would show.
    x = (rng.randn(6, 5, 5, group_size, channels) * rng.rand(group_size, channels)
         * 3 + rng.randn(group_size, channels) * 2).astype("float32")
    keras_bn, ours = _paired_batch_norms(rng, channels, center=scale_center,
                                         scale=scale_center)
    expected = to_numpy(keras_bn(x, training=True))
    assert relative_error(to_numpy(ours(x, training=True)), expected) < 1e-5
    for name in ("moving_mean", "moving_variance"):
        assert relative_error(to_numpy(getattr(ours, name)),
                              to_numpy(getattr(keras_bn, name))) < 1e-5
    assert relative_error(to_numpy(ours(x, training=False)),
                          to_numpy(keras_bn(x, training=False))) < 1e-5
    # A frozen layer normalises with its moving statistics in training too.
    keras_bn.trainable = ours.trainable = False
    assert relative_error(to_numpy(ours(x, training=True)),
                          to_numpy(keras_bn(x, training=True))) < 1e-5
    keras_bn.trainable = ours.trainable = True
    weights = ops.convert_to_tensor(rng.randn(*x.shape).astype("float32"))

    def loss(layer):
        return lambda t: ops.sum(layer(t, training=True) * weights)

    assert relative_error(gradient(loss(ours), x), gradient(loss(keras_bn), x)) < 1e-5
    flat = x.reshape(6, 5, 5 * group_size, channels)
    keras_bn, ours = _paired_batch_norms(rng, channels, rank=4)
    assert relative_error(to_numpy(ours(flat, training=True)),
                          to_numpy(keras_bn(flat, training=True))) < 1e-5


def test_batch_norm_fast_path_under_mixed_precision():
    """With ``mixed_bfloat16`` the folded path computes in float32 and
    returns bfloat16, like Keras's layer (training and inference)."""
    rng = np.random.RandomState(9)
    x = (rng.randn(4, 5, 5, 4, 3) * 2 + 1).astype("float32")
    keras_bn, ours = _paired_batch_norms(rng, 3, dtype="mixed_bfloat16")
    out = ours(x, training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    expected = to_numpy(ops.cast(keras_bn(x, training=True), "float32"))
    assert relative_error(to_numpy(ops.cast(out, "float32")), expected) < 1e-2
    assert keras.backend.standardize_dtype(ours.moving_mean.dtype) == "float32"
    assert relative_error(to_numpy(ours.moving_mean),
                          to_numpy(keras_bn.moving_mean)) < 1e-5
    out = ours(x, training=False)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    expected = to_numpy(ops.cast(keras_bn(x, training=False), "float32"))
    assert relative_error(to_numpy(ops.cast(out, "float32")), expected) < 1e-2


def test_batch_norm_keeps_keras_weight_file_paths(tmp_path):
    """A model with Keras's BatchNormalization and the same model with ours
    read each other's ``.weights.h5`` files (Keras names weight paths after
    the layer class), so zoo checkpoints load into both."""
    def model(batch_norm_class):
        inputs = keras.Input((6, 6, 4, 2))
        x = batch_norm_class(name="a")(inputs)
        x = batch_norm_class(name="b")(x)
        return keras.Model(inputs, x)

    rng = np.random.RandomState(10)
    source = model(keras.layers.BatchNormalization)
    for variable in source.weights:
        variable.assign(rng.rand(*variable.shape).astype("float32") + 0.5)
    path = str(tmp_path / "bn.weights.h5")
    source.save_weights(path)
    target = model(rk.layers.BatchNormalization)
    target.load_weights(path)
    for expected, actual in zip(source.weights, target.weights):
        assert np.array_equal(to_numpy(expected), to_numpy(actual))


def test_dropout_fast_path_drops_entries_independently():
    """`rk.layers.Dropout` (counter-based masks) on ``[B, H, W, |G|, C]``:
    entries are 0 or ``x / (1 - rate)``, about ``rate`` of them dropped,
    independently across group elements and channels (no mask shared along
    an axis); identity in inference; ``noise_shape`` is honoured."""
    rate = 0.3
    x = np.ones((8, 10, 10, 4, 5), "float32")
    layer = rk.layers.Dropout(rate, seed=3)
    y = to_numpy(layer(x, training=True))
    kept = y != 0
    assert np.allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
    assert abs(1 - kept.mean() - rate) < 0.02
    for axis in (3, 4):
        assert not np.all(kept == np.take(kept, [0], axis=axis)), axis
    assert np.array_equal(to_numpy(layer(x, training=False)), x)
    shared = rk.layers.Dropout(rate, noise_shape=(8, 10, 10, 1, 5), seed=3)
    y = to_numpy(shared(x, training=True))
    assert np.all((y == 0) == (y[:, :, :, :1] == 0))
    assert to_numpy(layer(x, training=True)).shape == x.shape


@pytest.mark.parametrize("strides, padding, dilation", [
    (1, "same", 1), (2, "valid", 1), (1, "valid", 2), (2, "same", 1)])
def test_channels_last_op_matches_keras_ops(strides, padding, dilation):
    """`channels_last_op` (on torch: the channels-first op on the
    transposed view) gives `ops.conv`/`ops.max_pool`/`ops.average_pool`'s
    numbers and input gradients (and the convolution's kernel gradient),
    and on torch returns contiguous ``[B, H, W, C]`` (the memory the next
    layer reshapes without a copy)."""
    rng = np.random.RandomState(3)
    x = rng.randn(2, 9, 9, 6).astype("float32")
    kernel = ops.convert_to_tensor(rng.randn(3, 3, 6, 5).astype("float32"))
    cases = [
        (ops.conv, (kernel,), dict(strides=strides, padding=padding,
                                   dilation_rate=dilation)),
        (ops.max_pool, (2,), dict(strides=strides, padding=padding)),
        (ops.average_pool, (3,), dict(strides=strides, padding="valid")),
    ]
    for op, args, kwargs in cases:
        expected = op(ops.convert_to_tensor(x), *args, **kwargs)
        actual = channels_last_op(op, ops.convert_to_tensor(x), *args, **kwargs)
        assert tuple(actual.shape) == tuple(expected.shape)
        assert relative_error(actual, expected) < 1e-5, op.__name__
        if keras.backend.backend() == "torch":
            assert actual.is_contiguous(), op.__name__
        weights = ops.convert_to_tensor(
            rng.randn(*expected.shape).astype("float32"))

        def loss(fn):
            return lambda t: ops.sum(fn(t) * weights)

        assert relative_error(
            gradient(loss(lambda t: channels_last_op(op, t, *args, **kwargs)), x),
            gradient(loss(lambda t: op(t, *args, **kwargs)), x)) < 1e-5, op.__name__
    # The kernel's gradient (the layers' weights train through it).
    conv_kwargs = cases[0][2]
    images = ops.convert_to_tensor(x)
    weights = ops.convert_to_tensor(rng.randn(
        *ops.conv(images, kernel, **conv_kwargs).shape).astype("float32"))

    def kernel_loss(fn):
        return lambda k: ops.sum(fn(images, k) * weights)

    assert relative_error(
        gradient(kernel_loss(lambda t, k: channels_last_op(ops.conv, t, k, **conv_kwargs)),
                 to_numpy(kernel)),
        gradient(kernel_loss(lambda t, k: ops.conv(t, k, **conv_kwargs)),
                 to_numpy(kernel))) < 1e-5


@pytest.mark.parametrize("jit_compile", [False, True])
def test_plain_model_predicts_fresh_kernels_after_a_cached_scope(jit_compile):
    """A plain `keras.Model` whose `predict` ran inside `cached_kernels`:
    after the scope, `predict` follows weight changes (the function traced
    inside the scope reads the cache and is swapped out on exit), and a
    second scope refreshes the cache and reuses its compiled function."""
    inputs = keras.Input((8, 8, 1))
    conv = rk.layers.LiftingConv2D(2, 3, "p4", padding=1)
    model = keras.Model(inputs, conv(inputs))
    model.compile(loss="mse", jit_compile=jit_compile)
    x = np.random.RandomState(3).rand(4, 8, 8, 1).astype("float32")
    with rk.layers.cached_kernels(model):
        before = model.predict(x, verbose=0)
        scope_function = model.predict_function
    assert model.predict_function is None
    conv.kernel.assign(ops.convert_to_tensor(conv.kernel) * 0.5 + 1.0)
    expected = to_numpy(model(x))
    assert relative_error(expected, before) > 1e-2
    assert relative_error(model.predict(x, verbose=0), expected) < 1e-5
    outside_function = model.predict_function
    conv.kernel.assign(ops.convert_to_tensor(conv.kernel) * 2.0)
    expected = to_numpy(model(x))
    with rk.layers.cached_kernels(model):
        assert model.predict_function is scope_function
        assert relative_error(model.predict(x, verbose=0), expected) < 1e-5
    assert model.predict_function is outside_function
    assert relative_error(model.predict(x, verbose=0), expected) < 1e-5


def test_cached_kernels_of_a_float64_layer():
    """The cache takes the layer's dtype policy: a float64 layer's cached
    predict (torch raised "expected scalar type Double but found Float")."""
    inputs = keras.Input((8, 8, 1), dtype="float64")
    conv = rk.layers.LiftingConv2D(2, 3, "p4", dtype="float64")
    model = keras.Model(inputs, conv(inputs))
    assert conv.kernel_cache.value.dtype == conv.kernel.dtype
    x = np.random.RandomState(0).rand(2, 8, 8, 1)
    with rk.layers.cached_kernels(model):
        cached = model.predict(x, verbose=0)
    assert relative_error(cached, to_numpy(model(x))) < 1e-6


def test_one_compiled_refresh_equals_the_eager_expansion():
    """On JAX and TensorFlow `cached_kernels` expands every kernel in one
    compiled pass (reused while the layers are the same); the caches equal
    each layer's eager `compute_conv_kernel()`, follow weight updates, and
    keep a float64 layer's precision (no float32 autocast). Eager on torch
    and under a distribution."""
    from relaxed_keras.layers import kernel_cache

    for dtype, tolerance in (("float32", 1e-6), ("float64", 1e-12)):
        inputs = keras.Input((10, 10, 1), dtype=dtype)
        x = rk.layers.RelaxedLiftingConv2D(3, 3, "p4", dtype=dtype)(inputs)
        x = rk.layers.GroupConv2D(4, 3, "p4", dtype=dtype)(x)
        model = keras.Model(inputs, rk.layers.GroupConv2D(2, 3, "p4", dtype=dtype)(x))
        convs = kernel_cache._cached_layers(model)
        assert len(convs) == 3
        for step in range(2):
            with rk.layers.cached_kernels(model):
                for layer in convs:
                    cache = keras.ops.convert_to_numpy(layer.kernel_cache.value)
                    # (JAX without x64 stores "float64" variables as float32.)
                    stored = keras.ops.convert_to_numpy(layer.kernel).dtype
                    assert cache.dtype == stored
                    eager = to_numpy(layer.compute_conv_kernel())
                    assert relative_error(cache, eager) < (
                        tolerance if stored == np.float64 else 1e-6)
            expansion = kernel_cache._expansions.get(model)
            if keras.backend.backend() in ("jax", "tensorflow"):
                assert expansion is not None and expansion.expanded_layers == convs
                if step:
                    assert expansion is first  # compiled once, reused
                first = expansion
            else:
                assert expansion is None
            convs[1].kernel.assign(convs[1].kernel * 2.0 + 1.0)
    if keras.backend.backend() == "jax":
        fresh = keras.Model(inputs, rk.layers.GroupConv2D(2, 3, "p4", dtype=dtype)(x))
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(
            devices=keras.distribution.list_devices()))
        try:
            with rk.layers.cached_kernels(fresh):
                pass
        finally:
            keras.distribution.set_distribution(previous)
        assert kernel_cache._expansions.get(fresh) is None


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tf.function is TensorFlow's tracer")
def test_cached_kernels_inside_a_traced_tf_function():
    """A `tf.function` that enters `cached_kernels` (a serving function)
    traces the eager expansion: the compiled helper model cannot run
    while tracing (its outputs are host arrays). Same outputs as the
    model without the scope, and the helper is not created."""
    import tensorflow as tf

    from relaxed_keras.layers import kernel_cache

    model = small_gcnn("p4")
    x = tf.constant(np.random.RandomState(5).rand(2, 12, 12, 1).astype("float32"))

    @tf.function
    def serve(images):
        with rk.layers.cached_kernels(model):
            return model(images, training=False)

    expected = to_numpy(model(x, training=False))
    assert relative_error(to_numpy(serve(x)), expected) < 1e-6
    assert kernel_cache._expansions.get(model) is None


# ----------------------------------------------------------------------
# Gradients, training mode and the inputs the tests above left trivial.
# ----------------------------------------------------------------------
def _compiled(function):
    """``function`` as one compiled JAX function (a fresh trace for every
    call of `_compiled`); unchanged on the other backends. Eager JAX
    compiles every op separately: seconds per test."""
    if keras.backend.backend() != "jax":
        return function
    import jax

    return jax.jit(lambda *args: function(*args))


def _flat_gradient(loss_of_parts, parts):
    """Gradient of ``loss_of_parts(list of tensors)`` with respect to every
    array of ``parts`` (numpy), in one backward pass: ``[gradient, ...]``
    (compiled on JAX, `_compiled`)."""
    shapes = [np.shape(p) for p in parts]
    sizes = [int(np.prod(s)) for s in shapes]
    flat = np.concatenate([np.ravel(p) for p in parts]).astype("float32")

    def loss(t):
        tensors, start = [], 0
        for shape, size in zip(shapes, sizes):
            tensors.append(ops.reshape(t[start:start + size], shape))
            start += size
        return loss_of_parts(tensors)

    g = gradient(_compiled(loss), flat)
    return [part.reshape(s) for part, s in
            zip(np.split(g, np.cumsum(sizes)[:-1]), shapes)]


def test_dropout_scales_the_kept_entries_of_the_input():
    """`rk.layers.Dropout` in training (through `stateless_call`, as JAX's
    trainer calls it) on signed, non-constant group feature maps: every
    entry is either 0 or its own input divided by ``1 - rate``, about
    ``rate`` of them are 0, and the gradient is the same mask times the
    upstream gradient divided by ``1 - rate``."""
    rate = 0.3
    rng = np.random.RandomState(12)
    x = rng.randn(4, 6, 6, 4, 5).astype("float32")
    upstream = rng.randn(*x.shape).astype("float32")
    layer = rk.layers.Dropout(rate, seed=5)
    layer.build(x.shape)
    state = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]

    def call(t):
        y, _ = layer.stateless_call([], state, t, training=True)
        return y

    y = to_numpy(call(ops.convert_to_tensor(x)))
    kept = y != 0
    assert abs(1 - kept.mean() - rate) < 0.04
    assert relative_error(y[kept], x[kept] / (1 - rate)) < 1e-6
    (g,) = _flat_gradient(
        lambda p: ops.sum(call(p[0]) * ops.convert_to_tensor(upstream)), [x])
    # Same state, same mask.
    assert np.array_equal(g != 0, kept)
    assert relative_error(g[kept], upstream[kept] / (1 - rate)) < 1e-6


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("rank", [4, 5])
def test_batch_norm_parameter_gradients_match_keras_batch_norm(rank, training):
    """`rk.layers.BatchNormalization` in training (folded moments on
    TensorFlow/JAX at rank 5, `_affine_call` on torch at every rank) and
    in inference (at rank 5 the folded view on every backend): the
    gradients with respect to the input, ``gamma`` and ``beta`` (through
    the tiled scale and offset), the moving statistics and the inference
    outputs equal Keras's layer (1e-5 relative)."""
    rng = np.random.RandomState(13)
    shape = (5, 4, 4, 4, 3) if rank == 5 else (5, 4, 16, 3)
    x = (rng.randn(*shape) * rng.rand(*shape[-2:]) * 3
         + rng.randn(*shape[-2:]) * 2).astype("float32")
    upstream = rng.randn(*shape).astype("float32")
    layers = keras_bn, ours = _paired_batch_norms(rng, 3, rank=rank)
    names = ["gamma", "beta"]
    assert [v.name for v in ours.trainable_variables] == names
    grads = []
    for layer in layers:
        gamma, beta = (to_numpy(v) for v in layer.trainable_variables)
        state = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]

        def loss(parts, layer=layer, state=state):
            y, _ = layer.stateless_call(parts[1:], state, parts[0], training=training)
            return ops.sum(y * ops.convert_to_tensor(upstream))

        grads.append(_flat_gradient(loss, [x, gamma, beta]))
    for name, ours_grad, keras_grad in zip(["x"] + names, grads[1], grads[0]):
        assert relative_error(ours_grad, keras_grad) < 1e-5, name
    assert relative_error(ours(x, training=True), keras_bn(x, training=True)) < 1e-5
    for name in ("moving_mean", "moving_variance"):
        assert relative_error(getattr(ours, name), getattr(keras_bn, name)) < 1e-5
    assert relative_error(ours(x, training=False), keras_bn(x, training=False)) < 1e-5


def test_folded_bias_gradients_sum_over_group_elements():
    """Backward pass of `to_group_layout` (folded outside training on
    every backend, so the bias goes through `tile_over_group`: a
    concatenation on TensorFlow/JAX, a 0/1-matrix product on torch): the bias gradient is the
    upstream gradient summed over batch, space and group elements, the
    feature gradient is the upstream gradient reshaped to ``[B, H, W,
    |G| F]`` (group-major)."""
    from relaxed_keras.layers.spatial import to_group_layout

    rng = np.random.RandomState(14)
    y = rng.randn(2, 3, 4, 8 * 5).astype("float32")
    bias = rng.randn(5).astype("float32")
    upstream = rng.randn(2, 3, 4, 8, 5).astype("float32")
    grad_y, grad_bias = _flat_gradient(
        lambda p: ops.sum(to_group_layout(p[0], p[1], 8, 5)
                          * ops.convert_to_tensor(upstream)), [y, bias])
    assert relative_error(grad_bias, upstream.sum(axis=(0, 1, 2, 3))) < 1e-6
    assert relative_error(grad_y, upstream.reshape(y.shape)) < 1e-7


@pytest.mark.parametrize("group, lifting", [("p4", True), ("p4m", False), ("c8", False)])
def test_kernel_expansion_and_its_gradient_match_the_group_action(group, lifting):
    """The one-gather kernel expansion (`KernelTransform.expand`; for C8
    the gather of four taps and interpolation weights) equals transforming
    the base kernel with the group action (`transform_images` /
    `transform_feature_maps`: rot90, flips, bilinear rotation, group-axis
    permutation), and so does its gradient with respect to the base
    kernel (1e-5 relative)."""
    g = rk.groups.get(group)
    rng = np.random.RandomState(15)
    g_in = 1 if lifting else g.size
    base = rng.randn(5, 5, g_in, 2, 3).astype("float32")
    upstream = rng.randn(5, 5, g_in, 2, g.size, 3).astype("float32")
    transform = rk.kernels.KernelTransform(g, (5, 5), lifting=lifting)

    def slow(kernel):
        """[kh, kw, G_in, C_in, C_out] -> [kh, kw, G_in, C_in, |G|, C_out]."""
        if lifting:  # as images [C_out, kh, kw, C_in]
            maps = ops.transpose(kernel[:, :, 0], (3, 0, 1, 2))
            copies = [ops.transpose(g.transform_images(maps, e), (1, 2, 3, 0))[:, :, None]
                      for e in range(g.size)]
        else:  # as group feature maps [C_out, kh, kw, G, C_in]
            maps = ops.transpose(kernel, (4, 0, 1, 2, 3))
            copies = [ops.transpose(g.transform_feature_maps(maps, e), (1, 2, 3, 4, 0))
                      for e in range(g.size)]
        return ops.stack(copies, axis=4)

    kernel = ops.convert_to_tensor(base)
    assert relative_error(_compiled(transform.expand)(kernel),
                          _compiled(slow)(kernel)) < 1e-5
    weights = ops.convert_to_tensor(upstream)
    (fast_grad,) = _flat_gradient(
        lambda p: ops.sum(transform.expand(p[0]) * weights), [base])
    (slow_grad,) = _flat_gradient(lambda p: ops.sum(slow(p[0]) * weights), [base])
    assert relative_error(fast_grad, slow_grad) < 1e-5


def _numpy_pooling(x, upstream, pool_size, strides, pads, mode):
    """Window by window in float64: outputs over the input pixels of each
    window (padding excluded) and the input gradient of ``sum(out *
    upstream)``."""
    (top, bottom), (left, right) = pads
    height, width = x.shape[1:3]
    out_h = (height + top + bottom - pool_size[0]) // strides[0] + 1
    out_w = (width + left + right - pool_size[1]) // strides[1] + 1
    out = np.zeros((x.shape[0], out_h, out_w) + x.shape[3:])
    grad = np.zeros(x.shape)
    for i in range(out_h):
        rows = slice(max(i * strides[0] - top, 0),
                     min(i * strides[0] - top + pool_size[0], height))
        for j in range(out_w):
            cols = slice(max(j * strides[1] - left, 0),
                         min(j * strides[1] - left + pool_size[1], width))
            window = x[:, rows, cols].astype("float64")
            count = window.shape[1] * window.shape[2]
            if mode == "mean":
                out[:, i, j] = window.mean(axis=(1, 2))
                grad[:, rows, cols] += upstream[:, i:i + 1, j:j + 1] / count
            else:
                out[:, i, j] = window.max(axis=(1, 2))
                winner = window == out[:, i:i + 1, j:j + 1]
                grad[:, rows, cols] += winner * upstream[:, i:i + 1, j:j + 1]
    return out, grad


@pytest.mark.parametrize("mode", ["max", "mean"])
@pytest.mark.parametrize("shape, pool_size, strides, padding", [
    ((2, 7, 8, 4, 3), 3, 2, "same"),       # pads (1, 1), (0, 1)
    ((2, 7, 8, 3), (2, 3), (1, 2), "same"),  # pads (0, 1), (0, 1)
])
def test_spatial_poolings_match_numpy_windows(mode, shape, pool_size, strides, padding):
    """`GroupMaxPooling2D` / `GroupAveragePooling2D` (explicit padding:
    `pad_spatial`, on torch a concatenation; -inf for max, a count of the
    input pixels for mean; `channels_last_op`) equal a window-by-window
    numpy reference over the input pixels only, for asymmetric padding,
    unequal strides and signed inputs, with and without a group axis; so
    do their input gradients (1e-5 relative)."""
    rng = np.random.RandomState(16)
    x = rng.randn(*shape).astype("float32")
    cls = rk.layers.GroupMaxPooling2D if mode == "max" else rk.layers.GroupAveragePooling2D
    layer = cls(pool_size, strides=strides, padding=padding)
    y = to_numpy(layer(x))
    upstream = rng.randn(*y.shape).astype("float32")
    pads = layer.spatial_padding(shape[1:3])
    expected, expected_grad = _numpy_pooling(x, upstream, layer.pool_size,
                                             layer.strides, pads, mode)
    assert relative_error(y, expected) < 1e-5
    (grad,) = _flat_gradient(
        lambda p: ops.sum(layer(p[0]) * ops.convert_to_tensor(upstream)), [x])
    assert relative_error(grad, expected_grad) < 1e-5


def test_pad_spatial_values_and_gradient_on_images():
    """`pad_spatial` (on torch a concatenation with constant blocks, else
    `ops.pad`) on rank-4 images: `numpy.pad` with a non-zero fill value,
    and its gradient is the upstream gradient cropped to the input."""
    from relaxed_keras.layers.spatial import pad_spatial

    rng = np.random.RandomState(17)
    x = rng.randn(2, 3, 4, 5).astype("float32")
    pads = ((2, 1), (0, 3))
    expected = np.pad(x, [(0, 0), (2, 1), (0, 3), (0, 0)], constant_values=-1.5)
    padded = to_numpy(pad_spatial(ops.convert_to_tensor(x), pads, -1.5))
    assert np.array_equal(padded, expected)
    upstream = rng.randn(*expected.shape).astype("float32")
    (grad,) = _flat_gradient(
        lambda p: ops.sum(pad_spatial(p[0], pads, -1.5) * ops.convert_to_tensor(upstream)),
        [x])
    assert np.array_equal(grad, upstream[:, 2:5, 0:4])


@pytest.mark.parametrize("group, kernel_size, padding, dilation", [
    ("p4", 3, 1, 1), ("p4", 3, "same_equiv", 2), ("c2", (3, 5), "same", 1)])
def test_same_padding_fast_path_gradients_match_explicit_padding(
        group, kernel_size, padding, dilation):
    """The ``ops.conv(padding="same")`` fast path (no copy of the input)
    has the gradients, with respect to the input and the base kernel, of
    explicit zero padding followed by a ``"valid"`` convolution (1e-5
    relative), also for a dilated and a non-square kernel."""
    g = rk.groups.get(group)
    rng = np.random.RandomState(18)
    x = rng.randn(2, 7, 7, g.size, 2).astype("float32")
    layer = rk.layers.GroupConv2D(3, kernel_size, g, padding=padding,
                                  dilation_rate=dilation, use_bias=False)
    layer.build(x.shape)
    folded = x.reshape(2, 7, 7, -1)
    assert layer._pad_for_conv(folded, (7, 7))[1] == "same"
    pads = layer.spatial_padding((7, 7))
    kernel = to_numpy(layer.kernel).astype("float32")
    state = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]
    upstream = ops.convert_to_tensor(rng.randn(2, 7, 7, g.size, 3).astype("float32"))

    def fast(p):
        y, _ = layer.stateless_call([p[1]], state, p[0])
        return ops.sum(y * upstream)

    def slow(p):
        padded = ops.pad(ops.reshape(p[0], folded.shape),
                         [(0, 0), pads[0], pads[1], (0, 0)])
        y = ops.conv(padded, layer.transform(p[1]), padding="valid",
                     dilation_rate=dilation)
        return ops.sum(ops.reshape(y, upstream.shape) * upstream)

    for name, a, b in zip(["input", "kernel"], _flat_gradient(fast, [x, kernel]),
                          _flat_gradient(slow, [x, kernel])):
        assert relative_error(a, b) < 1e-5, name


def test_continuous_convs_match_per_element_kernels():
    """Continuous lifting and group convolutions (one kernel-network
    evaluation for all group elements, folded into one convolution) equal
    evaluating the kernel network for one output element at a time and
    convolving with that element's kernel: measure ``w_j / sum w`` over
    non-uniform input weights, disc mask, bias, output weights (1e-5
    relative). The lifting layer runs in training (a random rotation
    offset) and the group convolution on E(2) (mirrors)."""
    rng = np.random.RandomState(19)

    def reference(layer, x, out_elements, in_elements=None):
        n_in = 1 if in_elements is None else in_elements.shape[0]
        coordinates = layer.kernel_coordinates(out_elements, in_elements)
        measure = (ops.ones((1,)) if in_elements is None
                   else in_elements[:, 2] / ops.sum(in_elements[:, 2]))
        mask = rk.kernels.disc_mask(3)
        folded = ops.reshape(x, tuple(x.shape[:3]) + (-1,))
        out = []
        for u in range(out_elements.shape[0]):
            kernel = ops.reshape(layer.kernel_network(coordinates[u]),
                                 (3, 3, n_in, -1, layer.filters))
            kernel = (kernel * ops.reshape(measure, (1, 1, -1, 1, 1))
                      * ops.reshape(mask, (3, 3, 1, 1, 1)))
            kernel = ops.reshape(kernel, (3, 3, -1, layer.filters))
            out.append(ops.conv(folded, kernel, padding="same") + layer.bias)
        return ops.stack(out, axis=3) * ops.reshape(out_elements[:, 2], (1, 1, 1, -1, 1))

    def compare(layer, inputs, training):
        values = [ops.convert_to_tensor(v) for v in layer.trainable_variables]
        state = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]

        def both(*args):
            (y, out_elements), _ = layer.stateless_call(
                values, state, list(args) if len(args) > 1 else args[0],
                training=training)
            return y, reference(layer, args[0], out_elements, *args[1:]), out_elements

        return _compiled(both)(*[ops.convert_to_tensor(t) for t in inputs])

    lift = rk.layers.ContinuousLiftingConv2D(3, 3, "se2_4", padding=1,
                                             bias_initializer="random_normal", seed=1)
    images = rng.randn(2, 6, 6, 2).astype("float32")
    lift.build(images.shape)
    fast, slow, elements = compare(lift, [images], training=True)
    offsets = to_numpy(elements)[:, 0] - rk.groups.SE2(4).grid_elements()[:, 0]
    assert np.abs(offsets).max() > 1e-3  # a random offset was drawn
    assert relative_error(fast, slow) < 1e-5
    group = rk.groups.E2(4)
    layer = rk.layers.ContinuousGroupConv2D(3, 3, group, padding=1,
                                            bias_initializer="random_normal")
    elements = group.grid_elements()
    elements[:, 2] = [1.0, 0.5, 0.0, 2.0]
    x = rng.randn(2, 6, 6, group.size, 2).astype("float32")
    layer.build([x.shape, elements.shape])
    fast, slow, _ = compare(layer, [x, elements], training=False)
    assert relative_error(fast, slow) < 1e-5


def test_plain_conv_padding_fast_path_matches_zero_padding():
    """The zoo's plain (``equivariance="none"``) convolution runs an
    integer padding of ``(k - 1) / 2`` as ``Conv2D(padding="same")``
    (no copy of the input): the same numbers as zero padding followed by
    a ``"valid"`` convolution (1e-5 relative); other paddings keep the
    explicit `ZeroPadding2D`."""
    from relaxed_keras.models.blocks import ModelSpec

    spec = ModelSpec("test", "none")
    rng = np.random.RandomState(20)
    x = rng.randn(2, 7, 7, 3).astype("float32")
    for kernel_size, padding in ((3, 1), (5, 2)):
        conv = spec.conv(4, kernel_size, padding=padding,
                         bias_initializer="random_normal")
        assert isinstance(conv, keras.layers.Conv2D) and conv.padding == "same"
        y = conv(x)
        padded = np.pad(x, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
        expected = to_numpy(ops.conv(ops.convert_to_tensor(padded), conv.kernel,
                                     padding="valid")) + to_numpy(conv.bias)
        assert relative_error(y, expected) < 1e-5
    assert not isinstance(spec.conv(4, 3, padding=2), keras.layers.Layer)


def test_cached_kernels_under_mixed_precision():
    """Under ``mixed_bfloat16`` a strict layer's cached kernel (expanded
    in float32, stored in a float32 cache, read back as bfloat16) gives
    the per-call outputs exactly: the gather only moves values. Eager
    calls and compiled `predict` functions are compared separately
    (TensorFlow's graph rounds bfloat16 convolutions differently from its
    eager ops, cache or not)."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    x = np.random.RandomState(21).rand(2, 8, 8, 1).astype("float32")
    inputs = keras.Input((8, 8, 1))
    h = rk.layers.LiftingConv2D(3, 3, "p4", padding=1,
                                bias_initializer="random_normal")(inputs)
    model = keras.Model(inputs, rk.layers.GroupConv2D(3, 3, "p4", padding=1)(h))
    direct = to_numpy(ops.cast(model(x), "float32"))
    predicted = model.predict(x, verbose=0).astype("float32")
    with rk.layers.cached_kernels(model):
        assert model.layers[1].kernel_cache.value.dtype == "float32"
        cached_call = to_numpy(ops.cast(model(x), "float32"))
        cached = model.predict(x, verbose=0)
    assert cached.dtype == "bfloat16"
    assert relative_error(cached_call, direct) < 1e-5
    assert relative_error(cached.astype("float32"), predicted) < 1e-5


_CONVOLUTIONS = """
import sys
import numpy as np
import jax

rng = np.random.RandomState(23)
x = rng.randn(8, 16, 16, 32).astype("float32")
w = rng.randn(3, 3, 32, 32).astype("float32")
u = rng.randn(8, 16, 16, 32).astype("float32")
conv = lambda x, w: jax.lax.conv_general_dilated(
    x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
y = jax.jit(conv)(x, w)
gx, gw = jax.jit(jax.grad(lambda x, w: (conv(x, w) * u).sum(), (0, 1)))(x, w)
np.savez(sys.argv[1], y=y, gx=gx, gw=gw)
"""


@pytest.mark.skipif(keras.backend.backend() != "jax",
                    reason="the flag selects JAX's XLA:CPU convolution kernels")
def test_eigen_convolutions_match_default_xla_convolutions(tmp_path):
    """`relaxed_keras.xla_cpu.use_eigen_convolutions` (set for these tests
    and by the CLI) moves JAX's CPU convolutions from YNNPACK to Eigen: a
    convolution's output and both of its gradients (sizes that XLA hands
    to YNNPACK by default, tests/test_xla_cpu.py) equal those of a process
    with XLA's default flags (1e-5 relative)."""
    import subprocess
    import sys

    from relaxed_keras import xla_cpu

    assert xla_cpu.EIGEN_CONVOLUTION_FLAG in os.environ.get("XLA_FLAGS", "")
    script = tmp_path / "convolutions.py"
    script.write_text(_CONVOLUTIONS)
    env = dict(os.environ)
    env["XLA_FLAGS"] = env["XLA_FLAGS"].replace(xla_cpu.EIGEN_CONVOLUTION_FLAG, "")
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "default.npz")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    namespace = {"__name__": "convolutions"}
    sys.argv, argv = ["convolutions.py", str(tmp_path / "eigen.npz")], sys.argv
    try:
        exec(compile(_CONVOLUTIONS, "convolutions.py", "exec"), namespace)
    finally:
        sys.argv = argv
    default, eigen = np.load(tmp_path / "default.npz"), np.load(tmp_path / "eigen.npz")
    for name in ("y", "gx", "gw"):
        assert relative_error(eigen[name], default[name]) < 1e-5, name


def test_relu_select_form_matches_keras_relu():
    """`rk.layers.ReLU`'s form for compiled torch training, ``where(x <= 0,
    0, x)``, forced on here on every backend: the same values as Keras's
    ReLU (NaN stays NaN, -inf -> 0) and the same gradient, 0 at x = 0;
    ranks other than 5 and non-default arguments keep Keras's ReLU."""
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 3, 4, 5).astype("float32")
    x[0, 0, 0, :, 0] = [0.0, -0.0, np.nan, -np.inf]
    upstream = rng.randn(*x.shape).astype("float32")
    select = rk.layers.ReLU()
    select._compiled_torch_select = True
    reference = keras.layers.ReLU()
    np.testing.assert_array_equal(to_numpy(select(x)), to_numpy(reference(x)))
    finite = np.where(np.isfinite(x), x, 1.0)
    weights = ops.convert_to_tensor(upstream)
    grads = [gradient(lambda v, layer=layer: ops.sum(layer(v) * weights), finite)
             for layer in (select, reference)]
    np.testing.assert_array_equal(grads[0], grads[1])
    zero = finite[0, 0, 0, 0, 0]
    assert zero == 0 and grads[0][0, 0, 0, 0, 0] == 0
    # Keras's ReLU with its other arguments, and on rank-4 maps.
    capped = rk.layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2)
    capped._compiled_torch_select = True
    np.testing.assert_allclose(
        to_numpy(capped(finite)),
        to_numpy(keras.layers.ReLU(max_value=1.0, negative_slope=0.1,
                                   threshold=0.2)(finite)), rtol=1e-6)
    np.testing.assert_array_equal(to_numpy(select(x[0])), to_numpy(reference(x[0])))


@pytest.mark.parametrize("jit_compile", [True, False, "auto"])
def test_zoo_model_tells_its_relus_how_it_is_compiled(jit_compile):
    """`compile` switches the zoo models' ReLUs to the select form only for
    torch.compile (torch with jit_compile=True, Keras's "auto" keeps torch
    eager); the config and the predictions do not change."""
    model = rk.zoo.build("p4cnn", equivariance="strict")
    relus = [layer for layer in model._flatten_layers()
             if isinstance(layer, rk.layers.ReLU)]
    assert len(relus) == 7
    x = np.random.RandomState(1).rand(2, 28, 28, 1).astype("float32")
    before = to_numpy(model(x))
    model.compile(optimizer="adam", jit_compile=jit_compile,
                  loss="sparse_categorical_crossentropy")
    expected = keras.backend.backend() == "torch" and jit_compile is True
    assert all(layer._compiled_torch_select == expected for layer in relus)
    np.testing.assert_allclose(to_numpy(model(x)), before, rtol=1e-6, atol=1e-7)
    assert model.get_config() == type(model).from_config(model.get_config()).get_config()
    model.compile(optimizer="adam", jit_compile=False, loss="sparse_categorical_crossentropy")
    assert not any(layer._compiled_torch_select for layer in relus)
