"""Keras layers of relaxed_keras (layout ``[B, H, W, |G|, C]``)."""

from relaxed_keras.layers.activation import ReLU
from relaxed_keras.layers.augerino import Augerino
from relaxed_keras.layers.base_group_conv import BaseGroupConv
from relaxed_keras.layers.continuous_conv import BaseContinuousGroupConv
from relaxed_keras.layers.continuous_conv import ContinuousGroupConv2D
from relaxed_keras.layers.continuous_pooling import ContinuousGroupPooling
from relaxed_keras.layers.continuous_conv import ContinuousLiftingConv2D
from relaxed_keras.layers.continuous_conv import PointwiseGroupConv2D
from relaxed_keras.layers.dropout import Dropout
from relaxed_keras.layers.global_pooling import GlobalSpatialPooling2D
from relaxed_keras.layers.group_conv import GroupConv2D
from relaxed_keras.layers.group_pooling import GroupPooling
from relaxed_keras.layers.kernel_cache import KernelCache
from relaxed_keras.layers.kernel_cache import cached_kernels
from relaxed_keras.layers.lifting_conv import LiftingConv2D
from relaxed_keras.layers.partial_group_conv import Clip
from relaxed_keras.layers.partial_group_conv import PartialGroupConv2D
from relaxed_keras.layers.nonstationary_conv import NonStationaryConv2D
from relaxed_keras.layers.nonstationary_conv import NonStationaryGroupConv2D
from relaxed_keras.layers.nonstationary_conv import NonStationaryLiftingConv2D
from relaxed_keras.layers.normalization import BatchNormalization
from relaxed_keras.layers.normalization import SpatialLayerNormalization
from relaxed_keras.layers.relaxed_group_conv import BaseRelaxedGroupConv
from relaxed_keras.layers.relaxed_group_conv import RelaxedGroupConv2D
from relaxed_keras.layers.relaxed_group_conv import RelaxedLiftingConv2D
from relaxed_keras.layers.relaxed_group_conv import RelaxedWeightsRegularizer
from relaxed_keras.layers.spatial_pooling import GroupAveragePooling2D
from relaxed_keras.layers.spatial_pooling import GroupMaxPooling2D

__all__ = [
    "BaseGroupConv",
    "LiftingConv2D",
    "GroupConv2D",
    "GroupPooling",
    "KernelCache",
    "cached_kernels",
    "GroupMaxPooling2D",
    "GroupAveragePooling2D",
    "GlobalSpatialPooling2D",
    "BatchNormalization",
    "ReLU",
    "Dropout",
    "SpatialLayerNormalization",
    "BaseRelaxedGroupConv",
    "RelaxedLiftingConv2D",
    "RelaxedGroupConv2D",
    "RelaxedWeightsRegularizer",
    "BaseContinuousGroupConv",
    "ContinuousLiftingConv2D",
    "ContinuousGroupConv2D",
    "PointwiseGroupConv2D",
    "ContinuousGroupPooling",
    "PartialGroupConv2D",
    "Clip",
    "Augerino",
    "NonStationaryConv2D",
    "NonStationaryLiftingConv2D",
    "NonStationaryGroupConv2D",
]
