"""Equivariance diagnostics: errors, exactness of strided layers and
accuracy under rotation."""

from relaxed_keras.diagnostics.equivariance_error import equivariance_error
from relaxed_keras.diagnostics.exactness import ExactnessReport
from relaxed_keras.diagnostics.exactness import exactness_report
from relaxed_keras.diagnostics.learned_equivariance import format_learned_equivariance
from relaxed_keras.diagnostics.learned_equivariance import learned_equivariance
from relaxed_keras.diagnostics.learned_equivariance import plot_learned_equivariance
from relaxed_keras.diagnostics.learned_equivariance import stochastic_predict
from relaxed_keras.diagnostics.layerwise import layerwise_equivariance_error
from relaxed_keras.diagnostics.rotation_sweep import plot_rotation_sweep
from relaxed_keras.diagnostics.rotation_sweep import rotate_batch
from relaxed_keras.diagnostics.rotation_sweep import rotation_sweep

__all__ = [
    "equivariance_error",
    "exactness_report",
    "ExactnessReport",
    "rotation_sweep",
    "plot_rotation_sweep",
    "rotate_batch",
    "learned_equivariance",
    "format_learned_equivariance",
    "plot_learned_equivariance",
    "stochastic_predict",
    "layerwise_equivariance_error",
]
