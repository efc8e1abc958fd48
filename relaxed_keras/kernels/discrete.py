"""Discrete kernel expansion for regular group convolutions.

A group convolution (Cohen & Welling 2016) with base kernel ``psi`` computes

    out(x, g) = sum_{y, h} in(x + y, h) psi(g^-1 y, g^-1 h),

i.e. every output element ``g`` uses the base kernel transformed by the
regular action of ``g`` (`PlanarGroup.transform_feature_maps` applied to the
kernel). For a lifting convolution the input has no group axis.

All ``|G|`` transformed copies are produced by **one gather** from a table
computed once in numpy (`KernelTransform`), then folded so that the whole
layer is one `keras.ops.conv`: input channels ordered ``(h, c_in)`` and output
channels ``(g, c_out)``, matching a reshape of ``[B, H, W, |G|, C]``.

For rotations that are not multiples of 90 degrees, each transformed kernel
tap is a bilinear combination of (up to) four base taps; the table then has
four entries per tap with interpolation weights. Equivariance is approximate
in that case.
"""

import numpy as np
from keras import ops


def spatial_transform_table(group, index, kernel_size):
    """Sparse linear map of ``T_g`` on a ``kh x kw`` grid of kernel taps.

    Returns ``(indices, weights)`` of shape ``[kh * kw, 4]``: transformed tap
    ``q`` equals ``sum_j weights[q, j] * base[indices[q, j]]`` (row-major tap
    numbering). Exact transforms have one weight 1 and three zeros.
    """
    kh, kw = kernel_size
    ii, jj = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    coords = np.stack(
        [jj - (kw - 1) / 2.0, (kh - 1) / 2.0 - ii], axis=-1
    ).reshape(-1, 2)
    inverse = group.inverse(index)
    src = group.act_on_coordinates(inverse, coords)
    src = np.round(src, 9)  # exact for multiples of 90 degrees
    rows = (kh - 1) / 2.0 - src[:, 1]
    cols = src[:, 0] + (kw - 1) / 2.0
    row0, col0 = np.floor(rows), np.floor(cols)
    indices = np.zeros((kh * kw, 4), dtype="int32")
    weights = np.zeros((kh * kw, 4), dtype="float64")
    j = 0
    for dr in (0, 1):
        for dc in (0, 1):
            r, c = row0 + dr, col0 + dc
            w = (1 - np.abs(rows - r)) * (1 - np.abs(cols - c))
            inside = (r >= 0) & (r < kh) & (c >= 0) & (c < kw)
            w = np.where(inside, np.clip(w, 0.0, 1.0), 0.0)
            indices[:, j] = np.where(inside, r * kw + c, 0)
            weights[:, j] = w
            j += 1
    return indices, weights


class KernelTransform:
    """Precomputed expansion of a base kernel into all ``|G|`` copies.

    Base kernels have shape ``[kh, kw, G_in, C_in, C_out]`` (``G_in = 1`` for
    lifting). `expand` returns ``[kh, kw, G_in, C_in, G_out, C_out]``; `fold`
    reshapes that to the ``ops.conv`` kernel ``[kh, kw, G_in * C_in,
    G_out * C_out]``.

    Args:
        group: the `PlanarGroup`.
        kernel_size: ``(kh, kw)``.
        lifting: True when the input has no group axis.
    """

    def __init__(self, group, kernel_size, lifting):
        self.group = group
        self.kernel_size = tuple(kernel_size)
        self.lifting = lifting
        kh, kw = self.kernel_size
        taps = kh * kw
        g_in = 1 if lifting else group.size
        indices, weights = [], []
        for g in range(group.size):
            sp_idx, sp_w = spatial_transform_table(group, g, self.kernel_size)
            # Source group element for each target h: g^-1 h.
            perm = (
                np.zeros(1, "int32")
                if lifting
                else group.regular_permutation(g)
            )
            # Flattened base index: tap * G_in + group element.
            idx = sp_idx[:, None, :] * g_in + perm[None, :, None]
            w = np.broadcast_to(sp_w[:, None, :], idx.shape)
            indices.append(idx.reshape(taps * g_in, 4))
            weights.append(w.reshape(taps * g_in, 4))
        indices = np.stack(indices)  # [G_out, taps * G_in, 4]
        weights = np.stack(weights)
        self.is_permutation = bool(
            np.all(np.isclose(weights[..., 0], 1.0))
            and np.all(weights[..., 1:] == 0.0)
        )
        # Backend tensors made once here (layers create their transform in
        # __init__, outside any traced call): converting numpy inside a
        # traced call breaks a torch.compile graph (dynamo cannot trace
        # ``ndarray.dtype``).
        if self.is_permutation:
            self.indices = ops.convert_to_tensor(
                indices[..., 0].reshape(-1), dtype="int32"
            )
            self.weights = None
        else:
            self.indices = ops.convert_to_tensor(
                indices.reshape(-1), dtype="int32"
            )
            self.weights = ops.convert_to_tensor(
                weights.reshape(-1, 4, 1, 1), dtype="float32"
            )
        self.g_in = g_in

    def expand(self, kernel):
        """``[kh, kw, G_in, C_in, C_out]`` -> ``[kh, kw, G_in, C_in, G, C_out]``."""
        kh, kw = self.kernel_size
        c_in, c_out = kernel.shape[-2], kernel.shape[-1]
        g_out = self.group.size
        # A 2-D gather along axis 0 (an embedding lookup): it exports to
        # ONNX on every backend (torch's higher-rank `take` goes through
        # `aten::ravel`, which its ONNX exporter rejects).
        flat = ops.reshape(kernel, (kh * kw * self.g_in, c_in * c_out))
        if self.is_permutation:
            out = ops.take(flat, self.indices, axis=0)
        else:
            gathered = ops.take(flat, self.indices, axis=0)
            gathered = ops.reshape(
                gathered, (g_out * kh * kw * self.g_in, 4, c_in, c_out)
            )
            weights = ops.cast(self.weights, kernel.dtype)
            out = ops.sum(gathered * weights, axis=1)
        out = ops.reshape(out, (g_out, kh, kw, self.g_in, c_in, c_out))
        return ops.transpose(out, (1, 2, 3, 4, 0, 5))

    def fold(self, expanded):
        """Reshape an expanded kernel to the ``ops.conv`` layout."""
        kh, kw, g_in, c_in, g_out, c_out = expanded.shape
        return ops.reshape(expanded, (kh, kw, g_in * c_in, g_out * c_out))

    def __call__(self, kernel):
        return self.fold(self.expand(kernel))
