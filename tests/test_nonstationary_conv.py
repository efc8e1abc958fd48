"""Non-stationary (soft) continuous filters: special cases, monotone
equivariance error in omega', the learned omega' and its penalty."""

import keras
import numpy as np
import pytest
from keras import ops

import relaxed_keras as rk
from relaxed_keras import layers as L
from relaxed_keras.groups import SE2
from tests.helpers import gradient
from tests.helpers import relative_error
from tests.helpers import to_numpy


def soft_stack(omega_prime, omega=1.0, seed=1, group=SE2(4)):
    lift = L.NonStationaryLiftingConv2D(5, 3, group, omega=omega,
                                        omega_prime=omega_prime[:2],
                                        padding="same", seed=seed)
    gconv = L.NonStationaryGroupConv2D(4, 3, group, omega=omega,
                                       omega_prime=omega_prime, padding="same",
                                       seed=seed + 7)
    pool = L.ContinuousGroupPooling("max")

    def fn(x):
        y, e = lift(x)
        z, e = gconv([ops.relu(y), e])
        return pool([z, e])

    return fn, lift, gconv


def rotation_error(fn, x, group=SE2(4)):
    reference = fn(x)
    return max(
        relative_error(fn(group.transform(ops.convert_to_tensor(x), k)),
                       group.transform(reference, k))
        for k in range(1, 4)
    )


def translation_error(fn, x, shift=(2, 3), margin=4):
    reference = to_numpy(fn(x))
    moved = to_numpy(fn(np.roll(x, shift, axis=(1, 2))))
    expected = np.roll(reference, shift, axis=(1, 2))
    inner = (slice(None), slice(margin + shift[0], -margin),
             slice(margin + shift[1], -margin))
    return relative_error(moved[inner], expected[inner])


def test_omega_prime_zero_is_exactly_equivariant(rng):
    """omega' = 0: strict SE(2) conv: rot90 error < 1e-5 (N=4, no offset) and
    exact translation equivariance for circular shifts away from borders."""
    fn, lift, gconv = soft_stack([0.0, 0.0, 0.0], omega=2.0)
    x = rng.randn(2, 16, 16, 2).astype("float32")
    assert not gconv.uses_position_path
    assert rotation_error(fn, x) < 1e-5
    assert translation_error(fn, x) < 1e-5
    t2 = L.NonStationaryConv2D(3, 3, omega=2.0, omega_prime=0.0, padding="same")
    assert translation_error(t2, x) < 1e-5


def test_zero_frequencies_give_invariant_pooling(rng):
    """omega = omega' = 0: a constant kernel: the output at a position is the
    same for any permutation of the inputs inside its receptive field."""
    layer = L.NonStationaryConv2D(3, 3, omega=0.0, omega_prime=0.0)
    x = rng.randn(2, 3, 3, 2).astype("float32")
    reference = to_numpy(layer(x))
    assert reference.shape == (2, 1, 1, 3)
    for _ in range(5):
        perm = rng.permutation(9)
        shuffled = x.reshape(2, 9, 2)[:, perm].reshape(2, 3, 3, 2)
        np.testing.assert_allclose(to_numpy(layer(shuffled)), reference,
                                   rtol=1e-5, atol=1e-6)
    gconv = L.NonStationaryGroupConv2D(2, 3, "se2_4", omega=0.0, omega_prime=0.0)
    g = rng.randn(1, 3, 3, 4, 2).astype("float32")
    y, _ = gconv([g, SE2(4).grid_elements()])
    shuffled = g.reshape(1, 36, 2)[:, rng.permutation(36)].reshape(1, 3, 3, 4, 2)
    y2, _ = gconv([shuffled, SE2(4).grid_elements()])
    assert relative_error(y2, y) < 1e-5


def test_equivariance_error_grows_with_omega_prime(rng):
    """Measured at five values, averaged over three initialisations, for
    rotations (omega'_theta) and translations (omega'_x = omega'_y). Each
    initialisation keeps its weights and W; only omega' changes."""
    x = rng.randn(2, 16, 16, 1).astype("float32")
    values = [0.0, 0.125, 0.25, 0.5, 1.0]
    rotation = np.zeros(len(values))
    translation = np.zeros(len(values))
    for seed in (1, 11, 21):
        keras.utils.set_random_seed(seed)
        fn, lift, gconv = soft_stack([0.0, 0.0, 0.0], seed=seed)
        fn(x)
        for i, value in enumerate(values):
            lift.omega_prime, gconv.omega_prime = [0.0, 0.0], [0.0, 0.0, value]
            rotation[i] += rotation_error(fn, x) / 3
            lift.omega_prime = [value, value]
            gconv.omega_prime = [value, value, 0.0]
            translation[i] += translation_error(fn, x) / 3
    assert rotation[0] < 1e-5 and translation[0] < 1e-5
    assert all(b > a for a, b in zip(rotation, rotation[1:])), rotation
    assert all(b > a for a, b in zip(translation, translation[1:])), translation


def test_position_path_equals_fast_path_and_chunks_do_not_matter(rng):
    """Correctness of the fast path (one conv) against the straightforward
    patches + einsum path, and of chunking (1e-5 relative)."""
    x = rng.randn(2, 9, 9, 4, 3).astype("float32")
    elements = SE2(4).grid_elements()
    layer = L.NonStationaryGroupConv2D(4, 3, "se2_4", omega_prime=[0, 0, 1.5],
                                       strides=2, padding=1)
    fast, _ = layer([x, elements])
    assert not layer.uses_position_path
    slow = type(layer).__mro__[1].convolve  # the mixin's path
    layer.omega_prime_variable = None
    layer.learn_omega_prime = ["x"]  # forces the position path, value stays 0
    layer.omega_prime_variable = None
    assert layer.uses_position_path
    layer.learn_omega_prime = []
    layer.omega_prime = [0.0, 0.0, 1.5]
    # Call the position path directly with translation omega' = 0.
    positional = L.NonStationaryGroupConv2D.from_config(layer.get_config())
    positional.build([x.shape, elements.shape])
    positional.set_weights(layer.get_weights())
    type(positional).uses_position_path = property(lambda self: True)
    try:
        # 5x5 outputs (stride 2): chunks of 1 row, of 2 rows (the last
        # one short), and one chunk.
        for chunk_size in (7, 12, None):
            positional.chunk_size = chunk_size
            y, _ = positional([x, elements])
            assert relative_error(y, fast) < 1e-5, chunk_size
    finally:
        del type(positional).uses_position_path
    assert slow is not None
    t2 = L.NonStationaryConv2D(3, 3, omega_prime=0.8, padding="same", seed=3)
    z = t2(x[:, :, :, 0])
    for chunk_size in (5, 20, 27):  # 9x9 outputs: 1, 2 and 3 rows per chunk
        t2.chunk_size = chunk_size
        assert relative_error(t2(x[:, :, :, 0]), z) < 1e-5, chunk_size


@pytest.mark.parametrize("jit_compile", [False, True])
def test_rematerialized_chunks_train_exactly_like_stored_ones(rng, jit_compile):
    """`rematerialize=True` (each chunk in `keras.remat`: training memory
    bounded by `chunk_size`) changes no number: two SGD steps with and
    without it end at the same weights (1e-5 relative), and every trainable
    weight of the layer moved (gradients reach the kernel network, the bias
    and the learned translation omega' through the recomputed chunks).
    With ``jit_compile=True`` only the rematerialised model is compiled
    (`keras.remat` inside the compiled step); the stored one is the eager
    reference (compiling it too took torch's dynamo another 30 s)."""
    x = rng.rand(4, 9, 9, 2).astype("float32")
    labels = rng.randint(0, 2, 4)

    def build(rematerialize, jit_compile):
        # chunk_size=27 on 9x9 outputs: three chunks of three rows. Under
        # torch.compile dynamo traces every chunk op by op; nine one-row
        # chunks made this test take 120 s on torch instead of 72 s.
        inputs = keras.Input((9, 9, 2))
        soft = L.NonStationaryConv2D(
            3, 3, omega_prime=0.7, learn_omega_prime=True, padding="same",
            chunk_size=27, rematerialize=rematerialize, seed=3, name="soft")
        h = keras.layers.GlobalAveragePooling2D()(ops.relu(soft(inputs)))
        model = keras.Model(inputs, keras.layers.Dense(2, name="head")(h))
        model.compile(keras.optimizers.SGD(0.5),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit_compile)
        return model

    stored, recomputed = build(False, False), build(True, jit_compile)
    recomputed.set_weights(stored.get_weights())
    initial = [to_numpy(v) for v in recomputed.get_layer("soft").trainable_variables]
    for model in (stored, recomputed):
        model.fit(x, labels, batch_size=4, epochs=2, verbose=0)
    assert recomputed.get_layer("soft").get_config()["rematerialize"] is True
    for a, b in zip(recomputed.get_weights(), stored.get_weights()):
        assert relative_error(a, b) < 1e-5
    moved = [np.abs(to_numpy(v) - w).max() for v, w in
             zip(recomputed.get_layer("soft").trainable_variables, initial)]
    assert len(moved) >= 4 and min(moved) > 1e-6, moved


def test_learn_omega_prime_takes_one_dimension_by_name():
    layer = L.NonStationaryGroupConv2D(2, 3, "se2_4", omega_prime=0.5,
                                       learn_omega_prime="theta")
    assert layer.learn_omega_prime == ["theta"]
    with pytest.raises(ValueError, match="learn_omega_prime"):
        L.NonStationaryGroupConv2D(2, 3, "se2_4", learn_omega_prime="phi")


@pytest.mark.parametrize("parametrization", ["softplus", "linear"])
def test_learned_omega_prime_penalty_and_gradients(rng, parametrization):
    """The penalty is lambda ||omega'||^2 of omega' itself, the weight
    stores softplus^-1(omega' / c) (or omega' / c), and the loss has a
    non-zero gradient in every learned entry."""
    from relaxed_keras.layers.omega_prime import inverse_softplus

    c = 0.5
    layer = L.NonStationaryGroupConv2D(3, 3, "se2_4", omega_prime=[0.3, 0.2, 0.5],
                                       learn_omega_prime=True,
                                       omega_prime_penalty=0.25, padding="same",
                                       omega_prime_lr_factor=c,
                                       omega_prime_parametrization=parametrization)
    x = rng.randn(2, 8, 8, 4, 2).astype("float32")
    elements = SE2(4).grid_elements()
    layer([x, elements])
    assert len(layer.losses) == 1
    expected = 0.25 * (0.3**2 + 0.2**2 + 0.5**2)
    assert abs(float(to_numpy(layer.losses[0])) - expected) < 1e-6
    np.testing.assert_allclose(to_numpy(layer.omega_prime_vector()), [0.3, 0.2, 0.5],
                               rtol=1e-6)
    names = [v.path for v in layer.trainable_variables]
    index = names.index(layer.omega_prime_variable.path)
    values = [ops.convert_to_tensor(v) for v in layer.trainable_variables]
    non_trainable = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]
    target = rng.randn(2, 8, 8, 4, 3).astype("float32")

    def loss(w):
        current = list(values)
        current[index] = w
        (y, _), _ = layer.stateless_call(current, non_trainable, [x, elements])
        return ops.sum(ops.square(ops.subtract(y, target)))

    stored = [v / c for v in (0.3, 0.2, 0.5)]
    if parametrization == "softplus":
        stored = [inverse_softplus(v) for v in stored]
    np.testing.assert_allclose(to_numpy(layer.omega_prime_variable), stored, rtol=1e-6)
    grad = gradient(loss, np.array(stored, "float32"))
    assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) > 1e-6)
    if parametrization == "linear":
        # At omega' = 0 the cosine features' gradient vanishes, the sine
        # features' does not (the clip at 0 is what kept it there).
        grad = gradient(loss, np.zeros(3, "float32"))
        assert np.all(np.isfinite(grad)) and np.all(np.abs(grad) > 1e-6), grad


def test_softplus_omega_prime_follows_the_penalty_towards_strictness():
    """Under the penalty alone, a learned omega' (softplus form) falls
    from 1.0 towards 0 and stays positive; the linear form's clip holds a
    value started at 0 at exactly 0, and softplus refuses to start there."""
    layer = L.NonStationaryGroupConv2D(2, 3, "se2_4", omega_prime=[0.0, 0.0, 1.0],
                                       learn_omega_prime=["theta"],
                                       omega_prime_penalty=1.0)
    layer.build([(None, 6, 6, 4, 1), (4, 3)])
    optimizer = keras.optimizers.SGD(0.5)
    for _ in range(40):
        variable = layer.omega_prime_variable
        grad = gradient(lambda w: layer._omega_map.penalty(1.0)(w),
                        to_numpy(variable))
        optimizer.apply([ops.convert_to_tensor(grad)], [variable])
    value = float(to_numpy(layer.omega_prime_vector())[2])
    assert 0.0 < value < 0.2, value
    with pytest.raises(ValueError, match=r"start in \(0, max_omega_prime=100.0\]"):
        L.NonStationaryGroupConv2D(2, 3, "se2_4", learn_omega_prime=["theta"])
    with pytest.raises(ValueError, match="omega_prime_parametrization"):
        L.NonStationaryGroupConv2D(2, 3, "se2_4", omega_prime_parametrization="exp")


def test_soft_layers_check_their_group_and_frequencies():
    with pytest.raises(ValueError, match="omega_prime_penalty"):
        L.NonStationaryConv2D(2, 3, omega_prime_penalty=0.1)
    with pytest.raises(ValueError, match="learn_omega_prime"):
        L.NonStationaryConv2D(2, 3, learn_omega_prime=["theta"])
    with pytest.raises(ValueError, match="omega_prime"):
        L.NonStationaryLiftingConv2D(2, 3, "se2_4", omega_prime=[1, 2, 3])
    with pytest.raises(ValueError, match="SE2"):
        L.NonStationaryGroupConv2D(2, 3, "e2_8")


def test_omega_prime_stays_finite_and_non_negative_under_training(rng):
    model = rk.zoo.build("cnn7", equivariance="soft", group="se2_4", width=2,
                         input_shape=(8, 8, 1), num_classes=2, num_hidden_layers=1,
                         continuous_options={"omega_prime_penalty": 10.0,
                                             "omega_prime": [0.5, 0.5, 1.0],
                                             "learn_omega_prime": True})
    # "auto": compiled on TensorFlow and JAX; eager torch (the soft layers'
    # torch.compile graphs are tested in test_torch_compile.py and by the
    # rematerialised training above; compiling this model took 103 s).
    model.compile(keras.optimizers.Adam(0.5),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile="auto")
    history = model.fit(rng.rand(16, 8, 8, 1).astype("float32"), rng.randint(0, 2, 16),
                        epochs=3, batch_size=8, verbose=0,
                        callbacks=[rk.callbacks.LearnedEquivarianceLogger()])
    rows = rk.diagnostics.learned_equivariance(model)
    soft_rows = [row for row in rows if "omega_prime" in row]
    assert len(soft_rows) == 2
    for row in soft_rows:
        assert all(np.isfinite(v) and 0.0 <= v <= 100.0 for v in row["omega_prime"])
    assert "conv1/omega_prime_2" in history.history and "conv0/omega_prime_1" in history.history
    assert "omega'" in rk.diagnostics.format_learned_equivariance(rows)


def test_soft_layers_serialise_with_their_fourier_features(tmp_path, rng):
    inputs = keras.Input((10, 10, 1))
    y = L.NonStationaryConv2D(3, 3, omega_prime=0.5, padding="same")(inputs)
    x, g = L.NonStationaryLiftingConv2D(2, 3, "se2_4", padding="same")(y)
    x, g = L.NonStationaryGroupConv2D(2, 3, "se2_4", omega_prime=[0.2, 0.2, 1.0],
                                      learn_omega_prime=["theta"],
                                      omega_prime_penalty=1e-3)([x, g])
    model = keras.Model(inputs, L.ContinuousGroupPooling()([x, g]))
    data = rng.rand(2, 10, 10, 1).astype("float32")
    expected = model.predict(data, verbose=0)
    path = str(tmp_path / "soft.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert relative_error(loaded.predict(data, verbose=0), expected) < 1e-6
    names = sorted(v.path.split("/")[-1] for v in model.layers[-2].weights)
    assert "rff_filter" in names and "rff_domain" in names and "omega_prime" in names


def _numpy_tap_positions(layer, height, width):
    """The definition, in float64 numpy: tap ``(row, col)`` -> ``x = 2 col /
    (W - 1) - 1``, ``y = 1 - 2 row / (H - 1)`` (padding shifts taps)."""
    (top, _), (left, _) = layer.spatial_padding((height, width))
    out_h, out_w = layer._output_spatial_shape((height, width))
    k = layer.kernel_size[0]
    taps = np.arange(k)
    rows = np.arange(out_h)[:, None] * layer.strides[0] + taps * layer.dilation_rate[0] - top
    cols = np.arange(out_w)[:, None] * layer.strides[1] + taps * layer.dilation_rate[1] - left
    x = 2.0 * cols / max(width - 1, 1) - 1.0
    y = 1.0 - 2.0 * rows / max(height - 1, 1)
    grid_x = np.broadcast_to(x[None, :, None, :], (out_h, out_w, k, k))
    grid_y = np.broadcast_to(y[:, None, :, None], (out_h, out_w, k, k))
    return np.stack([grid_x, grid_y], axis=-1).reshape(-1, k, k, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(max_omega_prime=-1.0), "max_omega_prime"),
        (dict(max_omega_prime=0.0), "max_omega_prime"),
        (dict(max_omega_prime=float("nan")), "max_omega_prime"),
        # Learned omega' outside the range it can take.
        (dict(omega_prime=5.0, max_omega_prime=1.0, learn_omega_prime=True),
         r"start in \(0, max_omega_prime=1.0\]"),
        (dict(omega_prime=5.0, max_omega_prime=1.0, learn_omega_prime=True,
              omega_prime_parametrization="linear"),
         r"start in \[0, max_omega_prime=1.0\]"),
        (dict(omega_prime=0.5, omega_prime_penalty=-0.1, learn_omega_prime=True),
         "omega_prime_penalty"),
    ],
)
def test_soft_layers_reject_bad_omega_prime_bounds(kwargs, match):
    for layer in (L.NonStationaryConv2D, L.NonStationaryLiftingConv2D):
        with pytest.raises(ValueError, match=match):
            layer(2, 3, **kwargs)


def test_only_learned_omega_prime_must_start_below_the_clip():
    """A fixed omega' is never clipped, so it may exceed max_omega_prime."""
    layer = L.NonStationaryGroupConv2D(2, 3, "se2_4", omega_prime=[5.0, 0.0, 0.5],
                                       learn_omega_prime=["theta"], max_omega_prime=1.0)
    clone = L.NonStationaryGroupConv2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.max_omega_prime == 1.0 and clone.omega_prime == [5.0, 0.0, 0.5]


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({"padding": "same"}, (9, 9)),
        ({"padding": "valid", "strides": 2}, (10, 7)),
        ({"padding": "same", "strides": 2, "dilation_rate": 2}, (12, 11)),
        ({"padding": 1}, (1, 5)),
    ],
)
def test_tap_positions_match_their_numpy_definition(kwargs, shape):
    """The positions are built with keras.ops inside `call` (no numpy
    constants: those break torch.compile graphs); they equal the float64
    definition to float32 rounding."""
    layer = L.NonStationaryConv2D(2, 3, omega_prime=0.5, **kwargs)
    actual = to_numpy(layer.tap_positions(shape))
    expected = _numpy_tap_positions(layer, *shape)
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() < 1e-6


@pytest.mark.parametrize("k", [1, 3, 4, 7])
def test_kernel_grid_and_disc_mask_match_their_numpy_definition(k):
    axis = np.linspace(-1.0, 1.0, k) if k > 1 else np.zeros(1)
    grid = to_numpy(rk.kernels.kernel_grid(k))
    expected = np.stack(np.broadcast_arrays(axis[None, :], -axis[:, None]), axis=-1)
    assert grid.shape == (k, k, 2)
    assert np.abs(grid - expected).max() < 1e-7
    # Symmetric: a rotation by 90 degrees maps the taps onto the taps.
    assert np.array_equal(grid[..., 0], -grid[::-1, ::-1, 0])
    mask = to_numpy(rk.kernels.disc_mask(k))
    assert np.array_equal(mask, (np.hypot(expected[..., 0], expected[..., 1]) <= 1 + 1e-6))


def test_chunked_position_path_gradients_match_one_chunk(rng):
    """Gradients of the position path in chunks of two output rows (the
    last one short: padded and masked on JAX), rematerialised and stored,
    equal those of one chunk (1e-5 relative), for the input and every
    trainable weight (kernel network, bias, learned omega'). Taken through
    `stateless_call` with values that are not the variables' own, as JAX's
    trainer does: a rematerialised chunk must differentiate the values it
    was given (on TensorFlow and torch the backward pass reran it on the
    stored variables: zero or wrong gradients)."""
    x = rng.randn(2, 5, 5, 2).astype("float32")
    layer = L.NonStationaryConv2D(3, 3, omega_prime=0.8, learn_omega_prime=True,
                                  padding=1, seed=2, bias_initializer="random_normal")
    layer.build(x.shape)
    assert layer.uses_position_path
    values = [to_numpy(v) for v in layer.trainable_variables]
    non_trainable = [ops.convert_to_tensor(v) for v in layer.non_trainable_variables]
    for variable in layer.trainable_variables:  # stateless values differ
        variable.assign(to_numpy(variable) * 0.5 + 0.1)
    shapes = [x.shape] + [v.shape for v in values]
    flat = np.concatenate([x.ravel()] + [v.ravel() for v in values]).astype("float32")
    upstream = ops.convert_to_tensor(rng.randn(2, 5, 5, 3).astype("float32"))

    def gradient_now():
        """The gradient with the layer's current options (on JAX one
        compiled function, traced afresh for each option)."""
        def loss(t):
            parts, start = [], 0
            for shape in shapes:
                size = int(np.prod(shape))
                parts.append(ops.reshape(t[start:start + size], shape))
                start += size
            y, _ = layer.stateless_call(parts[1:], non_trainable, parts[0],
                                        training=True)
            return ops.sum(y * upstream)

        if keras.backend.backend() == "jax":
            import jax

            loss = jax.jit(loss)
        return gradient(loss, flat)

    layer.chunk_size = None
    one_chunk = gradient_now()
    start = 0
    for shape in shapes:  # every weight (and the input) gets a gradient
        size = int(np.prod(shape))
        assert np.abs(one_chunk[start:start + size]).max() > 0, shape
        start += size
    layer.chunk_size = 10  # 5 x 5 outputs: rows 0-1, 2-3, 4
    for rematerialize in (False, True):
        layer.rematerialize = rematerialize
        assert relative_error(gradient_now(), one_chunk) < 1e-5, rematerialize
