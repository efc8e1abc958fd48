"""Smoke tests of the example scripts' options (a few seconds per backend).

They prove that the options take effect or are refused with an argparse
error: ``exactness.py --steps N`` trains exactly N steps (it used to round
to multiples of 50, at least 50), and bad ``--modes``/sizes of the training
examples stop before any data is loaded instead of a KeyError after
training (or silently meaning "all" for ``--train-size 0``), and
``data_parallel.py`` off JAX names the backend it needs.
"""

import importlib.util
import os
import subprocess
import sys

import keras
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exactness_steps_option_is_the_number_of_steps(monkeypatch):
    """`--steps 3` fits 3 batches; at 33x33 the net stays exactly invariant."""
    fit = keras.Model.fit
    steps = []

    def counting_fit(self, x, y, batch_size, epochs, **kwargs):
        steps.append(epochs * -(-len(x) // batch_size))
        return fit(self, x, y, batch_size=batch_size, epochs=epochs, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", counting_fit)
    rows = load_example("exactness").main(["--steps", "3", "--sizes", "33"])
    assert steps == [3]
    assert rows[0]["exact"] and rows[0]["accuracy"] == 0.5
    assert rows[0]["logit_gap"] < 1e-5


@pytest.mark.parametrize("name, argv", [
    ("partial_mnist6", ["--modes", "bogus"]),
    ("partial_mnist6", ["--train-size", "0"]),
    ("partial_mnist6", ["--epochs", "0"]),
    ("anisotropic_noise", ["--modes", "partial"]),  # cnn7 has no such row
    ("anisotropic_noise", ["--train-size", "0"]),
    ("exactness", ["--steps", "0"]),
    ("transfer_five_classes", ["--epochs", "0"]),
    ("warm_start_relaxed", ["--scratch-lr", "0"]),
])
def test_bad_options_are_argparse_errors(name, argv, capsys):
    with pytest.raises(SystemExit) as info:
        load_example(name).main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="it would train")
def test_data_parallel_names_the_backend_it_needs():
    """Off JAX: an argparse error naming KERAS_BACKEND=jax (it used to be an
    AttributeError on `keras.distribution` being None)."""
    result = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "data_parallel.py")],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, KERAS_BACKEND=keras.backend.backend()),
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "needs KERAS_BACKEND=jax" in result.stderr


FASHION = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


@pytest.mark.skipif(not os.path.exists(FASHION),
                    reason="needs apt-get install dataset-fashion-mnist")
def test_transfer_example_probes_then_fine_tunes():
    """A 5-class head on the frozen Fashion backbone, then all of it: two
    accuracies on the 5-class test slice (64 training images here)."""
    rows = load_example("transfer_five_classes").main(
        ["--train-size", "64", "--test-size", "32", "--epochs", "1"])
    assert [stage for stage, _ in rows] == ["frozen backbone", "fine-tuned"]
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in rows)


@pytest.mark.skipif(not os.path.exists(FASHION),
                    reason="needs apt-get install dataset-fashion-mnist")
def test_warm_start_example_reports_every_arm(tmp_path):
    """The four arms, a JSON report and the PNG (16 rotated images here)."""
    rows = load_example("warm_start_relaxed").main(
        ["--train-size", "16", "--validation-size", "16", "--test-size", "16",
         "--epochs", "1", "--batch-size", "16", "--output", str(tmp_path)])
    assert [row["arm"] for row in rows] == [
        "strict, pretrained", "strict, fine-tuned", "relaxed, warm start",
        "relaxed, from scratch"]
    assert all(len(row["validation_curve"]) == 1 for row in rows[1:])
    assert os.path.getsize(tmp_path / "warm_start.png") > 1000
    assert os.path.exists(tmp_path / "warm_start.json")
