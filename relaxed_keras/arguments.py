"""Checks of layer constructor arguments (a ValueError naming the
argument instead of a silent truncation or a later NaN)."""

import math
import numbers


def finite_float(value, name, positive=False):
    """``value`` (a real number) as a finite float, ``> 0`` if
    ``positive``; otherwise a ValueError naming the argument."""
    valid = isinstance(value, numbers.Real) and not isinstance(value, bool)
    valid = valid and math.isfinite(value) and (value > 0 or not positive)
    if not valid:
        kind = "a positive finite number" if positive else "a finite number"
        raise ValueError(f"`{name}` must be {kind}. Received: {name}={value!r}")
    return float(value)


def non_negative_float(value, name):
    """`finite_float` that may be 0 but not below (penalty strengths: a
    negative one would reward what it is meant to penalise)."""
    value = finite_float(value, name)
    if value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0. Received: {name}={value!r}")
    return value


def positive_int(value, name):
    """``value`` as an int ``>= 1``. Integral floats (``1000.0``) pass;
    other floats are refused instead of being truncated."""
    valid = isinstance(value, numbers.Real) and not isinstance(value, bool)
    valid = valid and math.isfinite(value) and float(value).is_integer()
    if not valid or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def boolean(value, name):
    """``value`` if it is a bool; a string such as ``"no"`` would read as
    True, and 0/1 behave differently across backends."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
    return value
