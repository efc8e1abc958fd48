"""Weights that are overwritten right after they are created.

`relaxed_keras.zoo.load` builds a model and then assigns every weight from
the preset's file. Drawing random initial values first is wasted work, and
under JAX it is slow: each random initializer call compiles an XLA program
for its weight shape (0.4-1.2 s each on 2 CPU cores; the relaxed ResNetCK
preset took 6.9 s to load, most of it in these compiles, and 0.8 s in
this scope; 0.1-0.3 s under TensorFlow or torch). Inside `skip_random_initialization()` the
library's layers create these weights filled with zeros instead. Their
initializer arguments and configs are unchanged, so a model built this way
has the same config, and builds normally again outside the scope.
"""

import contextlib
import contextvars

import keras

_SKIPPING = contextvars.ContextVar("relaxed_keras_skip_random_initialization",
                                   default=False)


@contextlib.contextmanager
def skip_random_initialization():
    """Scope in which the library's layers create zero-filled weights
    instead of drawing their initial values.

    Use it only when every weight is assigned afterwards (loading a
    checkpoint of the same model): a weight left as created stays zero.
    Keras's own layers draw theirs, except those the zoo's models build
    through `keras_layer_call` (their ``Conv2D`` and ``Dense`` layers).

    Example:

    >>> with skip_random_initialization():  # doctest: +SKIP
    ...     model = rk.zoo.build("p4cnn", equivariance="partial")
    >>> model.load_weights("p4cnn.weights.h5")  # doctest: +SKIP

    A `.keras` file loads the same way (Keras builds the model, then
    assigns every weight from the file):

    >>> with skip_random_initialization():  # doctest: +SKIP
    ...     model = keras.saving.load_model("p4cnn.keras")
    """
    token = _SKIPPING.set(True)
    try:
        yield
    finally:
        _SKIPPING.reset(token)


def initializer_for(initializer):
    """``initializer``, or ``"zeros"`` inside `skip_random_initialization`
    (for the ``initializer`` argument of ``add_weight``)."""
    return "zeros" if _SKIPPING.get() else initializer


def keras_layer_call(layer):
    """``layer`` itself, or inside `skip_random_initialization` its call
    that builds it with zero initializers: for a Keras layer (``Conv2D``,
    ``Dense``) that reads its ``*_initializer`` attributes in ``build``;
    they are swapped back afterwards, so its config is unchanged."""
    if not _SKIPPING.get():
        return layer

    def call(*args, **kwargs):
        if layer.built:
            return layer(*args, **kwargs)
        drawn = {
            name: value
            for name, value in vars(layer).items()
            if name.endswith("_initializer")
            and isinstance(value, keras.initializers.Initializer)
        }
        try:
            for name in drawn:
                setattr(layer, name, keras.initializers.Zeros())
            return layer(*args, **kwargs)
        finally:
            for name, value in drawn.items():
                setattr(layer, name, value)

    return call
