"""Kernels of group convolutions: discrete expansion tables and continuous
kernel networks."""

from relaxed_keras.kernels.continuous import MLPKernel
from relaxed_keras.kernels.continuous import SIREN
from relaxed_keras.kernels.continuous import KernelNetwork
from relaxed_keras.kernels.continuous import disc_mask
from relaxed_keras.kernels.continuous import kernel_grid
from relaxed_keras.kernels.discrete import KernelTransform
from relaxed_keras.kernels.discrete import spatial_transform_table

__all__ = [
    "KernelTransform",
    "spatial_transform_table",
    "KernelNetwork",
    "SIREN",
    "MLPKernel",
    "kernel_grid",
    "disc_mask",
]
