"""Counter-based random numbers written with `keras.ops`.

The layers that sample in training (partial group convolutions, the
continuous groups' grid offsets, Augerino) draw a few uniform numbers per
step (`uniform`); `rk.layers.Dropout` draws a mask as large as its input
(`dropout`, a cheaper hash per entry, described there).
`keras.random.uniform` with a `keras.random.SeedGenerator` works in
`model.fit` on every backend, but on torch Keras creates a `torch.Generator`
inside a function wrapped in `torch.compiler.disable`: under
`jit_compile=True` every such draw splits the compiled training step into
pieces, and inside a functional model dynamo then compiles the remaining
layers one by one. This module avoids that (compiled torch P4CNN training
with its dropout masks: BENCHMARKS.md, "P4CNN per `jit_compile` setting
(CPU, sequential run)").

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
conversion, dtype promotion), so fewer calls trace faster.
"""

import math
import numbers

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
    # the hash rounds (BENCHMARKS.md, "Tried and rejected").
    return y % MODULUS


def _mix(x):
    """One hash round on non-negative int32: multiply, then xor-shift
    (``x >> 15`` as ``x // 2**15``: the same for non-negative ``x``)."""
    x = _minstd(x % (MODULUS - 1) + 1)
    return ops.bitwise_xor(x, x // 2**15)


def read_state(variable):
    """The value of a state variable that the caller then updates in place
    (a seed state, a step counter), as a tensor that a compiled training
    step keeps for its backward pass.

    `* 1` copies: on TensorFlow the read would otherwise alias the variable
    and see the update (Keras's `SeedGenerator.next` does the same). The
    value then goes through a concatenate, an op that torch's min-cut
    partitioner (inductor) does not recompute: without it, a compiled
    training step recomputed what depends on the value (dropout masks,
    offsets, the Gumbel temperature) in the backward pass from the
    variable, which the update had already advanced in place, so the
    gradients belonged to the next step's draws (a dense kernel entry
    0.996 against 0.981 eager after two SGD steps; tests/test_random.py).
    The partitioner saves the concatenation (twice the variable's size)
    instead; the values are unchanged (checked with a plain read in its
    place: tests/test_random.py fails on torch).

    Args:
        variable: a `keras.Variable`.
    """
    value = ops.convert_to_tensor(variable.value) * 1
    flat = ops.reshape(value, (-1,))
    # Each entry next to a zero, then their sum (exact). Forms that did not
    # work with torch 2.13 (the backward pass still read the variable): a
    # concatenate with an empty tensor or of one operand (inductor turns it
    # into a recomputable clone), the first half of a concatenate of two
    # copies, and the maximum of two copies.
    pair = ops.concatenate([flat[:, None], ops.zeros_like(flat)[:, None]], axis=1)
    kept = ops.cast(ops.sum(pair, axis=1), value.dtype)
    return ops.reshape(kept, value.shape)


def next_seed(seed_generator):
    """The generator's current ``[seed, counter]`` state as non-negative
    int32, advancing the counter by one (what `SeedGenerator.next` does,
    without the NumPy constant torch's dynamo cannot trace).

    Args:
        seed_generator: a `keras.random.SeedGenerator`.
    """
    if not isinstance(seed_generator, keras.random.SeedGenerator):
        raise ValueError(
            "`seed_generator` must be a keras.random.SeedGenerator, "
            f"got {seed_generator!r}."
        )
    state = read_state(seed_generator.state)
    seed_generator.state.assign(state + ops.cast(ops.arange(2), state.dtype))
    return ops.cast(state % MODULUS, "int32")


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed_generator=None):
    """Uniform numbers in ``[minval, maxval)`` from a `SeedGenerator`.

    Each call advances the generator once; entry ``i`` of the result hashes
    ``(seed, counter, i)``. 24 random bits per number (the float32 mantissa):
    ``minval + (maxval - minval) * k / 2**24`` for an integer ``k`` in
    ``[0, 2**24)``, computed in float32 and then cast to ``dtype``.

    Args:
        shape: static shape of the result (a tuple of non-negative ints;
            ``()`` for a scalar).
        minval: lower bound (inclusive).
        maxval: upper bound, exclusive before rounding: the largest number,
            ``minval + (maxval - minval) * (1 - 2**-24)``, rounds to
            ``maxval`` itself in a float16 or bfloat16 ``dtype`` (about
            one draw in 4096 for float16, one in 512 for bfloat16, with
            ``[0, 1)``) and, for some ranges, in float32 (one draw in
            2**24; ``[1, 2)``: ``1 + (1 - 2**-24)`` rounds to 2). Float32
            draws from ``[0, 1)``, the layers' offsets, never reach 1.
        dtype: float dtype of the result (default `keras.config.floatx()`).
        seed_generator: the layer's `keras.random.SeedGenerator`.

    Example:

    >>> generator = keras.random.SeedGenerator(0)
    >>> u = relaxed_keras.random.uniform((3,), seed_generator=generator)
    >>> tuple(u.shape)
    (3,)
    """
    shape = tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0
           for d in shape):
        # int(2.5) used to draw 2 numbers; a negative size failed inside
        # the backend.
        raise ValueError(
            "`shape` must be a tuple of non-negative integers. "
            f"Received: shape={shape!r}"
        )
    dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
    if not keras.backend.is_float_dtype(dtype):
        # An integer cast of [0, 1) used to return zeros.
        raise ValueError(
            "`dtype` must be a floating point dtype, as in "
            f"`keras.random.uniform`. Received: dtype={dtype}"
        )
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
    return ops.cast(values, dtype)


# Dropout masks: one hash per entry, as large as the feature map, so the
# hash must be cheap. Integer arithmetic on int32 with two's-complement
# wrap-around, which XLA defines and TensorFlow's, torch's and inductor's
# kernels compute: the low 32 bits of a product do not depend on
# signedness, and `_shift_right` masks the sign copies of the arithmetic
# shift, so every number is the uint32 one.
_WEYL = 0x9E3779B9 - 2**32  # odd: distinct entry indices stay distinct
_MULTIPLIER_1 = 0x7FEB352D  # the two multipliers of Wellons's lowbias32
_MULTIPLIER_2 = 0x846CA68B - 2**32
_SIGN_BIT = -(2**31)


def _shift_right(x, bits):
    """uint32 ``x >> bits`` of an int32 ``x`` (logical, not arithmetic)."""
    return ops.bitwise_and(ops.right_shift(x, bits), (1 << (32 - bits)) - 1)


def _lowbias32(x):
    """Wellons's "lowbias32" integer hash (full avalanche; for scalars)."""
    x = ops.bitwise_xor(x, _shift_right(x, 16)) * _MULTIPLIER_1
    x = ops.bitwise_xor(x, _shift_right(x, 15)) * _MULTIPLIER_2
    return ops.bitwise_xor(x, _shift_right(x, 16))


def _entry_hash(index, key):
    """Per-entry word whose *high* bits are uniform: lowbias32 without its
    first and last xor-shifts (a mask reads the top bits of the word: each
    of them depends on every bit of ``index * _WEYL ^ key`` through the
    multiply, xor-shift, multiply chain; the two dropped shifts only feed
    high bits into low ones). Seven elementwise passes where the full hash
    of ``index * _WEYL ^ key`` makes thirteen: in eager torch every pass is
    a kernel over the whole mask."""
    h = ops.bitwise_xor(index * _WEYL, key) * _MULTIPLIER_1
    return ops.bitwise_xor(h, _shift_right(h, 15)) * _MULTIPLIER_2


def dropout(inputs, rate, noise_shape=None, seed_generator=None):
    """``keras.random.dropout`` with a counter-based mask.

    Each entry is kept with probability ``1 - rate`` (to 2**-32: its
    32-bit hash against ``round(rate * 2**32)``) and scaled by
    ``1 / (1 - rate)``; dropped entries are 0. The mask hashes (seed,
    counter, entry index) like `uniform`, but with one multiply, xor-shift,
    multiply hash per entry instead of `uniform`'s six Park-Miller rounds:
    masks are as large as the feature maps. It is cheaper than the
    backends' generators, which draw per entry (one 64x28x28x4x10 mask on
    2 CPU cores, median ms, ours against Keras's: JAX jit-compiled 0.9
    against 29 (threefry); torch eager 12.5 against 19.8 (``F.dropout``);
    TensorFlow `tf.function` 7.6 against 9.8 (Philox), with XLA 2.4
    against 35), gives the same masks on TensorFlow, JAX and torch for the
    same seed, and compiles into torch.compile graphs (Keras's seeded
    torch dropout is a graph break).

    Args:
        inputs: tensor to drop entries of.
        rate: probability of dropping an entry, in ``[0, 1)``.
        noise_shape: shape of the mask, broadcast to ``inputs`` (``None``
            entries take the input's size), as in `keras.random.dropout`.
        seed_generator: the layer's `keras.random.SeedGenerator`; each call
            advances it once.

    Example:

    >>> generator = keras.random.SeedGenerator(0)
    >>> x = keras.ops.ones((2, 1000))
    >>> y = relaxed_keras.random.dropout(x, 0.5, seed_generator=generator)
    >>> sorted(set(keras.ops.convert_to_numpy(y).ravel().tolist()))
    [0.0, 2.0]
    """
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate}")
    if rate == 0.0:
        return inputs
    shape = ops.shape(inputs)
    if noise_shape is None:
        mask_shape = shape
    else:
        if len(noise_shape) != len(shape):
            raise ValueError(
                f"`noise_shape` {tuple(noise_shape)} must have the rank of "
                f"the inputs, {len(shape)}."
            )
        mask_shape = tuple(
            size if noise is None else noise
            for size, noise in zip(shape, noise_shape)
        )
    size = 1
    for dim in mask_shape:
        size = size * dim
    if isinstance(size, int) and size >= 2**31:
        raise ValueError(
            f"The dropout mask has {size} entries; at most 2**31 - 1 "
            "(the entry index is int32)."
        )
    state = next_seed(seed_generator)
    key = _lowbias32(ops.bitwise_xor(_lowbias32(state[0]), state[1]))
    h = _entry_hash(ops.arange(size, dtype="int32"), key)
    # Keep where the word, read as uint32, is >= round(rate * 2**32): the
    # unsigned comparison as a signed one of both sides with the top bit
    # flipped (one pass instead of a logical shift's two).
    threshold = min(int(round(rate * 2**32)), 2**32 - 1) + _SIGN_BIT
    keep = ops.bitwise_xor(h, _SIGN_BIT) >= threshold
    if noise_shape is None:
        # The select on the flattened map, then the map's shape again:
        # TensorFlow's select (forward, and both selects of its gradient)
        # is slower on a rank-5 group map than on the same entries in rank
        # 1 (2.6 against 1.5 ms per select for a P4CNN map on 2 CPU cores).
        # The P4CNN with it: BENCHMARKS.md, "P4CNN against e2cnn and the
        # dense limit (CPU, interleaved rounds)"; a multiply by a mask
        # instead of the select: "Tried and rejected".
        flat = ops.reshape(inputs, (-1,))
        kept = ops.where(keep, flat / (1.0 - rate), ops.zeros_like(flat))
        return ops.reshape(kept, shape)
    keep = ops.reshape(keep, mask_shape)
    return ops.where(keep, inputs / (1.0 - rate), ops.zeros_like(inputs))
