"""The expanded kernels are the transformed base kernels."""

import numpy as np
import pytest

import relaxed_keras as rk
from relaxed_keras.kernels import KernelTransform
from tests.helpers import relative_error
from tests.helpers import to_numpy


@pytest.mark.parametrize("group", [rk.CyclicGroup(4), rk.DihedralGroup(4)])
@pytest.mark.parametrize("k", [3, 4])
def test_lifting_expansion_is_the_image_action(group, k):
    base = np.random.rand(k, k, 1, 2, 3).astype("float32")
    expanded = KernelTransform(group, (k, k), lifting=True).expand(base)
    assert tuple(expanded.shape) == (k, k, 1, 2, group.size, 3)
    as_images = np.transpose(base[:, :, 0], (3, 0, 1, 2))  # [C_out, k, k, C_in]
    for g in range(group.size):
        expected = np.transpose(
            to_numpy(group.transform_images(as_images, g)), (1, 2, 3, 0)
        )
        assert relative_error(expanded[:, :, 0, :, g], expected) == 0.0


@pytest.mark.parametrize("group", [rk.CyclicGroup(4), rk.DihedralGroup(4)])
def test_group_expansion_is_the_regular_action(group):
    base = np.random.rand(3, 3, group.size, 2, 5).astype("float32")
    expanded = KernelTransform(group, (3, 3), lifting=False).expand(base)
    # View the base kernel as group feature maps [C_out, k, k, G, C_in].
    as_maps = np.transpose(base, (4, 0, 1, 2, 3))
    for g in range(group.size):
        expected = np.transpose(
            to_numpy(group.transform_feature_maps(as_maps, g)), (1, 2, 3, 4, 0)
        )
        assert relative_error(expanded[:, :, :, :, g], expected) == 0.0


def test_exact_groups_use_a_pure_gather_and_others_interpolate():
    assert KernelTransform(rk.DihedralGroup(4), (3, 3), False).is_permutation
    c8 = KernelTransform(rk.CyclicGroup(8), (5, 5), False)
    assert not c8.is_permutation
    # The 45-degree copy of a centred delta stays a delta at the centre.
    base = np.zeros((5, 5, 8, 1, 1), "float32")
    base[2, 2, 0] = 1.0
    expanded = to_numpy(c8.expand(base))
    np.testing.assert_allclose(expanded[2, 2, 1, 0, 1, 0], 1.0, atol=1e-6)
    # Even rotations of C8 are exact rot90s of the base kernel.
    base = np.random.rand(5, 5, 8, 1, 1).astype("float32")
    expanded = to_numpy(c8.expand(base))
    np.testing.assert_allclose(
        expanded[:, :, 2, 0, 2, 0], np.rot90(base[:, :, 0, 0, 0]), atol=1e-6
    )


def test_fold_matches_the_feature_map_reshape():
    group = rk.CyclicGroup(4)
    transform = KernelTransform(group, (3, 3), lifting=False)
    base = np.random.rand(3, 3, 4, 2, 5).astype("float32")
    expanded = to_numpy(transform.expand(base))
    folded = to_numpy(transform(base))
    # Input channel index h * C_in + c, output channel index g * C_out + o.
    assert folded.shape == (3, 3, 8, 20)
    np.testing.assert_array_equal(
        folded[:, :, 3 * 2 + 1, 2 * 5 + 4], expanded[:, :, 3, 1, 2, 4]
    )
