"""Counter-based random numbers written with `keras.ops`.

The layers that sample in training (partial group convolutions, the
continuous groups' grid offsets, Augerino) draw a few uniform numbers per
step. `keras.random.uniform` with a `keras.random.SeedGenerator` works in
`model.fit` on every backend, but on torch Keras creates a `torch.Generator`
inside a function wrapped in `torch.compiler.disable`: under
`jit_compile=True` every such draw splits the compiled training step into
pieces, and inside a functional model dynamo then compiles the remaining
layers one by one (BENCHMARKS.md, torch.compile section).

`uniform` here reads and advances the same `SeedGenerator` state with
`keras.ops` only, and turns (state, element index) into a number with an
integer hash: Park-Miller "minimal standard" multiplications modulo
``2**31 - 1`` (Schrage's method, so no product leaves int32) alternated with
xor-shifts. It compiles into one graph on every backend and gives the same
numbers on TensorFlow, JAX and torch for the same seed.

The integer arithmetic uses the tensors' own operators (``//``, ``%``,
``*``), which every backend defines with Python's floor semantics, and
`keras.ops` only where no operator exists (xor): under torch.compile
dynamo traces each `keras.ops` call through Keras's dispatch (argument
conversion, dtype promotion). One draw made 42 such calls, now 16;
the small partial test model's tracing went from 102 s to 95 s
(BENCHMARKS.md, torch.compile).
"""

import math

import keras
from keras import ops

MODULUS = 2147483647  # 2**31 - 1, the Park-Miller prime.
MULTIPLIER = 48271
_QUOTIENT = MODULUS // MULTIPLIER  # 44488: Schrage's q.
_REMAINDER = MODULUS % MULTIPLIER  # 3399: Schrage's r.


def _minstd(x):
    """``MULTIPLIER * x mod MODULUS`` for int32 ``x`` in ``[1, MODULUS)``
    without overflow (Schrage: every intermediate stays below ``2**31``)."""
    high = x // _QUOTIENT
    low = x - high * _QUOTIENT
    y = MULTIPLIER * low - _REMAINDER * high
    # y + MODULUS where y < 0. Not `ops.where(y < 0, ...)`: torch inductor's
    # code generation grows exponentially with such selects chained over
    # the hash rounds (182 s against 25 s for one draw, BENCHMARKS.md).
    return y % MODULUS


def _mix(x):
    """One hash round on non-negative int32: multiply, then xor-shift
    (``x >> 15`` as ``x // 2**15``: the same for non-negative ``x``)."""
    x = _minstd(x % (MODULUS - 1) + 1)
    return ops.bitwise_xor(x, x // 2**15)


def next_seed(seed_generator):
    """The generator's current ``[seed, counter]`` state as non-negative
    int32, advancing the counter by one (what `SeedGenerator.next` does,
    without the NumPy constant torch's dynamo cannot trace)."""
    if not isinstance(seed_generator, keras.random.SeedGenerator):
        raise ValueError(
            "`seed_generator` must be a keras.random.SeedGenerator, "
            f"got {seed_generator!r}."
        )
    # `* 1` copies: on TensorFlow the read would otherwise alias the
    # variable and see the increment below (Keras's `next` does the same).
    state = ops.convert_to_tensor(seed_generator.state.value) * 1
    seed_generator.state.assign(state + ops.cast(ops.arange(2), state.dtype))
    return ops.cast(state % MODULUS, "int32")


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed_generator=None):
    """Uniform numbers in ``[minval, maxval)`` from a `SeedGenerator`.

    Each call advances the generator once; entry ``i`` of the result hashes
    ``(seed, counter, i)``. 24 random bits per number (the float32 mantissa).

    Args:
        shape: static shape of the result (a tuple of ints; ``()`` for a
            scalar).
        minval: lower bound (inclusive).
        maxval: upper bound (exclusive).
        dtype: float dtype of the result (default `keras.config.floatx()`).
        seed_generator: the layer's `keras.random.SeedGenerator`.

    Example:

    >>> generator = keras.random.SeedGenerator(0)
    >>> u = relaxed_keras.random.uniform((3,), seed_generator=generator)
    >>> tuple(u.shape)
    (3,)
    """
    shape = tuple(int(d) for d in shape)
    size = math.prod(shape)
    if size >= MODULUS - 1:
        raise ValueError(
            f"`shape` {shape} has {size} entries; one call draws at most "
            f"{MODULUS - 2} (the element index must stay below 2**31 - 2)."
        )
    state = next_seed(seed_generator)
    h = _mix(ops.bitwise_xor(_mix(state[0]), state[1]))
    h = _mix(ops.bitwise_xor(_mix(h), ops.arange(size, dtype="int32")))
    h = _mix(_mix(h))
    unit = ops.cast(h // 2**7, "float32") * (1.0 / 2**24)
    values = minval + (maxval - minval) * ops.reshape(unit, shape)
    return ops.cast(values, dtype or keras.config.floatx())
