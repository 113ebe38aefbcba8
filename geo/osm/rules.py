"""Which OSM ways a walker or an e-bike rider may use, and in which directions.

The rules are stated in :mod:`geo.network`'s docstring (and ``docs/TRAVEL_TIME.md``). They read
plain tag dicts, so the same functions serve the osmnx graph (edge attributes) and the pyosmium
reader (way tags). Directions follow osmnx's reading of one-way tags (``oneway`` = yes, true, 1,
-1, reverse, T, F and ``junction=roundabout``; -1, reverse and T run against the node order), so
networks built from either reader agree arc for arc.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

CLOSED_HIGHWAYS = frozenset(
    {
        "construction",
        "proposed",
        "planned",
        "abandoned",
        "disused",
        "razed",
        "raceway",
        "bus_guideway",
        "busway",
        "escape",
        "emergency_bay",
        "no",
        "motorway",
        "motorway_link",
    }
)
PEDESTRIAN_ONLY = frozenset(
    {"footway", "pedestrian", "steps", "corridor", "bridleway", "elevator", "platform"}
)
YES_VALUES = frozenset({"yes", "designated", "permissive", "official"})
NO_VALUES = frozenset({"no", "private", "use_sidepath"})
#: way tags the rules read besides osmnx's default ``useful_tags_way``
EXTRA_WAY_TAGS = ("foot", "bicycle", "motorroad", "oneway:bicycle", "access", "service")
#: osmnx's values of ``oneway`` meaning one-way, and those meaning against the node order
ONEWAY_VALUES = frozenset({"yes", "true", "1", "-1", "reverse", "T", "F"})
REVERSED_VALUES = frozenset({"-1", "reverse", "T"})


def tag_values(value: Any) -> set[str]:
    """The lower-cased values of a tag (``a;b`` lists split; None/NaN → empty set)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return set()
    if isinstance(value, list | tuple | set):
        return {str(v).strip().lower() for v in value}
    return {s.strip().lower() for s in str(value).split(";")}


def arc_allowed(attrs: Mapping[str, Any], mode: str, *, require_highway: bool = True) -> bool:
    """Whether a traveller of ``mode`` may use an OSM way with tags ``attrs`` (see module doc)."""
    highway = tag_values(attrs.get("highway"))
    if not highway:
        return not require_highway
    if highway <= CLOSED_HIGHWAYS:
        return False
    if "yes" in tag_values(attrs.get("motorroad")):
        return False
    access = tag_values(attrs.get("access"))
    if mode == "walk":
        foot = tag_values(attrs.get("foot"))
        if foot & NO_VALUES:
            return False
        return not (access & {"no", "private"} and not foot & YES_VALUES)
    bicycle = tag_values(attrs.get("bicycle"))
    if bicycle & NO_VALUES:
        return False
    if access & {"no", "private"} and not bicycle & YES_VALUES:
        return False
    if "steps" in highway:
        return False
    return not (highway <= PEDESTRIAN_ONLY and not bicycle & YES_VALUES)


def one_way(attrs: Mapping[str, Any]) -> int:
    """Legal driving direction of a way as osmnx reads it: 0 both, 1 along the nodes, -1 against."""
    value = attrs.get("oneway")
    if value in ONEWAY_VALUES:
        return -1 if value in REVERSED_VALUES else 1
    return 1 if attrs.get("junction") == "roundabout" else 0


def cycles_both_ways(attrs: Mapping[str, Any], *, respect_oneway: bool) -> bool:
    """Whether an arc that is legal one way may also be travelled backwards by this traveller
    (one-way tags ignored, or ``oneway:bicycle=no``)."""
    return not respect_oneway or "no" in tag_values(attrs.get("oneway:bicycle"))


def respects_oneway(mode: str, oneway: bool | None) -> bool:
    """Whether ``mode`` keeps to one-way streets: the caller's choice, else no for walk, yes otherwise."""
    return (mode != "walk") if oneway is None else bool(oneway)
