"""relaxed_keras.random: the counter-based uniform numbers the sampling
layers draw in training (same numbers on every backend, a state advance
that compiles on torch, uniform enough for offsets and Gumbel noise)."""

import keras
from keras import ops
import numpy as np
import pytest

import relaxed_keras as rk
from tests.helpers import gradient
from tests.helpers import to_numpy

M = 2**31 - 1


def reference_uniform(seed, counter, size):
    """The same hash in NumPy int64: the direct product ``48271 x mod M``
    (no Schrage decomposition), so the test checks the int32 arithmetic."""

    def mix(x):
        x = (48271 * (np.mod(x, M - 1) + 1)) % M
        return x ^ (x >> 15)

    h = mix(np.int64(mix(np.int64(seed % M))) ^ np.int64(counter % M))
    h = mix(mix(h) ^ np.arange(size, dtype=np.int64))
    h = mix(mix(h))
    return (h >> 7).astype(np.float32) * np.float32(2.0**-24)


@pytest.mark.parametrize("seed", [0, 7, 2**31 - 2, 123456789])
def test_uniform_equals_the_int64_reference_on_every_backend(seed):
    generator = keras.random.SeedGenerator(seed)
    for counter in range(3):
        actual = to_numpy(rk.random.uniform((4, 5), seed_generator=generator))
        expected = reference_uniform(seed, counter, 20).reshape(4, 5)
        np.testing.assert_array_equal(actual, expected)
    # One draw advances the generator's counter by one.
    assert to_numpy(generator.state).tolist()[1] == 3


def test_uniform_is_uniform_and_successive_draws_are_uncorrelated():
    generator = keras.random.SeedGenerator(1)
    scalars = np.array([
        float(to_numpy(rk.random.uniform((), seed_generator=generator)))
        for _ in range(400)
    ])
    block = to_numpy(rk.random.uniform((20000,), seed_generator=generator))
    for values in (scalars, block):
        assert values.min() >= 0.0 and values.max() < 1.0
        counts = np.histogram(values, bins=10, range=(0, 1))[0]
        expected = len(values) / 10
        chi2 = ((counts - expected) ** 2 / expected).sum()
        assert chi2 < 27.9, counts  # p = 0.001 at 9 degrees of freedom
        lag1 = np.corrcoef(values[:-1], values[1:])[0, 1]
        assert abs(lag1) < 4.0 / np.sqrt(len(values)), lag1


def test_uniform_bounds_dtype_and_distinct_generators():
    a = rk.random.uniform((1000,), -2.0, 3.0, dtype="float16",
                          seed_generator=keras.random.SeedGenerator(3))
    assert keras.backend.standardize_dtype(a.dtype) == "float16"
    a = to_numpy(a).astype("float32")
    assert a.min() >= -2.0 and a.max() <= 3.0 and a.max() - a.min() > 4.9
    b = to_numpy(rk.random.uniform((1000,), seed_generator=keras.random.SeedGenerator(4)))
    c = to_numpy(rk.random.uniform((1000,), seed_generator=keras.random.SeedGenerator(3)))
    assert np.abs(b - c).max() > 0.5


def test_uniform_rejects_a_missing_seed_generator():
    with pytest.raises(ValueError, match="seed_generator"):
        rk.random.uniform((), seed_generator=None)
    with pytest.raises(ValueError, match="seed_generator"):
        rk.random.uniform((), seed_generator=3)


# ---------------------------------------------------------------- dropout
U32 = np.uint64(2**32 - 1)


def _reference_dropout_keep(seed, counter, size, rate):
    """The dropout mask's hash in NumPy uint64 arithmetic reduced mod
    2**32 (no int32 wrap-around), so the test checks the int32 tricks."""

    def mul(x, c):
        return (x * np.uint64(c)) & U32

    def lowbias32(x):
        x = mul(x ^ (x >> np.uint64(16)), 0x7FEB352D)
        x = mul(x ^ (x >> np.uint64(15)), 0x846CA68B)
        return x ^ (x >> np.uint64(16))

    seed, counter = np.uint64(seed % M), np.uint64(counter % M)
    key = lowbias32(lowbias32(seed) ^ counter)
    h = mul(np.arange(size, dtype=np.uint64), 0x9E3779B9) ^ key
    h = mul(h, 0x7FEB352D)
    h = mul(h ^ (h >> np.uint64(15)), 0x846CA68B)
    return h >= np.uint64(round(rate * 2**32))


@pytest.mark.parametrize("seed", [0, 5, 2**31 - 2])
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_equals_the_uint32_reference_on_every_backend(seed, rate):
    """Same masks on TensorFlow, JAX and torch: each backend's int32
    arithmetic equals the unsigned 32-bit reference bit for bit."""
    generator = keras.random.SeedGenerator(seed)
    x = np.arange(1, 3 * 4 * 5 + 1, dtype="float32").reshape(3, 4, 5)
    for counter in range(2):
        y = to_numpy(rk.random.dropout(x, rate, seed_generator=generator))
        keep = _reference_dropout_keep(seed, counter, x.size, rate).reshape(x.shape)
        expected = np.where(keep, x / np.float32(1 - rate), 0)
        np.testing.assert_allclose(y, expected, rtol=1e-6)
        assert 0 < keep.sum() < keep.size  # the test can fail either way
    assert to_numpy(generator.state).tolist()[1] == 2


def test_dropout_masks_are_bernoulli_and_independent():
    """Keep rates within 5 sigma of ``1 - rate`` overall, per channel, per
    group element and on power-of-two strides (where a weak integer hash
    shows lattice structure); no correlation between neighbouring entries,
    between successive masks or between masks of neighbouring seeds."""
    shape = (16, 16, 16, 4, 10)
    x = np.ones(shape, "float32")
    n = x.size

    def keep_mask(generator, rate):
        return to_numpy(rk.random.dropout(x, rate, seed_generator=generator)) != 0

    for rate in (0.1, 0.3, 0.5, 0.9):
        kept = keep_mask(keras.random.SeedGenerator(11), rate)
        p = 1 - rate

        def within(mask):
            sigma = np.sqrt(p * (1 - p) / mask.size)
            return abs(mask.mean() - p) < 5 * sigma

        assert within(kept), (rate, kept.mean())
        flat = kept.ravel()
        for axis in (3, 4):
            for index in range(shape[axis]):
                assert within(np.take(kept, index, axis=axis)), (rate, axis, index)
        for stride in (2, 4, 8, 64, 1024, 4096):
            for start in (0, 1):
                assert within(flat[start::stride]), (rate, stride, start)
    generator = keras.random.SeedGenerator(11)
    first, second = (keep_mask(generator, 0.5).ravel() for _ in range(2))
    other_seed = keep_mask(keras.random.SeedGenerator(12), 0.5).ravel()
    for a, b in ((first[:-1], first[1:]), (first, second), (first, other_seed)):
        correlation = np.corrcoef(a, b)[0, 1]
        assert abs(correlation) < 5 / np.sqrt(n), correlation


def test_dropout_noise_shape_gradient_and_errors():
    """``noise_shape`` shares the mask along its 1-sized axes (``None``:
    the input's size); the gradient is the mask over ``1 - rate``; a rate
    outside [0, 1) and a noise shape of the wrong rank are rejected."""
    x = np.random.RandomState(0).rand(4, 6, 6, 4, 5).astype("float32") + 0.5
    generator = keras.random.SeedGenerator(2)
    y = to_numpy(rk.random.dropout(x, 0.4, noise_shape=(None, 6, 6, 1, 5),
                                   seed_generator=generator))
    kept = y != 0
    assert np.array_equal(kept, np.repeat(kept[:, :, :, :1], 4, axis=3))
    assert 0.4 < kept.mean() < 0.8
    assert to_numpy(rk.random.dropout(x, 0.0, seed_generator=generator)).tolist() == x.tolist()
    weights = np.random.RandomState(1).rand(*x.shape).astype("float32")

    def loss(t):
        local = keras.random.SeedGenerator(7)
        dropped = rk.random.dropout(t, 0.4, seed_generator=local)
        return keras.ops.sum(dropped * keras.ops.convert_to_tensor(weights))

    kept = to_numpy(rk.random.dropout(x, 0.4, seed_generator=keras.random.SeedGenerator(7))) != 0
    np.testing.assert_allclose(gradient(loss, x), kept * weights / 0.6, rtol=1e-5)
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="rate"):
            rk.random.dropout(x, rate, seed_generator=generator)
    with pytest.raises(ValueError, match="noise_shape"):
        rk.random.dropout(x, 0.4, noise_shape=(4, 1), seed_generator=generator)


class _DropoutInPredict(keras.layers.Layer):
    """Drops entries in every call (so that `predict` compiles a draw)."""

    def __init__(self, seed, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        return rk.random.dropout(inputs, 0.3, seed_generator=self.seed_generator)


@pytest.mark.inductor
def test_dropout_compiled_gives_the_eager_masks():
    """Under `jit_compile=True` (XLA on TensorFlow and JAX, torch.compile
    with inductor's C++ code on torch) the int32 wrap-around gives the
    eager masks bit for bit, and the counter advances inside the compiled
    function (two batches, two different masks)."""
    x = np.ones((4, 7, 7, 4, 3), "float32")
    outputs = []
    for jit_compile in (False, True):
        model = keras.Sequential([keras.Input(x.shape[1:]), _DropoutInPredict(3)])
        model.compile(jit_compile=jit_compile)
        outputs.append(model.predict(x, batch_size=2, verbose=0))
    eager, compiled = outputs
    assert 0 < (eager == 0).sum() < eager.size
    assert not np.array_equal(eager[0] == 0, eager[2] == 0)
    np.testing.assert_array_equal(compiled, eager)


class _ScaleByUniform(keras.layers.Layer):
    """``w * x * u`` with one ``u ~ U[0, 1)`` drawn per training call."""

    def __init__(self, seed, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer="ones")

    def call(self, inputs):
        u = rk.random.uniform((), seed_generator=self.seed_generator)
        return self.w * inputs * u


@pytest.mark.inductor
def test_compiled_training_differentiates_the_draws_of_its_forward_pass():
    """Under `jit_compile=True` the backward pass uses the numbers that
    the forward pass drew: two SGD steps of a model with a `uniform` draw
    and a `dropout` mask give the weights of eager training. torch
    inductor's min-cut partitioner recomputed the draws in the backward
    pass from the seed state, which the forward pass had already advanced
    in place: the gradients belonged to the next step's mask and offset
    (a Dense kernel entry 0.996 against 0.981 eager). Each training step
    draws anew in both modes: the generators' counters advance once per
    step."""
    x = np.ones((16, 8), "float32")
    y = np.zeros((16, 8), "float32")
    weights = []
    for jit_compile in (False, True):
        inputs = keras.Input((8,))
        hidden = keras.layers.Dense(8, kernel_initializer="ones", use_bias=False)(inputs)
        scale, dropout = _ScaleByUniform(5), rk.layers.Dropout(0.5, seed=3)
        model = keras.Model(inputs, dropout(scale(hidden)))
        model.compile(keras.optimizers.SGD(0.01), "mse", jit_compile=jit_compile)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        weights.append([to_numpy(v) for v in model.trainable_variables])
        for layer, seed in ((scale, 5), (dropout, 3)):
            assert to_numpy(layer.seed_generator.state).tolist() == [seed, 2]
    for eager, compiled in zip(*weights):
        np.testing.assert_allclose(compiled, eager, rtol=1e-5)


def test_uniform_rejects_bad_shapes_and_integer_dtypes():
    """A negative or fractional size and an integer dtype are refused with
    a ValueError naming the argument, as `keras.random.uniform` does (a
    size of 2.5 used to draw 2 numbers, a negative one to fail inside the
    backend, and dtype="int32" to return zeros)."""
    generator = keras.random.SeedGenerator(1)
    for shape in ((-3,), (2.5,), (None, 2), (True,)):
        with pytest.raises(ValueError, match="shape"):
            rk.random.uniform(shape, seed_generator=generator)
    with pytest.raises(ValueError, match="dtype"):
        rk.random.uniform((4,), dtype="int32", seed_generator=generator)
    assert to_numpy(generator.state).tolist()[1] == 0  # nothing drawn
    assert tuple(rk.random.uniform((np.int64(2), 0), seed_generator=generator).shape) == (2, 0)


class _CountedScale(keras.layers.Layer):
    """``w * x / (1 + step)`` with a step counter advanced in every training
    call, the pattern of the partial layers' Gumbel temperature."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(), initializer="ones")
        self.step = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, inputs, training=None):
        step = ops.convert_to_tensor(0.0)
        if training:
            step = rk.random.read_state(self.step)
            self.step.assign(step + 1.0)
        return self.w * inputs / (1.0 + step)


@pytest.mark.inductor
def test_compiled_training_differentiates_with_the_counter_it_read():
    """`read_state` keeps the value a compiled training step read from a
    counter it then advances: the backward pass uses that value, not the
    advanced one (two SGD steps give the eager weights, 1e-5). With a plain
    read, inductor recomputed ``1 / (1 + step)`` in the backward pass from
    the advanced counter (the Gumbel temperature of the partial layers
    with mirrors)."""
    x = np.ones((16, 4), "float32")
    y = np.zeros((16, 4), "float32")
    weights = []
    for jit_compile in (False, True):
        layer = _CountedScale()
        inputs = keras.Input((4,))
        model = keras.Model(inputs, layer(inputs))
        model.compile(keras.optimizers.SGD(0.1), "mse", jit_compile=jit_compile)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        assert float(to_numpy(layer.step)) == 2.0
        weights.append(float(to_numpy(layer.w)))
    # Eager: w <- w (1 - 0.2 / (1 + s)^2) for s = 0, 1: 0.8 * 0.95.
    np.testing.assert_allclose(weights[0], 0.76, rtol=1e-5)
    np.testing.assert_allclose(weights[1], weights[0], rtol=1e-5)
