"""Worker for test_cross_backend: load a saved model under KERAS_BACKEND and
write its predictions. Usage: python cross_backend_worker.py IN OUT MODE [KIND]"""

import sys

import keras
import numpy as np

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0])

from tests.models import small_gcnn  # noqa: E402
from tests.models import small_partial  # noqa: E402


def main(model_path, inputs_path, output_path, mode, kind="gcnn"):
    if mode == "keras":
        # compile=False: a file saved under JAX records the resolved
        # jit_compile=True, which would make torch trace the predict step
        # with dynamo (about a minute) for no part of what is tested here.
        model = keras.saving.load_model(model_path, compile=False)
    else:
        model = small_gcnn("p4m") if kind == "gcnn" else small_partial("e2_8")
        model.load_weights(model_path)
    x = np.load(inputs_path)
    np.save(output_path, model.predict(x, verbose=0))


if __name__ == "__main__":
    main(*sys.argv[1:])
