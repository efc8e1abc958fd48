"""XLA_FLAGS for the tests: the fast-compile flag the JAX test runs use
(set in conftest.py, before JAX is imported), appending other flags for
subprocesses, and an environment without the fast-compile flag for
subprocesses that train for long enough to prefer XLA's optimised code."""

import os

FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"


def with_xla_flag(environ, flag=FAST_COMPILE_FLAG):
    """``environ``'s XLA_FLAGS with ``flag`` appended (once)."""
    flags = environ.get("XLA_FLAGS", "")
    if flag in flags.split():
        return flags
    return (flags + " " + flag).strip()


def optimizing_env():
    """A copy of ``os.environ`` without `FAST_COMPILE_FLAG`."""
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "").replace(FAST_COMPILE_FLAG, "").strip()
    if flags:
        env["XLA_FLAGS"] = flags
    else:
        env.pop("XLA_FLAGS", None)
    return env
