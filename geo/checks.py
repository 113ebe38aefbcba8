"""Argument checks shared by the core, the CLI and the API: one rule, one wording, one place.

Every function checks one kind of argument, returns the normalised value and raises
:class:`geo.errors.InputError` naming the argument (``field``) otherwise. The CLI passes its flag name
(``field="--minutes"``), the API its parameter name, the core its keyword; the wording is the same.

>>> check_minutes(15)
15.0
>>> check_horizon_minutes(60, minutes=15)
60.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from geo.errors import InputError

#: the largest service threshold any command accepts (two hours)
MAX_MINUTES = 120.0
#: the largest search horizon (a day's travel is never a service circle)
MAX_HORIZON_MINUTES = 24 * 60.0


def _number(value: Any, *, field: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{field} must be a number, got {value!r}", field=field) from None
    if not math.isfinite(number):
        raise InputError(f"{field} must be a finite number, got {value!r}", field=field)
    return number


def check_minutes(value: Any, *, field: str = "minutes", max_minutes: float = MAX_MINUTES) -> float:
    """A service threshold in minutes: a finite number in (0, ``max_minutes``]."""
    minutes = _number(value, field=field)
    if not 0 < minutes <= max_minutes:
        raise InputError(f"{field} must be a number of minutes in (0, {max_minutes:g}], got {value!r}",
                         field=field)
    return minutes


def check_minutes_list(values: Sequence[Any], *, field: str = "minutes") -> tuple[float, ...]:
    """Several thresholds (e.g. ``5,10,15``): each as :func:`check_minutes`, sorted, duplicates dropped."""
    if not values:
        raise InputError(f"{field} needs at least one threshold", field=field)
    return tuple(sorted({check_minutes(v, field=field) for v in values}))


def check_horizon_minutes(value: Any, *, minutes: float, field: str = "horizon_minutes") -> float:
    """A search horizon in minutes: finite, at least the threshold ``minutes``."""
    horizon = _number(value, field=field)
    if not minutes <= horizon <= MAX_HORIZON_MINUTES:
        raise InputError(f"{field} must be a number of minutes in [{minutes:g}, {MAX_HORIZON_MINUTES:g}] "
                         f"(at least the threshold), got {value!r}", field=field)
    return horizon


def check_positive(value: Any, *, field: str, unit: str = "") -> float:
    """A finite number > 0 (speeds in km/h, distances in metres, costs)."""
    number = _number(value, field=field)
    if number <= 0:
        raise InputError(f"{field} must be a number > 0{unit and ' ' + unit}, got {value!r}", field=field)
    return number


def check_non_negative(value: Any, *, field: str, unit: str = "") -> float:
    """A finite number ≥ 0 (snap distances, weights, budgets)."""
    number = _number(value, field=field)
    if number < 0:
        raise InputError(f"{field} must be a number ≥ 0{unit and ' ' + unit}, got {value!r}", field=field)
    return number


def check_count(value: Any, *, field: str, minimum: int = 1, maximum: int | None = None) -> int:
    """A whole number in [``minimum``, ``maximum``] (k nearest, sites to add, top rows)."""
    whole = not isinstance(value, bool) and isinstance(value, numbers.Real) and float(value).is_integer()
    if not whole:
        raise InputError(f"{field} must be a whole number, got {value!r}", field=field)
    count = int(value) if isinstance(value, numbers.Integral) else int(float(value))
    if count < minimum or (maximum is not None and count > maximum):
        upper = f", at most {maximum}" if maximum is not None else ""
        raise InputError(f"{field} must be at least {minimum}{upper}, got {value!r}", field=field)
    return count


def check_h3_resolution(value: Any, *, field: str = "resolution") -> int:
    """An H3 grid resolution: a whole number 0–15 (:func:`check_count`'s wording)."""
    return check_count(value, field=field, minimum=0, maximum=15)


def check_share(value: Any, *, field: str) -> float:
    """A share between 0 and 1 inclusive (targets, minimum covered shares)."""
    share = _number(value, field=field)
    if not 0 <= share <= 1:
        raise InputError(f"{field} must be a share between 0 and 1, got {value!r}", field=field)
    return share


def check_suffix(path: Any, suffixes: Sequence[str], *, field: str) -> str:
    """An output file name ending in one of ``suffixes`` (case-insensitive) → that suffix, lower case."""
    name = str(getattr(path, "name", path))
    suffix = next((s for s in suffixes if name.lower().endswith(s.lower())), None)
    if suffix is None:
        raise InputError(f"{field} must end in {' or '.join(suffixes)}, got {name}", field=field)
    return suffix.lower()


def check_mode(value: Any, *, field: str = "mode") -> str:
    """A travel mode code from ``data/modes.toml``."""
    from geo.catalog import resolve_mode

    return resolve_mode(str(value), field=field)


def check_crs(value: Any, *, field: str = "crs") -> str:
    """A coordinate system name (``wgs84``, ``gcj02``, ``bd09`` and their aliases) → its code."""
    from geo.crs import resolve_crs

    return resolve_crs(str(value), field=field)


def check_bbox(
    value: Sequence[Any] | str, *, field: str = "bbox", strict: bool = True
) -> tuple[float, float, float, float]:
    """A WGS-84 box ``lon0,lat0,lon1,lat1`` (a sequence or the comma-separated text), degrees.

    ``strict=False`` also accepts a box of zero width or height (a query for one point or line).
    """
    parts = value.split(",") if isinstance(value, str) else list(value)
    if len(parts) != 4:
        raise InputError(f"{field} must be lon0,lat0,lon1,lat1 in degrees, got {value!r}", field=field)
    lon0, lat0, lon1, lat1 = (_number(p, field=field) for p in parts)
    ordered = (lon0 < lon1 and lat0 < lat1) if strict else (lon0 <= lon1 and lat0 <= lat1)
    in_range = all(-180 <= x <= 180 for x in (lon0, lon1)) and all(-90 <= y <= 90 for y in (lat0, lat1))
    if not (ordered and in_range):
        relation = "<" if strict else "≤"
        raise InputError(f"{field} must be lon0,lat0,lon1,lat1 in degrees with lon0 {relation} lon1 and "
                         f"lat0 {relation} lat1, got {value!r}", field=field)
    return lon0, lat0, lon1, lat1


def choice_message(field: str, choices: Sequence[str], got: str) -> str:
    """The wording of a value that is not one of ``choices``; ``got`` is the value as shown (``repr``),
    or ``"nothing"`` when it is missing (a discriminated body without its tag, see :mod:`api.errors`)."""
    return f"{field} must be one of {', '.join(choices)}, got {got}"


def check_choice(value: Any, *, field: str, choices: Sequence[str]) -> str:
    """One of a fixed set of words (decay functions, methods), compared lower-case."""
    word = str(value).strip().lower()
    if word not in choices:
        raise InputError(choice_message(field, choices, repr(value)), field=field)
    return word


def check_capacities(values: Any, *, field: str = "capacity") -> Any:
    """Capacities (visits per day, demand weight): a float array, every value finite and ≥ 0; the first
    offending row is named (its index label for a pandas Series, else its position)."""
    import numpy as np
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    arr = pd.to_numeric(series.astype(object), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(arr) | (arr < 0))
    if bad.size:
        i = int(bad[0])
        shown = series.iloc[i]
        shown = repr(shown) if isinstance(shown, str) else str(shown)
        raise InputError(f"{field} must be a number ≥ 0 in every row; row {series.index[i]} has {shown}",
                         field=field)
    return arr


#: the languages of messages, reports and table headers
LANGS = ("zh", "en")


def check_lang(value: Any, *, field: str = "lang") -> str:
    """``zh`` or ``en`` (case and surrounding blanks ignored)."""
    return check_choice(value, field=field, choices=LANGS)

#: the deepest fallback asked of coverage (``nth``: the N-th nearest station)
MAX_NTH = 10


def check_minutes_spec(
    value: Any, *, field: str = "minutes", max_count: int | None = None
) -> tuple[float, ...]:
    """One threshold or several: a number, a comma-separated text (``"5,10,15"``) or a sequence
    (whose texts may hold commas too), at most ``max_count`` given; each as :func:`check_minutes`,
    returned as :func:`check_minutes_list` does (sorted, unique).

    >>> check_minutes_spec("15,5,10")
    (5.0, 10.0, 15.0)
    """
    items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]
    parts = [p.strip() if isinstance(p, str) else p for v in items
             for p in (v.split(",") if isinstance(v, str) else [v])]
    if max_count is not None and len(parts) > max_count:
        raise InputError(f"{field} takes at most {max_count} thresholds, got {len(parts)}", field=field)
    return check_minutes_list(parts, field=field)


def check_nth(value: Any, *, field: str = "nth") -> int:
    """The rank N of the station a fallback question asks for: a whole number in [2, :data:`MAX_NTH`]
    (N = 2: the second-nearest station)."""
    return check_count(value, field=field, minimum=2, maximum=MAX_NTH)

# -- fairness in exact siting (#21)
def check_fairness_request(given: Sequence[str], *, method: str, set_cover: bool, has_areas: bool) -> None:
    """Fairness arguments (``given``: their names) need the exact method, a maximal covering request (add
    or budget) and, per area, areas."""
    if not given:
        return
    if method != "exact":
        raise InputError(f"{given[0]} needs the exact method (HiGHS), not {method!r}", field=given[0])
    if set_cover:
        raise InputError(f"{given[0]} applies to add or budget (maximal covering), not target_share",
                         field=given[0])
    per_area = [g for g in given if g.endswith("per_area") or g.endswith("per_area_minutes")]
    if per_area and not has_areas:
        raise InputError(f"{per_area[0]} needs areas", field=per_area[0])


def check_weights(values: Any, *, field: str = "weight") -> Any:
    """Demand weights, one per row: the rule of :func:`check_capacities` (finite, ≥ 0, text that is no
    number refused, the first bad row named) → a float64 array."""
    return check_capacities(values, field=field)


def check_point_frame(frame: Any, *, field: str) -> None:
    """A GeoDataFrame of points labelled EPSG:4326 (WGS-84 degrees), the contract of every canonical
    frame of points (stations, demand, candidates)."""
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{field} must be a GeoDataFrame, got {type(frame).__name__}", field=field)
    if frame.crs is None or frame.crs.to_epsg() != 4326:
        raise InputError(f"{field} must be in EPSG:4326 (WGS-84), got {frame.crs}", field=field)
    if len(frame) and not bool((frame.geom_type == "Point").all()):
        raise InputError(f"{field} geometry must be points", field=field)
