"""Fast paths against the straightforward computation they replace
(relative error < 1e-5 in float32), on every backend."""

import keras
import numpy as np
import pytest
from keras import ops

import relaxed_keras as rk
from relaxed_keras.layers.spatial import channels_last_op
from tests.helpers import gradient
from tests.helpers import relative_error
from tests.helpers import to_numpy


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


@pytest.mark.parametrize("group", ["p4", "p4m"])
def test_relaxed_mixed_kernel_matches_per_bank_convolutions(group):
    """Output-indexed relaxed conv (Eq. 5): one convolution with the
    weight-mixed kernel equals running a strict group conv per filter bank
    and summing ``w_l(g) * out_l(., g)`` over the banks, for arbitrary
    (symmetry-breaking) relaxed weights."""
    g = rk.groups.get(group)
    rng = np.random.RandomState(4)
    x = rng.rand(2, 7, 7, g.size, 3).astype("float32")
    layer = rk.layers.RelaxedGroupConv2D(4, 3, g, num_filter_banks=3,
                                         relaxed_weights_on="output", padding=1)
    layer(x)
    weights = rng.randn(3, g.size).astype("float32")
    layer.relaxed_weights.assign(weights)
    strict = rk.layers.GroupConv2D(4, 3, g, padding=1, use_bias=False)
    strict(x)
    banks = to_numpy(layer.kernel)
    slow = to_numpy(layer.bias)[None, None, None, None, :].astype("float32")
    for bank, w in zip(banks, weights):
        strict.kernel.assign(bank)
        slow = slow + to_numpy(strict(x)) * w[None, None, None, :, None]
    assert relative_error(layer(x), slow) < 1e-5


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
    assert abs(model.evaluate(x, y, batch_size=8, verbose=0) - expected_loss) < 1e-4
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


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_to_group_layout_matches_reshape_then_bias(dtype):
    """The shared output step of strict and continuous group convs: the
    (possibly folded) bias add equals reshaping to ``[B, H, W, |G|, F]``
    and adding ``bias[f]`` to every group element, in the output's dtype."""
    from relaxed_keras.layers.spatial import to_group_layout

    rng = np.random.RandomState(7)
    y = rng.randn(2, 5, 6, 8 * 3).astype("float32")
    bias = rng.randn(3).astype("float32")
    out = to_group_layout(ops.cast(y, dtype), ops.convert_to_tensor(bias), 8, 3)
    assert tuple(out.shape) == (2, 5, 6, 8, 3)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    expected = y.reshape(2, 5, 6, 8, 3) + bias
    tolerance = 1e-5 if dtype == "float32" else 1e-2
    assert relative_error(to_numpy(ops.cast(out, "float32")), expected) < tolerance
    no_bias = to_group_layout(ops.convert_to_tensor(y), None, 8, 3)
    assert relative_error(to_numpy(no_bias), y.reshape(2, 5, 6, 8, 3)) < 1e-7


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_tile_and_mean_over_group_match_numpy(dtype):
    """The 0/1-matrix products of the folded fast paths: tiling is exact
    (one term per output), the mean over group elements matches numpy."""
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
    TensorFlow and JAX) gives Keras's outputs, moving statistics and input
    gradients, also when frozen; rank 4 is Keras's code."""
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

    assert relative_error(gradient(loss(ours), x), gradient(loss(keras_bn), x)) < 1e-4
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
    numbers and gradients, and on torch returns contiguous ``[B, H, W, C]``
    (the memory the next layer reshapes without a copy)."""
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
