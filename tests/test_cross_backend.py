"""Weights saved under one backend load under the others: same outputs."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.helpers import relative_error
from tests.models import small_gcnn
from tests.models import small_partial

BACKENDS = ("tensorflow", "jax", "torch")
WORKER = os.path.join(os.path.dirname(__file__), "cross_backend_worker.py")


@pytest.mark.parametrize("kind", ["gcnn", "partial"])
@pytest.mark.parametrize("mode", ["keras", "weights.h5"])
def test_saved_model_loads_under_every_other_backend(tmp_path, mode, kind):
    """Discrete p4m G-CNN and the partial E(2) net (continuous kernels,
    learned theta/mirror logit, Gumbel counter) alike."""
    model = small_gcnn("p4m") if kind == "gcnn" else small_partial("e2_8")
    x = np.random.rand(8, 12, 12, 1).astype("float32")
    y = np.random.randint(0, 3, 8)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, y, epochs=1, verbose=0)  # non-trivial BN statistics
    expected = model.predict(x, verbose=0)
    model_path = str(tmp_path / f"model.{mode}")
    if mode == "keras":
        model.save(model_path)
    else:
        model.save_weights(model_path)
    inputs_path = str(tmp_path / "x.npy")
    np.save(inputs_path, x)
    others = [b for b in BACKENDS if b != keras.backend.backend()]
    for backend in others:
        out_path = str(tmp_path / f"out_{backend}.npy")
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        result = subprocess.run(
            [sys.executable, WORKER, model_path, inputs_path, out_path, mode, kind],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert relative_error(np.load(out_path), expected) < 1e-4, backend
