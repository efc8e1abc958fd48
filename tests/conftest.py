import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


@pytest.fixture(autouse=True)
def _seed_and_reset():
    if keras.backend.backend() == "torch":
        # Each test compiles its own models (jit_compile=True). Without a
        # reset, torch.compile's "automatic dynamic shapes" remembers that a
        # layer's code already ran at another input size earlier in this
        # worker process and traces it with symbolic sizes, which the
        # continuous layers' shape arithmetic does not support (README,
        # Known limits). Reset so every test sees a fresh process.
        import torch._dynamo

        torch._dynamo.reset()
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.RandomState(0)
