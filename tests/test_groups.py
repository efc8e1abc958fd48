"""Group axioms, the documented conventions and the actions on tensors."""

import numpy as np
import pytest
from keras import ops

import relaxed_keras as rk
from tests.helpers import relative_error
from tests.helpers import to_numpy

GROUPS = [
    rk.CyclicGroup(1),
    rk.CyclicGroup(2),
    rk.CyclicGroup(4),
    rk.CyclicGroup(8),
    rk.DihedralGroup(1),
    rk.DihedralGroup(4),
    rk.DihedralGroup(8),
]


@pytest.mark.parametrize("group", GROUPS, ids=repr)
def test_group_axioms(group):
    table = group.cayley_table
    n = group.size
    # Identity, closure and Latin square (every element appears once).
    assert np.array_equal(table[0], np.arange(n))
    assert np.array_equal(table[:, 0], np.arange(n))
    for row in table:
        assert sorted(row) == list(range(n))
    # Associativity.
    for a in range(n):
        for b in range(n):
            for c in range(n):
                assert table[table[a, b], c] == table[a, table[b, c]]
    # Inverses.
    for a in range(n):
        assert table[a, group.inverse(a)] == 0


@pytest.mark.parametrize("group", GROUPS, ids=repr)
def test_matrices_are_a_homomorphism(group):
    for a in range(group.size):
        for b in range(group.size):
            np.testing.assert_allclose(
                group.matrix(a) @ group.matrix(b),
                group.matrix(group.compose(a, b)),
                atol=1e-12,
            )


def test_documented_conventions():
    p4m = rk.DihedralGroup(4)
    # g = r + order * m is "flip, then rotate by r * 90 degrees".
    assert p4m.element(6) == (2, 1)
    np.testing.assert_allclose(p4m.matrix(1), [[0, -1], [1, 0]])  # CCW
    np.testing.assert_allclose(p4m.matrix(4), [[-1, 0], [0, 1]])  # x -> -x
    np.testing.assert_allclose(p4m.matrix(5), p4m.matrix(1) @ p4m.matrix(4))
    x = np.random.rand(2, 5, 5, 3).astype("float32")
    expected = ops.rot90(ops.flip(x, axis=2), k=2, axes=(1, 2))
    assert relative_error(p4m.transform_images(x, 6), expected) == 0.0
    assert relative_error(
        rk.CyclicGroup(4).transform_images(x, 1), ops.rot90(x, 1, axes=(1, 2))
    ) == 0.0


@pytest.mark.parametrize("group", [rk.CyclicGroup(4), rk.DihedralGroup(4)])
def test_image_action_moves_pixels_like_coordinates(group):
    n = 5
    for g in range(group.size):
        for i, j in [(0, 1), (3, 4), (2, 2)]:
            image = np.zeros((1, n, n, 1), "float32")
            image[0, i, j, 0] = 1.0
            moved = to_numpy(group.transform_images(image, g))[0, :, :, 0]
            x, y = group.act_on_coordinates(g, [j - 2.0, 2.0 - i])
            assert moved[int(round(2 - y)), int(round(x + 2))] == 1.0


@pytest.mark.parametrize("group", [rk.CyclicGroup(4), rk.DihedralGroup(4)])
@pytest.mark.parametrize("rank", [4, 5])
def test_tensor_action_is_a_group_action(group, rank):
    shape = (2, 6, 6, 3) if rank == 4 else (2, 6, 6, group.size, 3)
    x = np.random.rand(*shape).astype("float32")
    for a in range(group.size):
        for b in range(group.size):
            left = group.transform(group.transform(x, b), a)
            right = group.transform(x, group.compose(a, b))
            assert relative_error(left, right) == 0.0


def test_rotation_by_45_degrees_is_approximate():
    c8 = rk.CyclicGroup(8)
    assert not c8.is_exact
    x = rk.groups.circle_crop(np.random.rand(1, 21, 21, 1).astype("float32"))
    twice = c8.transform_images(c8.transform_images(x, 1), 1)
    exact = c8.transform_images(x, 2)  # 90 degrees: exact rot90
    error = relative_error(twice, exact)
    assert 1e-3 < error < 0.8  # interpolation blurs, but it is a rotation


@pytest.mark.parametrize(
    "name,expected",
    [
        ("p4", rk.CyclicGroup(4)),
        ("p4m", rk.DihedralGroup(4)),
        ("c8", rk.CyclicGroup(8)),
        ("D4", rk.DihedralGroup(4)),
    ],
)
def test_get_by_name_and_config(name, expected):
    group = rk.groups.get(name)
    assert group == expected
    assert rk.groups.get(rk.groups.serialize(group)) == expected


@pytest.mark.parametrize("bad", ["p4x", "c4m", 4, None, {"class_name": "X"}])
def test_get_rejects_unknown_groups(bad):
    with pytest.raises(ValueError, match="group"):
        rk.groups.get(bad)


@pytest.mark.parametrize("bad", ["se2_8)", "se2(8", "e2:8)", "e2((8))"])
def test_get_rejects_unbalanced_parentheses(bad):
    with pytest.raises(ValueError, match="group"):
        rk.groups.get(bad)


@pytest.mark.parametrize("name", ["se2_8", "se2:8", "se28", "SE2(8)"])
def test_get_accepts_the_continuous_group_spellings(name):
    assert rk.groups.get(name) == rk.groups.SE2(8)


def test_get_names_the_accepted_keys_of_a_config():
    with pytest.raises(ValueError, match=r"accepted keys are \['order'\]"):
        rk.groups.get({"class_name": "CyclicGroup", "config": {"order": 4, "bad": 1}})
    with pytest.raises(ValueError, match=r"\['num_elements'\]"):
        rk.groups.get({"class_name": "E2", "config": {"order": 4}})
    with pytest.raises(ValueError, match="must be a dict of its arguments"):
        rk.groups.get({"class_name": "CyclicGroup", "config": [4]})
    # A config of None is no arguments: the class's defaults (TypeError before).
    assert rk.groups.get({"class_name": "CyclicGroup", "config": None}).order == 4


def test_index_takes_integer_rotations_and_a_0_or_1_mirror():
    p4m = rk.DihedralGroup(4)
    assert p4m.index(-1) == 3 and p4m.index(np.int64(5), 1) == 5
    assert p4m.index(2, True) == 6
    with pytest.raises(ValueError, match="rotation"):
        p4m.index(1.5)
    with pytest.raises(ValueError, match="mirror"):
        p4m.index(0, 2)


@pytest.mark.parametrize("order", [2.5, "4", 0, -1, True])
def test_non_integer_order_is_rejected(order):
    with pytest.raises(ValueError, match="order"):
        rk.CyclicGroup(order)


def test_feature_map_action_checks_group_axis():
    with pytest.raises(ValueError, match="group feature maps"):
        rk.CyclicGroup(4).transform_feature_maps(np.zeros((1, 3, 3, 8, 2)), 1)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        rk.CyclicGroup(4).element(4)


@pytest.mark.parametrize("shape", [(2, 3, 5, 2), (1, 4, 4, 3, 2), (2, 6, 1, 1)])
def test_rot90_matches_numpy_on_non_square_planes(shape):
    """Guards against tensorflow/tensorflow#127248 (keras.ops.rot90 on TF,
    k=2, non-square planes) which the library works around."""
    x = np.random.rand(*shape).astype("float32")
    for k in range(-1, 5):
        expected = np.rot90(x, k, axes=(1, 2))
        assert np.array_equal(to_numpy(rk.groups.base.rot90(x, k)), expected)
    c2 = rk.CyclicGroup(2)
    assert np.array_equal(to_numpy(c2.transform_images(x, 1)), x[:, ::-1, ::-1])
