"""Worker for test_cross_backend: load saved models under KERAS_BACKEND and
write their predictions. Usage: python cross_backend_worker.py CASES INPUTS
(CASES: a JSON list of {"model", "mode", "kind", "output"}; BACKEND in an
output path becomes the backend's name)."""

import json
import sys

import keras
import numpy as np

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])

from tests.models import small_gcnn  # noqa: E402
from tests.models import small_partial  # noqa: E402


def build(kind):
    """The model a case saves or loads weights into: ``"gcnn"`` (p4m) or
    ``"partial"`` (E(2), 8 elements)."""
    return small_gcnn("p4m") if kind == "gcnn" else small_partial("e2_8")


def main(cases_path, inputs_path):
    x = np.load(inputs_path)
    with open(cases_path) as f:
        cases = json.load(f)
    for case in cases:
        if case["mode"] == "keras":
            # compile=False: a file saved under JAX records the resolved
            # jit_compile=True, which would make torch trace the predict step
            # with dynamo (about a minute) for no part of what is tested here.
            model = keras.saving.load_model(case["model"], compile=False)
        else:
            model = build(case["kind"])
            model.load_weights(case["model"])
        output = case["output"].replace("BACKEND", keras.backend.backend())
        np.save(output, model.predict(x, verbose=0))


if __name__ == "__main__":
    main(*sys.argv[1:])
