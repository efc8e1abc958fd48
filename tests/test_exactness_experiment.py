"""Edixhoven et al. (2023) Sec. 4.1 as a test: a p4 net learns to tell x from
rot90(x) at 32x32 (stride breaks invariance) and cannot at 33x33."""

import importlib.util
import os

import pytest

EXAMPLE = os.path.join(
    os.path.dirname(__file__), os.pardir, "examples", "exactness.py"
)


def load_example():
    spec = importlib.util.spec_from_file_location("exactness_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_tiny_gcnn_separates_rotations_only_when_not_exact():
    example = load_example()
    broken = example.run_experiment(32, steps=300)
    exact = example.run_experiment(33, steps=300)
    assert not broken["exact"] and exact["exact"]
    assert broken["accuracy"] == 1.0
    assert exact["accuracy"] == 0.5
    assert exact["logit_gap"] < 1e-5  # identical logits: cannot separate
    assert broken["logit_gap"] > 0.1
