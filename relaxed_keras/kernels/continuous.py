"""Kernel networks: small MLPs mapping coordinates to kernel values.

A continuous-kernel convolution evaluates one of these networks at the
(transformed) positions of its kernel taps and reshapes the result into an
ordinary convolution kernel (`relaxed_keras.layers.continuous_conv`). Every
network here is a template: the convolution that owns it calls
`KernelNetwork.for_output` to get its own copy with ``output_units = C_in *
filters``.
"""

import math
import numbers

import keras
from keras import ops

from relaxed_keras.arguments import finite_float
from relaxed_keras.initialization import initializer_for


class KernelNetwork(keras.layers.Layer):
    """Base class: ``[..., input_dim] -> [..., output_units]`` MLP.

    Args:
        hidden_units: width of the hidden layers.
        num_layers: number of dense layers including the output layer
            (at least 2).
        output_units: set by the owning convolution (leave ``None``).
    """

    def __init__(self, hidden_units=32, num_layers=3, output_units=None, **kwargs):
        super().__init__(**kwargs)
        for name, value, minimum in (
            ("hidden_units", hidden_units, 1),
            ("num_layers", num_layers, 2),
            ("output_units", output_units, 1),
        ):
            if name == "output_units" and value is None:
                continue
            if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                    or value < minimum):
                raise ValueError(
                    f"`{name}` must be an integer >= {minimum}. "
                    f"Received: {name}={value!r}"
                )
        self.hidden_units = int(hidden_units)
        self.num_layers = int(num_layers)
        self.output_units = None if output_units is None else int(output_units)

    def for_output(self, output_units, hidden_units=None, name=None, dtype=None):
        """A fresh, unbuilt copy of this template with ``output_units``
        (and, when given, the dtype policy ``dtype``)."""
        if _first_definer(type(self), "_arguments") > _first_definer(
            type(self), "get_config"
        ):
            # A subclass with constructor arguments of its own in
            # `get_config` only: copy through the config.
            arguments = self.get_config()
            arguments.pop("name", None)
        else:
            # The constructor arguments as objects: Keras's `get_config`
            # serializes the dtype policy, and that imports TensorFlow when
            # it is installed (seconds, under JAX or torch).
            arguments = {**self._arguments(), "trainable": self.trainable,
                         "dtype": self.dtype_policy}
        if dtype is not None:
            arguments["dtype"] = dtype
        arguments["output_units"] = int(output_units)
        if hidden_units is not None:
            arguments["hidden_units"] = int(hidden_units)
        if name is not None:
            arguments["name"] = name
        return type(self).from_config(arguments)

    def _arguments(self):
        """Constructor arguments as objects (subclasses with arguments of
        their own extend it; `get_config` serializes it)."""
        return {
            "hidden_units": self.hidden_units,
            "num_layers": self.num_layers,
            "output_units": self.output_units,
        }

    # Subclasses define the initialisers and the hidden nonlinearity.
    def _initializer(self, index, fan_in):
        raise NotImplementedError

    def _hidden(self, x, index):
        raise NotImplementedError

    def build(self, input_shape):
        if self.output_units is None:
            raise ValueError(
                f"{type(self).__name__} is a template: a continuous "
                "convolution sets its `output_units`."
            )
        widths = [input_shape[-1]] + [self.hidden_units] * (self.num_layers - 1)
        widths.append(self.output_units)
        self.kernels, self.biases = [], []
        for index in range(self.num_layers):
            fan_in, fan_out = widths[index], widths[index + 1]
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{index}",
                    shape=(fan_in, fan_out),
                    initializer=initializer_for(self._initializer(index, fan_in)),
                )
            )
            self.biases.append(
                self.add_weight(
                    name=f"bias_{index}", shape=(fan_out,), initializer="zeros"
                )
            )

    def call(self, coordinates):
        x = coordinates
        for index, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            x = ops.matmul(x, kernel) + bias
            if index < self.num_layers - 1:
                x = self._hidden(x, index)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_units,)

    def get_config(self):
        return {**super().get_config(), **self._arguments()}


def _first_definer(cls, attribute):
    """Position in ``cls``'s MRO of the class that defines ``attribute``."""
    return next(i for i, c in enumerate(cls.__mro__) if attribute in vars(c))


@keras.saving.register_keras_serializable(package="relaxed_keras")
class SIREN(KernelNetwork):
    """Sine MLP (Sitzmann et al. 2020) used as a continuous kernel.

    Every layer but the last computes ``sin(omega_0 * (W x + b))``; the last
    one is linear. Initialisation as in the SIREN paper and the Partial
    G-CNN reference code (Romero & Lohit 2022, Sec. 3.5): first layer
    ``W ~ U(-1/fan_in, 1/fan_in)``, later layers (the output layer included)
    ``U(-sqrt(6/fan_in)/omega_0, sqrt(6/fan_in)/omega_0)``, zero biases.
    ``omega_0`` is fixed, not learned (as in the reference runs).

    Args:
        hidden_units: hidden width (32 in the CKResNets of the paper).
        num_layers: dense layers including the linear output layer.
        omega_0: frequency of the sines (10 in the paper's runs).

    Example:

    >>> net = SIREN(hidden_units=16).for_output(4)
    >>> tuple(net(np.zeros((5, 3), "float32")).shape)
    (5, 4)
    """

    def __init__(self, hidden_units=32, num_layers=3, omega_0=10.0, **kwargs):
        super().__init__(hidden_units, num_layers, **kwargs)
        self.omega_0 = finite_float(omega_0, "omega_0", positive=True)

    def _initializer(self, index, fan_in):
        if index == 0:
            bound = 1.0 / fan_in
        else:
            bound = math.sqrt(6.0 / fan_in) / self.omega_0
        return keras.initializers.RandomUniform(-bound, bound)

    def _hidden(self, x, index):
        return ops.sin(self.omega_0 * x)

    def _arguments(self):
        return {**super()._arguments(), "omega_0": self.omega_0}


@keras.saving.register_keras_serializable(package="relaxed_keras")
class MLPKernel(KernelNetwork):
    """Plain MLP kernel (ReLU, Swish, ...) for comparison (paper Tab. 7).

    He-uniform initialisation for the hidden layers, Glorot-uniform for the
    linear output layer, zero biases.

    Args:
        hidden_units, num_layers: as `SIREN`.
        activation: hidden nonlinearity, e.g. ``"relu"`` or ``"swish"``.
    """

    def __init__(self, hidden_units=32, num_layers=3, activation="relu", **kwargs):
        super().__init__(hidden_units, num_layers, **kwargs)
        self.activation = keras.activations.get(activation)

    def _initializer(self, index, fan_in):
        if index < self.num_layers - 1:
            return keras.initializers.HeUniform()
        return keras.initializers.GlorotUniform()

    def _hidden(self, x, index):
        return self.activation(x)

    def _arguments(self):
        return {**super()._arguments(), "activation": self.activation}

    def get_config(self):
        return {
            **super().get_config(),
            "activation": keras.activations.serialize(self.activation),
        }


def get(identifier):
    """A kernel-network template from an instance, a config or a name."""
    if identifier is None:
        return SIREN()
    if isinstance(identifier, KernelNetwork):
        return identifier
    names = {"siren": SIREN, "mlp": MLPKernel}
    if isinstance(identifier, dict):
        short = {"SIREN": SIREN, "MLPKernel": MLPKernel}.get(identifier.get("class_name"))
        if short is not None and isinstance(identifier.get("config", {}), dict):
            # {"class_name": "SIREN", "config": {...}} without the registered
            # "relaxed_keras>SIREN" prefix Keras needs.
            return short.from_config(identifier.get("config", {}))
        try:
            network = keras.saving.deserialize_keras_object(identifier)
        except (TypeError, ValueError) as error:
            raise ValueError(
                "`kernel_network` config must be that of a SIREN or MLPKernel "
                f"(class_name 'SIREN' or 'MLPKernel'). Received: {identifier!r}"
            ) from error
        if not isinstance(network, KernelNetwork):
            raise ValueError(
                "`kernel_network` must be a SIREN/MLPKernel. Received a "
                f"config of {type(network).__name__}: {identifier!r}"
            )
        return network
    if isinstance(identifier, str):
        if identifier.lower() in names:
            return names[identifier.lower()]()
    raise ValueError(
        "`kernel_network` must be a SIREN/MLPKernel instance, its config, or "
        f"one of 'siren', 'mlp'. Received: kernel_network={identifier!r}"
    )


def kernel_grid(kernel_size):
    """Tap positions of a ``k x k`` kernel on ``[-1, 1]^2``.

    Returns a float32 tensor ``[k, k, 2]`` ``(x, y)`` with the conventions
    of `relaxed_keras.groups.base`: ``x`` grows with the column, ``y``
    upwards (decreasing with the row). A ``1 x 1`` kernel sits at the
    origin. Built with `keras.ops` (``(2 i - (k - 1)) / (k - 1)``, one
    rounding per value, symmetric about 0) rather than converted from
    numpy: the layers call it inside ``call``, and under torch.compile a
    numpy constant there is a graph break.
    """
    k = int(kernel_size)
    if k > 1:
        axis = (2.0 * ops.arange(k, dtype="float32") - (k - 1)) / (k - 1)
    else:
        axis = ops.zeros((1,), "float32")
    x = ops.broadcast_to(axis[None, :], (k, k))
    y = ops.broadcast_to(-axis[:, None], (k, k))
    return ops.stack([x, y], axis=-1)


def disc_mask(kernel_size):
    """``[k, k]`` float32 tensor: 1 inside the closed unit disc, 0 outside."""
    grid = kernel_grid(kernel_size)
    radius = ops.sqrt(ops.sum(ops.square(grid), axis=-1))
    return ops.cast(radius <= 1.0 + 1e-6, "float32")
