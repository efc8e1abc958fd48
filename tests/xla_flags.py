"""The XLA flag the JAX test runs use (set in conftest.py, before JAX is
imported), and an environment without it for subprocesses that train for
long enough to prefer XLA's optimised code."""

import os

FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"


def with_fast_compile(environ):
    """``environ``'s XLA_FLAGS with `FAST_COMPILE_FLAG` added (once)."""
    flags = environ.get("XLA_FLAGS", "")
    if FAST_COMPILE_FLAG in flags:
        return flags
    return (flags + " " + FAST_COMPILE_FLAG).strip()


def optimizing_env():
    """A copy of ``os.environ`` without `FAST_COMPILE_FLAG`."""
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "").replace(FAST_COMPILE_FLAG, "").strip()
    if flags:
        env["XLA_FLAGS"] = flags
    else:
        env.pop("XLA_FLAGS", None)
    return env
