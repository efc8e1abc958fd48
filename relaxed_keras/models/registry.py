"""Registry of architectures: ``build(name, **kwargs)`` (timm style)."""

import difflib

_ARCHITECTURES = {}


def register_architecture(name, description):
    """Class decorator registering a model builder under ``name``."""

    def decorator(cls):
        _ARCHITECTURES[name] = {"builder": cls, "description": description}
        return cls

    return decorator


def list_architectures():
    """Registered architecture names, sorted."""
    return sorted(_ARCHITECTURES)


def describe(name):
    """One-line description of an architecture."""
    return _entry(name)["description"]


def build(name, /, **kwargs):
    """Build the architecture ``name`` with the given arguments.

    Example:

    >>> model = build("cnn7", equivariance="relaxed")  # doctest: +SKIP
    """
    return _entry(name)["builder"](**kwargs)


def _entry(name):
    if name not in _ARCHITECTURES:
        close = difflib.get_close_matches(str(name), list(_ARCHITECTURES), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(
            f"Unknown architecture {name!r}. Available: "
            f"{list_architectures()}.{hint}"
        )
    return _ARCHITECTURES[name]
