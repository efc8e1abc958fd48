"""Symmetry groups: `CyclicGroup`, `DihedralGroup` and their conventions.

See `relaxed_keras.groups.base` for the element indexing and feature-map
layout used throughout the library.
"""

import inspect
import re

from relaxed_keras.groups.base import PlanarGroup
from relaxed_keras.groups.continuous import E2
from relaxed_keras.groups.continuous import SE2
from relaxed_keras.groups.continuous import is_continuous
from relaxed_keras.groups.cyclic import CyclicGroup
from relaxed_keras.groups.dihedral import DihedralGroup
from relaxed_keras.groups.interpolation import circle_crop
from relaxed_keras.groups.interpolation import rotate_images

_NAMES = {"p": CyclicGroup, "c": CyclicGroup, "d": DihedralGroup}


def get(identifier):
    """Resolve a group from an instance, a name or a config dict.

    Accepted names: ``"p4"``, ``"p4m"``, ``"c<n>"`` (cyclic of order n),
    ``"d<n>"`` (dihedral of order n), ``"p<n>"``/``"p<n>m"`` likewise,
    ``"se2_<N>"``/``"e2_<N>"`` for the continuous groups with ``N`` samples.

    Example:

    >>> get("p4m")
    DihedralGroup(order=4)
    """
    if isinstance(identifier, PlanarGroup):
        return identifier
    if isinstance(identifier, dict):
        cls = {
            "CyclicGroup": CyclicGroup,
            "DihedralGroup": DihedralGroup,
            "SE2": SE2,
            "E2": E2,
        }.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(
                "Unknown group config: expected class_name 'CyclicGroup', "
                f"'DihedralGroup', 'SE2' or 'E2'. Received: {identifier!r}"
            )
        config = identifier.get("config")
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ValueError(
                f"The config of {cls.__name__} must be a dict of its arguments. "
                f"Received: {identifier!r}"
            )
        # Name the accepted keys instead of the TypeError of `cls(**config)`.
        accepted = [
            name for name in inspect.signature(cls).parameters if name != "kwargs"
        ]
        unknown = sorted(set(config) - set(accepted))
        if unknown:
            raise ValueError(
                f"Unknown key(s) {unknown} in the config of {cls.__name__}: "
                f"accepted keys are {accepted}. Received: {identifier!r}"
            )
        return cls(**config)
    if isinstance(identifier, str):
        # "se2_8", "se2:8", "se28" or "se2(8)" (parentheses balanced).
        match = re.fullmatch(
            r"(se2|e2)(?:[_:]?(\d+)|\((\d+)\))", identifier.strip().lower()
        )
        if match:
            cls = SE2 if match.group(1) == "se2" else E2
            return cls(int(match.group(2) or match.group(3)))
        match = re.fullmatch(r"([pcd])(\d+)(m?)", identifier.strip().lower())
        if match:
            prefix, order, mirror = match.groups()
            cls = DihedralGroup if (prefix == "d" or mirror) else CyclicGroup
            if not (prefix == "c" and mirror):
                return cls(int(order))
    raise ValueError(
        "`group` must be a CyclicGroup/DihedralGroup instance, its config, or "
        "one of the names 'p4', 'p4m', 'c<n>', 'd<n>', 'se2_<N>', 'e2_<N>'. "
        f"Received: group={identifier!r}"
    )


def serialize(group):
    return {"class_name": type(group).__name__, "config": group.get_config()}


__all__ = [
    "PlanarGroup",
    "CyclicGroup",
    "DihedralGroup",
    "SE2",
    "E2",
    "is_continuous",
    "get",
    "serialize",
    "rotate_images",
    "circle_crop",
]
