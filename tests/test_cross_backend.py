"""Weights saved under one backend load under the others: same outputs."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

from tests.cross_backend_worker import build
from tests.helpers import relative_error

BACKENDS = ("tensorflow", "jax", "torch")
WORKER = os.path.join(os.path.dirname(__file__), "cross_backend_worker.py")


def test_saved_models_load_under_every_other_backend(tmp_path):
    """Discrete p4m G-CNN and the partial E(2) net (continuous kernels,
    learned theta/mirror logit, Gumbel counter) alike, as `.keras` and as
    `.weights.h5`. One subprocess per other backend loads all four files
    (a backend's start-up is most of a load's time)."""
    x = np.random.rand(8, 12, 12, 1).astype("float32")
    y = np.random.randint(0, 3, 8)
    inputs_path = str(tmp_path / "x.npy")
    np.save(inputs_path, x)
    cases, expected = [], {}
    for kind in ("gcnn", "partial"):
        model = build(kind)
        model.compile(optimizer="adam",
                      loss=keras.losses.SparseCategoricalCrossentropy(True))
        model.fit(x, y, epochs=1, verbose=0)  # non-trivial BN statistics
        expected[kind] = model.predict(x, verbose=0)
        for mode in ("keras", "weights.h5"):
            path = str(tmp_path / f"{kind}.{mode}")
            if mode == "keras":
                model.save(path)
            else:
                model.save_weights(path)
            cases.append({"model": path, "mode": mode, "kind": kind,
                          "output": str(tmp_path / f"{kind}-{mode}-BACKEND.npy")})
    cases_path = str(tmp_path / "cases.json")
    with open(cases_path, "w") as f:
        json.dump(cases, f)
    for backend in BACKENDS:
        if backend == keras.backend.backend():
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        result = subprocess.run(
            [sys.executable, WORKER, cases_path, inputs_path],
            env=env, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, (backend, result.stderr[-3000:])
        for case in cases:
            actual = np.load(case["output"].replace("BACKEND", backend))
            error = relative_error(actual, expected[case["kind"]])
            assert error < 1e-4, (backend, case["kind"], case["mode"], error)
