"""Kernels of group convolutions: discrete expansion tables (and, later,
continuous kernel networks)."""

from relaxed_keras.kernels.discrete import KernelTransform
from relaxed_keras.kernels.discrete import spatial_transform_table

__all__ = ["KernelTransform", "spatial_transform_table"]
