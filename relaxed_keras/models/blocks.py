"""Building blocks shared by the zoo architectures.

Every architecture is one graph written once; ``equivariance=`` only
changes which convolution `conv` returns:

* ``"none"``: `keras.layers.Conv2D` on ``[B, H, W, C]``.
* ``"strict"``: `LiftingConv2D` for the first layer, `GroupConv2D` after.
* ``"relaxed"``: `RelaxedLiftingConv2D` / `RelaxedGroupConv2D`.

Padding is explicit (an integer or ``"valid"``) in every strided layer, so
results and exactness are the same on every backend.
"""

import math

import keras

import relaxed_keras.layers as rk_layers
from relaxed_keras import groups as groups_lib

MODES = ("none", "strict", "relaxed")
PLANNED_MODES = ("partial", "soft")


class ModelSpec:
    """Resolved ``equivariance``/``group`` choice of an architecture.

    Args:
        architecture: name used in error messages.
        equivariance: ``"none"``, ``"strict"`` or ``"relaxed"``.
        group: ``"p4"``, ``"p4m"`` (or any exact `PlanarGroup`).
        num_filter_banks: ``L`` of the relaxed layers.
        alpha: relaxed-weights regulariser strength.
        modes: the modes this architecture supports.
    """

    def __init__(
        self,
        architecture,
        equivariance,
        group="p4",
        num_filter_banks=3,
        alpha=1e-4,
        modes=MODES,
    ):
        if equivariance not in modes:
            planned = (
                f" ({equivariance!r} layers are not implemented yet)"
                if equivariance in PLANNED_MODES
                else ""
            )
            raise ValueError(
                f"{architecture} supports equivariance in {tuple(modes)} with "
                f"group 'p4' or 'p4m'{planned}. "
                f"Received: equivariance={equivariance!r}"
            )
        self.architecture = architecture
        self.equivariance = equivariance
        self.group = None if equivariance == "none" else groups_lib.get(group)
        if self.group is not None and not self.group.is_exact:
            raise ValueError(
                f"{architecture} with equivariance={equivariance!r} needs an "
                "exact group such as 'p4' or 'p4m'. Received: "
                f"group={group!r}"
            )
        self.num_filter_banks = num_filter_banks
        self.alpha = alpha

    @property
    def group_size(self):
        return 1 if self.group is None else self.group.size

    def width(self, base):
        """Channels for ``base`` plain channels at about equal parameters.

        ``ceil(base / sqrt(|G|))`` for strict layers (p4: /2, p4m: /2.83, the
        rule of Cohen & Welling and Edixhoven et al.: ResNet18 64 -> 32 / 23,
        ResNet44 32 -> 16 / 12) and ``ceil(base / sqrt(|G| L))`` for relaxed
        ones (P4CNN 20 -> 6 for L = 3, as in the anisotropic-noise study).
        """
        divisor = self.group_size
        if self.equivariance == "relaxed":
            divisor *= self.num_filter_banks
        return int(math.ceil(base / math.sqrt(divisor) - 1e-9))

    def conv(self, filters, kernel_size, lifting=False, **kwargs):
        """The convolution of this mode (``lifting`` for the first layer)."""
        kwargs.setdefault("padding", "valid")
        if self.equivariance == "none":
            padding = kwargs.pop("padding")
            conv = keras.layers.Conv2D(
                filters,
                kernel_size,
                padding="valid" if isinstance(padding, int) else padding,
                **kwargs,
            )
            if not isinstance(padding, int) or padding == 0:
                return conv
            pad = keras.layers.ZeroPadding2D(padding)
            return lambda x: conv(pad(x))
        if self.equivariance == "strict":
            cls = rk_layers.LiftingConv2D if lifting else rk_layers.GroupConv2D
            return cls(filters, kernel_size, self.group, **kwargs)
        cls = (
            rk_layers.RelaxedLiftingConv2D
            if lifting
            else rk_layers.RelaxedGroupConv2D
        )
        return cls(
            filters,
            kernel_size,
            self.group,
            num_filter_banks=self.num_filter_banks,
            alpha=self.alpha,
            **kwargs,
        )

    def max_pool(self, pool_size=2, **kwargs):
        return rk_layers.GroupMaxPooling2D(pool_size, **kwargs)

    def invariant_pool(self, mode="max", name=None):
        """Pool the group axis away (identity for plain CNNs)."""
        if self.group is None:
            return keras.layers.Identity(name=name)
        return rk_layers.GroupPooling(mode, name=name)

    def global_pool(
        self, x, spatial="mean", group="max", group_first=False,
        name="global_pool",
    ):
        """Spatial and group pooling to ``[B, C]`` (spatial first unless
        ``group_first``; the order matters when the two modes differ)."""
        spatial_pool = rk_layers.GlobalSpatialPooling2D(
            spatial, keepdims=True, name=f"{name}_spatial"
        )
        group_pool = self.invariant_pool(group, name=f"{name}_group")
        for layer in (group_pool, spatial_pool) if group_first else (
            spatial_pool, group_pool
        ):
            x = layer(x)
        return keras.layers.Flatten(name=f"{name}_flatten")(x)

    def layer_norm(self, name=None):
        """Normalise over space (and group) per channel, no affine terms."""
        return rk_layers.SpatialLayerNormalization(name=name)

    def get_config(self):
        return {
            "equivariance": self.equivariance,
            "group": None if self.group is None else groups_lib.serialize(self.group),
            "num_filter_banks": self.num_filter_banks,
            "alpha": self.alpha,
        }
