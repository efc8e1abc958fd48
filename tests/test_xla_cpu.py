"""`relaxed_keras.xla_cpu`: the XLA flag that moves JAX's CPU convolutions
from YNNPACK to Eigen (why: that module's docstring)."""

import subprocess
import sys
import textwrap

import keras
import pytest

from relaxed_keras import xla_cpu
from tests.xla_flags import optimizing_env

FLAG = xla_cpu.EIGEN_CONVOLUTION_FLAG


def test_flag_is_added_once_after_existing_flags():
    environ = {"XLA_FLAGS": "--xla_backend_optimization_level=0"}
    assert xla_cpu.use_eigen_convolutions(environ) is True
    assert environ["XLA_FLAGS"] == f"--xla_backend_optimization_level=0 {FLAG}"
    assert xla_cpu.use_eigen_convolutions(environ) is False
    assert environ["XLA_FLAGS"].count(xla_cpu.FLAG_NAME) == 1
    empty = {}
    assert xla_cpu.use_eigen_convolutions(empty) is True
    assert empty == {"XLA_FLAGS": FLAG}


def test_a_users_own_choice_is_kept():
    keep = f"--{xla_cpu.FLAG_NAME}=+individual_convolution"
    environ = {"XLA_FLAGS": keep}
    assert xla_cpu.use_eigen_convolutions(environ) is False
    assert environ == {"XLA_FLAGS": keep}


@pytest.mark.parametrize("version", [None, (0, 4)])
def test_missing_or_older_jaxlib_is_left_alone(monkeypatch, version):
    """XLA aborts on flags it does not know: no flag for unknown jaxlibs."""
    monkeypatch.setattr(xla_cpu, "_jaxlib_version", lambda: version)
    environ = {}
    assert xla_cpu.use_eigen_convolutions(environ) is False
    assert environ == {}


_PROBE = textwrap.dedent(
    """
    import re, sys
    from relaxed_keras import xla_cpu
    if sys.argv[1] == "eigen":
        assert xla_cpu.use_eigen_convolutions()
    import jax, jax.numpy as jnp
    conv = lambda x, w: jax.lax.conv_general_dilated(
        x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    # Squared, so the forward convolution stays; XLA keeps convolutions
    # much smaller than this one out of YNNPACK by itself.
    loss = lambda x, w: (conv(x, w) ** 2).sum()
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    text = grad.lower(jnp.ones((8, 16, 16, 32)), jnp.ones((3, 3, 32, 32))
                      ).compile().as_text()
    # Convolutions per computation, then who calls each computation.
    convolutions, current = {}, None
    for line in text.splitlines():
        if line.endswith("{") and not line.startswith(" "):
            current = line.split()[1 if line.startswith("ENTRY") else 0]
            convolutions[current.lstrip("%")] = 0
        elif " convolution(" in line:
            convolutions[current.lstrip("%")] += 1
    ynn = plain = 0
    for line in text.splitlines():
        called = re.search(r"calls=%([\\w.\\-]+)", line)
        if called and convolutions.get(called.group(1)):
            if "ynn" in line:
                ynn += convolutions[called.group(1)]
            else:
                plain += convolutions[called.group(1)]
    entry = [name for name in convolutions if name.startswith("main")]
    plain += sum(convolutions[name] for name in entry)
    print(ynn, plain)
    """
)


def _convolutions(mode):
    # Without the flag, whoever set it (the CLI, called in-process by other
    # tests, adds it to os.environ).
    env = optimizing_env()
    flags = [f for f in env.get("XLA_FLAGS", "").split() if xla_cpu.FLAG_NAME not in f]
    env["XLA_FLAGS"] = " ".join(flags)
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [int(n) for n in result.stdout.split()[-2:]]


@pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="XLA:CPU kernels: checked in the JAX run (the flag is JAX's)",
)
def test_flag_moves_convolutions_out_of_ynnpack():
    """In a fresh JAX process, the forward and both backward convolutions
    of a conv layer are YNNPACK fusions by default, and plain XLA (Eigen)
    convolutions with the flag. Guards against a jaxlib that renames the
    fusion type: the flag would then change nothing."""
    default_ynn, _ = _convolutions("default")
    eigen_ynn, eigen_plain = _convolutions("eigen")
    assert default_ynn == 3
    assert eigen_ynn == 0 and eigen_plain == 3


def test_too_late_in_this_process_says_so():
    """After JAX has started XLA, the flag can no longer reach this
    process: False and a warning (it used to return True and change
    nothing). A mapping for a subprocess is still changed."""
    code = textwrap.dedent(
        """
        import os, warnings
        import jax.numpy as jnp
        from relaxed_keras import xla_cpu
        other = {}
        assert xla_cpu.use_eigen_convolutions(other) is True, other
        jnp.zeros(1).block_until_ready()
        before = os.environ.get("XLA_FLAGS")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert xla_cpu.use_eigen_convolutions() is False
        assert os.environ.get("XLA_FLAGS") == before
        assert any("after JAX started XLA" in str(w.message) for w in caught)
        other = {}
        assert xla_cpu.use_eigen_convolutions(other) is True, other
        print("ok")
        """
    )
    env = optimizing_env()
    env.pop("XLA_FLAGS", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
