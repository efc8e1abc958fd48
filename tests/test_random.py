"""relaxed_keras.random: the counter-based uniform numbers the sampling
layers draw in training (same numbers on every backend, a state advance
that compiles on torch, uniform enough for offsets and Gumbel noise)."""

import keras
import numpy as np
import pytest

import relaxed_keras as rk
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
