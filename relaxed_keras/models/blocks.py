"""Building blocks shared by the zoo architectures.

Every architecture is one graph written once; ``equivariance=`` only
changes which convolution `conv` returns:

* ``"none"``: `keras.layers.Conv2D` on ``[B, H, W, C]``.
* ``"strict"``: `LiftingConv2D` for the first layer, `GroupConv2D` after.
* ``"relaxed"``: `RelaxedLiftingConv2D` / `RelaxedGroupConv2D`.
* ``"soft"``: `NonStationaryLiftingConv2D` / `NonStationaryGroupConv2D`
  on ``SE2(N)`` (``"p4"`` -> ``SE2(4)``); by default ``omega'`` of the
  rotation dimension is learned from 1.0 (softplus form,
  `relaxed_keras.layers.omega_prime`) with ``lambda = 0.1``, inside the
  0.001-5 of the soft paper's Table 3 (Sec. 5.3), on the fixed grid
  (``sample_offset=False``: the kernel reads absolute angles, so
  training and inference must see the same ones); translation stays strict,
  so every layer keeps the one-convolution fast path.
* ``"partial"``: `ContinuousLiftingConv2D` / `PartialGroupConv2D` on
  ``SE2(N)``/``E2(N)`` (``"p4"`` -> ``SE2(4)``, ``"p4m"`` -> ``E2(8)``, or
  pass a continuous group). The sampled group elements travel next to the
  features; the spec threads them from layer to layer while the graph is
  built, so the architectures stay written once.

Padding is explicit (an integer or ``"valid"``) in every strided layer, so
results and exactness are the same on every backend.
"""

import math

import keras

import relaxed_keras.layers as rk_layers
from relaxed_keras import groups as groups_lib
from relaxed_keras.initialization import keras_layer_call
from relaxed_keras.layers import padding as padding_lib

MODES = ("none", "strict", "relaxed", "partial", "soft")
DISCRETE_MODES = ("none", "strict", "relaxed")


class UnsupportedModeError(ValueError):
    """An architecture built with an ``equivariance`` mode it does not
    have (a `ValueError`; `rk.zoo.architecture_table` skips such rows)."""


# Options of `ContinuousLiftingConv2D` that `continuous_options` may set
# (the architecture sets filters, kernel size, group, strides and padding).
_CONTINUOUS_LIFTING_OPTIONS = (
    "kernel_network", "mask", "sample_offset", "activation", "use_bias",
    "bias_initializer", "seed",
)
# Arguments of the relaxed layers; other modes accept only these values
# (every architecture's defaults, stored in every preset's config).
RELAXED_DEFAULTS = {"num_filter_banks": 3, "alpha": 1e-4}
SOFT_DEFAULTS = {
    "omega_prime": [0.0, 0.0, 1.0],
    "learn_omega_prime": ["theta"],
    "omega_prime_penalty": 0.1,
    "sample_offset": False,
}


def batch_norm(name=None):
    """Batch normalisation with the reference implementations' statistics:
    PyTorch's default ``momentum=0.1`` (new-batch weight) is Keras's
    ``momentum=0.9`` (Keras's default 0.99 lags far behind the batch
    statistics on the short runs of small data sets, and the
    inference-mode model then disagrees with the trained one) and
    ``epsilon=1e-5``. `rk.layers.BatchNormalization`: Keras's layer with a
    faster training path on group feature maps and the same weight files."""
    return rk_layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)


def dropout_layer(rate, name=None):
    """`rk.layers.Dropout`: Keras's dropout, faster on group feature maps."""
    return rk_layers.Dropout(rate, name=name)


class ModelSpec:
    """Resolved ``equivariance``/``group`` choice of an architecture.

    Args:
        architecture: name used in error messages.
        equivariance: ``"none"``, ``"strict"`` or ``"relaxed"``.
        group: ``"p4"``, ``"p4m"`` (or any exact `PlanarGroup`).
        num_filter_banks: ``L`` of the relaxed layers.
        alpha: relaxed-weights regulariser strength.
        modes: the modes this architecture supports.
        continuous_options: extra keyword arguments of the continuous
            layers in ``"partial"`` mode (e.g. ``{"distribution_lr_factor":
            1.0}``) and ``"soft"`` mode (e.g. ``{"omega_prime": [0, 0, 1],
            "learn_omega_prime": False}``). In ``"partial"`` mode the
            lifting layer (a `ContinuousLiftingConv2D`, no learned
            distribution) takes those of its own arguments among them
            (``kernel_network``, ``mask``, ``sample_offset``,
            ``activation``, ``use_bias``, ``bias_initializer``, ``seed``).
    """

    def __init__(
        self,
        architecture,
        equivariance,
        group="p4",
        num_filter_banks=3,
        alpha=1e-4,
        modes=MODES,
        continuous_options=None,
    ):
        if equivariance not in modes:
            raise UnsupportedModeError(
                f"{architecture} supports equivariance in {tuple(modes)} with "
                "group 'p4' or 'p4m'. "
                f"Received: equivariance={equivariance!r}"
            )
        self.architecture = architecture
        self.equivariance = equivariance
        if equivariance == "none" and group is not None:
            groups_lib.get(group)  # a misspelt name is an error in every mode
        self.group = None if equivariance == "none" else groups_lib.get(group)
        self._elements = None
        self.feature_maps = self.feature_elements = None
        if equivariance in ("partial", "soft"):
            self.group = self._continuous(self.group)
            if equivariance == "soft" and self.group.mirror:
                raise ValueError(
                    f"{architecture} with equivariance='soft' supports rotation "
                    "groups ('p4', 'se2_<N>'); soft E(2) is not implemented. "
                    f"Received: group={group!r}"
                )
        elif self.group is not None and not self.group.is_exact:
            raise ValueError(
                f"{architecture} with equivariance={equivariance!r} needs an "
                "exact group such as 'p4' or 'p4m'. Received: "
                f"group={group!r}"
            )
        for key, value in (("num_filter_banks", num_filter_banks), ("alpha", alpha)):
            if equivariance != "relaxed" and value != RELAXED_DEFAULTS[key]:
                # Only relaxed layers have filter banks and relaxed weights.
                raise ValueError(
                    f"{architecture}: {key} applies to equivariance='relaxed' "
                    f"only. Received: equivariance={equivariance!r}, "
                    f"{key}={value!r}"
                )
        if continuous_options and equivariance not in ("partial", "soft"):
            # The strict, relaxed and plain layers have no kernel network
            # or distribution: the options would be dropped without a word.
            raise ValueError(
                f"{architecture}: continuous_options apply to "
                "equivariance='partial' or 'soft' only. Received: "
                f"equivariance={equivariance!r}, "
                f"continuous_options={continuous_options!r}"
            )
        self.num_filter_banks = num_filter_banks
        self.alpha = alpha
        self.continuous_options = dict(continuous_options or {})

    @staticmethod
    def _continuous(group):
        if groups_lib.is_continuous(group):
            return group
        if group.mirror:
            return groups_lib.E2(num_elements=group.size)
        return groups_lib.SE2(num_elements=group.size)

    @property
    def group_size(self):
        return 1 if self.group is None else self.group.size

    def resolve_width(self, width, base):
        """``width`` when given (a positive integer), else `width(base)`
        (``width=0`` used to mean the default)."""
        if width is None:
            return self.width(base)
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(
                f"{self.architecture}: `width` must be a positive integer (or "
                f"None for the default, {self.width(base)}). Received: "
                f"width={width!r}"
            )
        return width

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
            if (
                isinstance(padding, int)
                and isinstance(kernel_size, int)
                and kwargs.get("strides", 1) in (1, (1, 1))
                and kwargs.get("dilation_rate", 1) in (1, (1, 1))
                and padding_lib.equals_same(kernel_size, 1, padding, padding)
            ):
                # Identical on every backend, and no copy of the input.
                padding = "same"
            conv = keras.layers.Conv2D(
                filters,
                kernel_size,
                padding="valid" if isinstance(padding, int) else padding,
                **kwargs,
            )
            if not isinstance(padding, int) or padding == 0:
                return keras_layer_call(conv)
            pad = keras.layers.ZeroPadding2D(padding)
            return lambda x: keras_layer_call(conv)(pad(x))
        if self.equivariance in ("partial", "soft"):
            return self._continuous_conv(filters, kernel_size, lifting, **kwargs)
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

    def _layer_options(self, lifting):
        """Options of one continuous layer (lifting layers have no group
        input: their ``omega'`` keeps the ``x, y`` entries only)."""
        options = dict(self.continuous_options)
        if self.equivariance == "soft":
            if ("learn_omega_prime" in options and not options["learn_omega_prime"]
                    and "omega_prime_penalty" not in options):
                # A fixed omega' has no penalty (the default one would be
                # refused by the layer).
                options["omega_prime_penalty"] = 0.0
            options = {**SOFT_DEFAULTS, **options}
            if lifting:
                if not isinstance(options["omega_prime"], (int, float)):
                    options["omega_prime"] = list(options["omega_prime"])[:2]
                if not isinstance(options.get("omega", 1.0), (int, float)):
                    options["omega"] = list(options["omega"])[:2]
                learn = options["learn_omega_prime"]
                if learn not in (True, False):
                    learn = [d for d in learn if d in ("x", "y")]
                options["learn_omega_prime"] = learn
                if not learn:
                    options.pop("omega_prime_penalty", None)
            return options
        if lifting:
            # The lifting layer has no output distribution: it takes the
            # options of a continuous convolution (kernel network, mask,
            # offsets, activation, bias, seed) and leaves the partial
            # layers' own (distribution_lr_factor, initial_theta, ...).
            options = {k: v for k, v in options.items()
                       if k in _CONTINUOUS_LIFTING_OPTIONS}
        return options

    def _continuous_conv(self, filters, kernel_size, lifting, **kwargs):
        # A kernel network replaces the kernel tensor: its own
        # initialisation replaces any kernel initializer/regulariser.
        for key in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            kwargs.pop(key, None)
        soft = self.equivariance == "soft"
        if lifting:
            cls = (rk_layers.NonStationaryLiftingConv2D if soft
                   else rk_layers.ContinuousLiftingConv2D)
        else:
            cls = (rk_layers.NonStationaryGroupConv2D if soft
                   else rk_layers.PartialGroupConv2D)
        layer = cls(filters, kernel_size, self.group,
                    **self._layer_options(lifting), **kwargs)

        def apply(x):
            if lifting:
                y, self._elements = layer(x)
            else:
                if self._elements is None:
                    raise ValueError(
                        "A continuous model must start with a lifting conv."
                    )
                y, self._elements = layer([x, self._elements])
            return y

        return apply

    def max_pool(self, pool_size=2, **kwargs):
        return rk_layers.GroupMaxPooling2D(pool_size, **kwargs)

    def mark_feature_maps(self, x):
        """Record ``x`` as the backbone's last feature maps, before global
        pooling (with the sampled elements of a continuous model): what
        ``include_top=False`` extracts. Returns ``x``."""
        self.feature_maps, self.feature_elements = x, self._elements
        return x

    def invariant_pool(self, mode="max", name=None):
        """Pool the group axis away (identity for plain CNNs)."""
        if self.group is None:
            return keras.layers.Identity(name=name)
        if self.equivariance in ("partial", "soft"):
            layer = rk_layers.ContinuousGroupPooling(mode, name=name)
            return lambda x: layer([x, self._elements])
        return rk_layers.GroupPooling(mode, name=name)

    def global_pool(
        self, x, spatial="mean", group="max", group_first=False,
        name="global_pool",
    ):
        """Spatial and group pooling to ``[B, C]`` (spatial first unless
        ``group_first``; the order matters when the two modes differ)."""
        self.mark_feature_maps(x)
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
        config = {
            "equivariance": self.equivariance,
            "group": None if self.group is None else groups_lib.serialize(self.group),
            "num_filter_banks": self.num_filter_banks,
            "alpha": self.alpha,
        }
        if self.equivariance in ("partial", "soft"):
            config["continuous_options"] = self.continuous_options
        return config
