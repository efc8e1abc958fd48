"""The package's shape: small modules, no import cycles, and every
backend-specific form named in `relaxed_keras.backend_policy`, computing
the same numbers as the backend-neutral form."""

import ast
import os
import re

import keras
import numpy as np
import pytest

import relaxed_keras as rk
from relaxed_keras import backend_policy
from tests.helpers import relative_error
from tests.helpers import to_numpy

PACKAGE = os.path.dirname(os.path.abspath(rk.__file__))
MAX_LINES = 450
# A comparison with a backend's name: `backend() == "torch"`, `!= "jax"`,
# `in (...)`.
BACKEND_TEST = re.compile(r"backend\(\)\s*(==|!=|in\b|not\s+in\b)")


def _modules():
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE))
                module = relative[:-3].replace(os.sep, ".")
                yield module.removesuffix(".__init__"), path


def test_no_library_module_is_longer_than_450_lines():
    long = {}
    for module, path in _modules():
        with open(path) as f:
            count = sum(1 for _ in f)
        if count > MAX_LINES:
            long[module] = count
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _import_graph():
    modules = dict(_modules())
    graph = {}
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        targets = set()
        for node in ast.walk(tree):  # function-level imports too
            if isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    name = f"{node.module}.{alias.name}"
                    targets.add(name if name in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        # Edges into a module's own parent packages are the package
        # initialisers re-exporting it, not a dependency.
        graph[module] = {t for t in targets if t in modules and t != module
                         and not module.startswith(t + ".")}
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target, path + [target])
                if found:
                    return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [node])
            if found:
                return found
    return None


def test_no_import_cycles():
    graph = _import_graph()
    assert graph["relaxed_keras.zoo.saving"] >= {
        "relaxed_keras.zoo.cards", "relaxed_keras.zoo.presets"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph) == ["a", "b", "c", "a"]


def test_backend_names_are_compared_only_in_backend_policy():
    found = []
    for module, path in _modules():
        if module == "relaxed_keras.backend_policy":
            continue
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if BACKEND_TEST.search(line):
                    found.append(f"{module}:{number}: {line.strip()}")
    assert not found, "\n".join(found)


def test_every_branch_is_used_and_explained():
    sources = []
    for module, path in _modules():
        if module != "relaxed_keras.backend_policy":
            with open(path) as f:
                sources.append(f.read())
    text = "\n".join(sources)
    for name, branch in backend_policy.BRANCHES.items():
        assert f'active("{name}")' in text, f"{name} is never asked for"
        assert set(branch.backends) <= {"tensorflow", "jax", "torch"}, name
        assert branch.kind in ("correctness", "memory", "speed"), name
        assert len(branch.reason) > 40, name


def test_unknown_branch_names_are_refused():
    with pytest.raises(ValueError, match="select_relu"):
        backend_policy.active("select_relus")
    with pytest.raises(ValueError, match="Unknown backend branch"):
        with backend_policy.disabled("no_such_branch"):
            pass


def test_disabled_restores_the_previous_state():
    backend = backend_policy.BRANCHES["select_relu"].backends[0]
    assert backend_policy.active("select_relu", backend=backend)
    with backend_policy.disabled("select_relu"):
        assert not backend_policy.active("select_relu", backend=backend)
        with backend_policy.disabled("select_relu"):
            pass
        assert not backend_policy.active("select_relu", backend=backend)
    assert backend_policy.active("select_relu", backend=backend)


SPEED_FORMS = ("channels_first_views", "unfolded_training", "tile_by_matmul",
               "affine_batch_norm", "pad_by_concatenation")


def _p4cnn_outputs(x, y):
    """Inference and training logits and the weights after one SGD step."""
    keras.utils.set_random_seed(3)
    model = rk.zoo.build("p4cnn", equivariance="strict", dropout=0.0)
    inference = model(x, training=False)
    training = model(x, training=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.train_on_batch(x, y)
    return [inference, training] + model.get_weights()


def test_backend_specific_forms_compute_the_neutral_forms_numbers():
    """Logits in inference and training mode, and the weights after one
    SGD step (so the gradients), agree with every speed form switched off
    (on backends where no form applies both runs take the same path)."""
    rng = np.random.RandomState(0)
    x = rng.rand(4, 28, 28, 1).astype("float32")
    y = rng.randint(0, 10, 4)
    specific = _p4cnn_outputs(x, y)
    with backend_policy.disabled(*SPEED_FORMS):
        neutral = _p4cnn_outputs(x, y)
    assert len(specific) == len(neutral) > 2
    assert relative_error(specific[0], neutral[0]) < 1e-5
    assert relative_error(specific[1], neutral[1]) < 1e-5
    for a, b in zip(specific[2:], neutral[2:]):
        # 1e-5 of the array's scale plus 1e-6 absolute: batch norm cancels
        # the gradients of the biases before it (updates of float noise,
        # ~1e-8, whose rounding differs between the forms).
        a, b = to_numpy(a), to_numpy(b)
        assert np.abs(a - b).max() < 1e-5 * np.abs(b).max() + 1e-6
