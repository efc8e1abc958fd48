"""Arguments of the non-stationary (soft) layers: checks, defaults and
config (van der Ouderaa, Romero & van der Wilk 2022, Sec. 4-5; see
`relaxed_keras.layers.nonstationary_conv` for their meaning)."""

from relaxed_keras.arguments import boolean
from relaxed_keras.arguments import finite_float
from relaxed_keras.arguments import non_negative_float
from relaxed_keras.layers.omega_prime import OmegaPrimeParametrization


_SOFT_DEFAULTS = dict(
    omega=1.0,
    omega_prime=0.0,
    learn_omega_prime=False,
    omega_prime_penalty=0.0,
    num_features=32,
    chunk_size=None,
    max_omega_prime=100.0,
    omega_prime_lr_factor=1.0,
    omega_prime_parametrization="softplus",
    normalize_kernel=True,
    rematerialize=True,
)


def pop_soft_arguments(kwargs):
    """The soft layers' arguments, removed from ``kwargs``, with defaults."""
    return {key: kwargs.pop(key, value) for key, value in _SOFT_DEFAULTS.items()}


def _frequencies(value, dims, name):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        values = [float(value)] * len(dims)
    else:
        values = [float(v) for v in value]
        if len(values) != len(dims):
            raise ValueError(
                f"`{name}` must be a scalar or one value per dimension "
                f"{dims}. Received: {name}={value!r}"
            )
    if any(not v >= 0 for v in values):
        raise ValueError(f"`{name}` must be non-negative. Received: {value!r}")
    return values


class SoftArguments:
    """Mixin of `NonStationaryMixin`: stores and checks the soft arguments
    (``relative_dims`` and ``absolute_dims`` come from the layer class)."""

    def _init_soft(
        self,
        omega,
        omega_prime,
        learn_omega_prime,
        omega_prime_penalty,
        num_features,
        chunk_size,
        max_omega_prime,
        omega_prime_lr_factor,
        omega_prime_parametrization,
        normalize_kernel,
        rematerialize,
    ):
        self.normalize_kernel = boolean(normalize_kernel, "normalize_kernel")
        self.rematerialize = boolean(rematerialize, "rematerialize")
        self.omega_prime_lr_factor = finite_float(
            omega_prime_lr_factor, "omega_prime_lr_factor", positive=True
        )
        self.omega = _frequencies(omega, self.relative_dims, "omega")
        self.omega_prime = _frequencies(omega_prime, self.absolute_dims, "omega_prime")
        if learn_omega_prime is True:
            learned = list(self.absolute_dims)
        elif not learn_omega_prime:
            learned = []
        else:
            # One dimension may be named alone ("theta" is ["theta"]).
            learned = ([learn_omega_prime] if isinstance(learn_omega_prime, str)
                       else list(learn_omega_prime))
            unknown = [d for d in learned if d not in self.absolute_dims]
            if unknown:
                raise ValueError(
                    f"`learn_omega_prime` names dimensions of {self.absolute_dims}. "
                    f"Received: {learn_omega_prime!r}"
                )
        self.learn_omega_prime = learned
        self.max_omega_prime = finite_float(
            max_omega_prime, "max_omega_prime", positive=True
        )
        self.omega_prime_parametrization = omega_prime_parametrization
        self._omega_map = OmegaPrimeParametrization(
            omega_prime_parametrization, self.omega_prime_lr_factor,
            self.max_omega_prime,
        )
        self._omega_map.check_start(
            {d: self.omega_prime[self.absolute_dims.index(d)] for d in learned},
            f"omega_prime={omega_prime!r}",
        )
        # lambda of lambda * ||omega'||^2.
        self.omega_prime_penalty = non_negative_float(
            omega_prime_penalty, "omega_prime_penalty"
        )
        if self.omega_prime_penalty and not learned:
            raise ValueError(
                "`omega_prime_penalty` only acts on learned frequencies: set "
                "`learn_omega_prime=True` (or a list of dimensions)."
            )
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ValueError(
                f"`num_features` must be a positive integer. Received: {num_features!r}"
            )
        self.num_features = num_features
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise ValueError(
                f"`chunk_size` must be a positive integer or None. Received: {chunk_size!r}"
            )
        self.chunk_size = chunk_size

    def soft_config(self):
        return {
            "omega": self.omega,
            "omega_prime": self.omega_prime,
            "learn_omega_prime": self.learn_omega_prime,
            "omega_prime_penalty": self.omega_prime_penalty,
            "num_features": self.num_features,
            "chunk_size": self.chunk_size,
            "max_omega_prime": self.max_omega_prime,
            "omega_prime_lr_factor": self.omega_prime_lr_factor,
            "omega_prime_parametrization": self.omega_prime_parametrization,
            "normalize_kernel": self.normalize_kernel,
            "rematerialize": self.rematerialize,
        }
