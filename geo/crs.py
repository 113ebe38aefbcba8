"""Conversions between the three coordinate systems used for Chinese web maps.

* ``wgs84`` — WGS-84 longitude/latitude (EPSG:4326): GPS, OpenStreetMap, every geometry stored by yizhan.
* ``gcj02`` — GCJ-02 ("火星坐标"), the obfuscated datum mandated for published maps in China and used by
  Amap (高德) and Tencent. It is WGS-84 plus a deterministic, non-linear offset of 300–700 m in eastern
  China, computed on the Krasovsky 1940 ellipsoid (a = 6378245.0 m, e² = 0.00669342162296594323).
* ``bd09`` — BD-09, Baidu's coordinates: GCJ-02 with a second, smaller distortion (x_pi = π·3000/180).

Amap and Baidu exports label their points EPSG:4326 although the numbers are GCJ-02 or BD-09; they
must be converted before any coverage work. The forward transforms (WGS-84 → GCJ-02 → BD-09) are the
published closed formulas. The inverse transforms have no closed form; the one-step approximation found
in most snippets (``2·p − f(p)``) is off by up to a few metres, so here they are solved by vectorised
fixed-point iteration on the whole array until every point's residual is below ``1e-9`` degrees
(about 0.1 mm), which usually takes 3–5 iterations.

Like the real transform, GCJ-02 leaves points outside a rough bounding box of China untouched
(:func:`out_of_china`). BD-09 is defined from GCJ-02 everywhere, as in the reference libraries.

All functions accept numpy arrays (any broadcastable shapes), sequences or scalars. Arrays in give
float64 arrays out; two scalars in give two Python floats out. NaN coordinates give NaN out without
raising. Inputs are never modified.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Final, overload

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from geo.errors import InputError

__all__ = [
    "CRS_LABELS",
    "CRS_NAMES",
    "bbox_to_wgs84",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china",
    "in_mainland_china",
    "looks_swapped",
    "out_of_china",
    "resolve_crs",
    "to_wgs84_frame",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
_Pair = tuple[FloatArray, FloatArray]

#: The canonical CRS codes, as stored in the ``source_crs`` column.
CRS_NAMES: Final[tuple[str, ...]] = ("wgs84", "gcj02", "bd09")
#: How reports name each CRS (with the maps that use it).
CRS_LABELS: Final[dict[str, str]] = {"wgs84": "WGS-84", "gcj02": "GCJ-02（高德）", "bd09": "BD-09（百度）"}

# Krasovsky 1940 ellipsoid used by the GCJ-02 obfuscation.
_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
# Baidu's rotation factor.
_X_PI: Final = math.pi * 3000.0 / 180.0

# The rough bounding box outside which GCJ-02 equals WGS-84 (as in the gcoord library).
_GCJ_LON_MIN: Final = 72.004
_GCJ_LON_MAX: Final = 137.8347
_GCJ_LAT_MIN: Final = 0.8293
_GCJ_LAT_MAX: Final = 55.8271

# Stricter box used to validate imported station coordinates: mainland China plus Hainan.
_MAINLAND_LON_MIN: Final = 73.4
_MAINLAND_LON_MAX: Final = 135.1
_MAINLAND_LAT_MIN: Final = 18.1
_MAINLAND_LAT_MAX: Final = 53.6
#: (min lon, min lat, max lon, max lat) of the box :func:`in_mainland_china` checks (any of the three CRSs)
MAINLAND_BBOX: Final = (_MAINLAND_LON_MIN, _MAINLAND_LAT_MIN, _MAINLAND_LON_MAX, _MAINLAND_LAT_MAX)

#: Inverse transforms stop when every point's residual is below this many degrees.
TOLERANCE_DEGREES: Final = 1e-9
#: Upper bound on inverse iterations (convergence normally takes 3–5).
MAX_ITERATIONS: Final = 30

_ALIASES: Final[dict[str, str]] = {
    # WGS-84
    "wgs84": "wgs84",
    "wgs-84": "wgs84",
    "wgs_84": "wgs84",
    "wgs 84": "wgs84",
    "epsg:4326": "wgs84",
    "epsg4326": "wgs84",
    "4326": "wgs84",
    "gps": "wgs84",
    "osm": "wgs84",
    # GCJ-02
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj_02": "gcj02",
    "gcj 02": "gcj02",
    "gcj": "gcj02",
    "amap": "gcj02",
    "gaode": "gcj02",
    "高德": "gcj02",
    "tencent": "gcj02",
    "腾讯": "gcj02",
    "mars": "gcj02",
    "火星": "gcj02",
    "火星坐标": "gcj02",
    # BD-09
    "bd09": "bd09",
    "bd-09": "bd09",
    "bd_09": "bd09",
    "bd 09": "bd09",
    "bd09ll": "bd09",
    "baidu": "bd09",
    "百度": "bd09",
}


def resolve_crs(name: str, *, field: str = "crs") -> str:
    """Return the canonical CRS code (``wgs84``, ``gcj02`` or ``bd09``) for a name or alias.

    Parameters
    ----------
    name : str
        A CRS name, case-insensitive, e.g. ``"WGS84"``, ``"EPSG:4326"``, ``"gcj-02"``, ``"amap"``,
        ``"bd-09"``, ``"baidu"``.
    field : str, default "crs"
        Field name reported in the error.

    Returns
    -------
    str
        One of :data:`CRS_NAMES`.

    Raises
    ------
    geo.errors.InputError
        If the name is not a known CRS (``field`` is set).
    """
    if not isinstance(name, str) or name.strip().lower() not in _ALIASES:
        message = (
            f"unknown coordinate system {name!r}: use one of {', '.join(CRS_NAMES)} "
            "(aliases such as EPSG:4326, gcj-02, amap, bd-09, baidu are accepted)"
        )
        raise InputError(message, field=field)
    return _ALIASES[name.strip().lower()]


# --------------------------------------------------------------------------------------------------
# input handling


def _as_arrays(lon: Any, lat: Any) -> tuple[FloatArray, FloatArray, bool]:
    """Broadcast inputs to fresh float64 arrays; report whether both were scalars."""
    try:
        lon_arr = np.asarray(lon, dtype=np.float64)
        lat_arr = np.asarray(lat, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        message = f"coordinates must be numbers or arrays of numbers: {exc}"
        raise InputError(message, field="lon/lat") from exc
    try:
        lon_b, lat_b = np.broadcast_arrays(lon_arr, lat_arr)
    except ValueError as exc:
        message = f"lon and lat have incompatible shapes {lon_arr.shape} and {lat_arr.shape}"
        raise InputError(message, field="lon/lat") from exc
    scalar = lon_arr.ndim == 0 and lat_arr.ndim == 0
    # copies: never hand back (or write into) the caller's memory
    return np.array(lon_b, dtype=np.float64), np.array(lat_b, dtype=np.float64), scalar


def _out(lon: FloatArray, lat: FloatArray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


# --------------------------------------------------------------------------------------------------
# array kernels (float64 arrays in, new arrays out)


def _gcj_delta_with(lon: Any, lat: Any, sin: Any, cos: Any, sqrt: Any) -> tuple[Any, Any]:
    """GCJ-02 minus WGS-84 in degrees at WGS-84 points (no bounding-box test), with the given
    ``sin``/``cos``/``sqrt``: numpy's for arrays, the ``math`` module's for one point."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = sqrt(abs(x))
    common = (20.0 * sin(6.0 * x * math.pi) + 20.0 * sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    d_lat += (20.0 * sin(y * math.pi) + 40.0 * sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (160.0 * sin(y / 12.0 * math.pi) + 320.0 * sin(y * math.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    d_lon += (20.0 * sin(x * math.pi) + 40.0 * sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lon += (150.0 * sin(x / 12.0 * math.pi) + 300.0 * sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * sin(rad_lat) ** 2
    sqrt_magic = sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * cos(rad_lat) * math.pi)
    return d_lon, d_lat


def _gcj_delta_scalar(lon: float, lat: float) -> tuple[float, float]:
    """:func:`_gcj_delta` of one point in plain floats: a phone's query point costs microseconds
    instead of the ~50 numpy calls of the array form."""
    d_lon, d_lat = _gcj_delta_with(lon, lat, math.sin, math.cos, math.sqrt)
    return float(d_lon), float(d_lat)


#: arrays up to this size go through :func:`_gcj_delta_scalar` point by point (faster than numpy's
#: per-call overhead below about this size)
_SMALL = 8


def _gcj_delta(lon: FloatArray, lat: FloatArray) -> _Pair:
    """GCJ-02 minus WGS-84 in degrees at WGS-84 points (no bounding-box test)."""
    if lon.size <= _SMALL:
        pairs = [_gcj_delta_scalar(float(a), float(b)) for a, b in zip(lon.ravel(), lat.ravel(), strict=True)]
        d = np.array(pairs, dtype=np.float64).reshape(-1, 2)
        return d[:, 0].reshape(lon.shape), d[:, 1].reshape(lat.shape)
    d_lon, d_lat = _gcj_delta_with(lon, lat, np.sin, np.cos, np.sqrt)
    return np.asarray(d_lon, dtype=np.float64), np.asarray(d_lat, dtype=np.float64)


def _out_of_china(lon: FloatArray, lat: FloatArray) -> BoolArray:
    inside = (lon >= _GCJ_LON_MIN) & (lon <= _GCJ_LON_MAX) & (lat >= _GCJ_LAT_MIN) & (lat <= _GCJ_LAT_MAX)
    return np.asarray(~inside, dtype=np.bool_)


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> _Pair:
    out_lon = lon.copy()
    out_lat = lat.copy()
    inside = ~_out_of_china(lon, lat)
    if inside.any():
        d_lon, d_lat = _gcj_delta(lon[inside], lat[inside])
        out_lon[inside] += d_lon
        out_lat[inside] += d_lat
    return out_lon, out_lat


def _gcj_to_bd(lon: FloatArray, lat: FloatArray) -> _Pair:
    with np.errstate(invalid="ignore"):  # inf in -> nan out, silently like nan
        z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
        theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
        return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj_approx(lon: FloatArray, lat: FloatArray) -> _Pair:
    """The published one-step inverse of :func:`_gcj_to_bd` (error up to about a metre)."""
    x = lon - 0.0065
    y = lat - 0.006
    with np.errstate(invalid="ignore"):
        z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
        theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
        return z * np.cos(theta), z * np.sin(theta)


def _invert(
    forward: Callable[[FloatArray, FloatArray], _Pair],
    target_lon: FloatArray,
    target_lat: FloatArray,
    start_lon: FloatArray,
    start_lat: FloatArray,
    *,
    what: str,
) -> _Pair:
    """Solve ``forward(p) == target`` by fixed-point iteration ``p <- p - (forward(p) - target)``.

    The transforms are the identity plus a small, slowly varying offset, so the iteration is a
    strong contraction (factor ~1e-3). Only points not yet converged are re-evaluated.
    """
    shape = np.shape(target_lon)
    target_lon = np.ravel(target_lon)
    target_lat = np.ravel(target_lat)
    lon = np.array(start_lon, dtype=np.float64).ravel()
    lat = np.array(start_lat, dtype=np.float64).ravel()
    active = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat))
    iterations = 0
    while active.size and iterations < MAX_ITERATIONS:
        f_lon, f_lat = forward(lon[active], lat[active])
        r_lon = f_lon - target_lon[active]
        r_lat = f_lat - target_lat[active]
        done = (np.abs(r_lon) < TOLERANCE_DEGREES) & (np.abs(r_lat) < TOLERANCE_DEGREES)
        lon[active] -= np.where(done, 0.0, r_lon)
        lat[active] -= np.where(done, 0.0, r_lat)
        active = active[~done]
        iterations += 1
    if active.size:
        logger.warning(
            "%s: %d of %d points did not converge to %.0e degrees in %d iterations",
            what,
            active.size,
            lon.size,
            TOLERANCE_DEGREES,
            MAX_ITERATIONS,
        )
    else:
        logger.debug("%s: %d points converged in %d iterations", what, lon.size, iterations)
    return lon.reshape(shape), lat.reshape(shape)


def _wgs_to_gcj_unbounded(lon: FloatArray, lat: FloatArray) -> _Pair:
    d_lon, d_lat = _gcj_delta(lon, lat)
    return lon + d_lon, lat + d_lat


def _gcj_to_wgs_scalar(lon: float, lat: float) -> tuple[float, float]:
    """:func:`_invert` of one point inside the GCJ-02 box, in plain floats (same iteration and
    stopping rule; a phone's query point is converted on every ``/nearest`` request)."""
    w_lon, w_lat = lon, lat
    for _ in range(MAX_ITERATIONS):
        d_lon, d_lat = _gcj_delta_scalar(w_lon, w_lat)
        r_lon = w_lon + d_lon - lon
        r_lat = w_lat + d_lat - lat
        if abs(r_lon) < TOLERANCE_DEGREES and abs(r_lat) < TOLERANCE_DEGREES:
            return w_lon, w_lat
        w_lon -= r_lon
        w_lat -= r_lat
    logger.warning("gcj02 -> wgs84: (%r, %r) did not converge in %d iterations", lon, lat, MAX_ITERATIONS)
    return w_lon, w_lat


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> _Pair:
    out_lon = lon.copy()
    out_lat = lat.copy()
    if lon.size == 1 and math.isfinite(float(lon.flat[0])) and math.isfinite(float(lat.flat[0])):
        if not bool(_out_of_china(lon, lat).flat[0]):
            w = _gcj_to_wgs_scalar(float(lon.flat[0]), float(lat.flat[0]))
            out_lon.flat[0], out_lat.flat[0] = w
        return out_lon, out_lat
    inside = ~_out_of_china(lon, lat)
    if inside.any():
        g_lon = lon[inside]
        g_lat = lat[inside]
        # the raw offset (no bounding-box test) so the iteration sees a smooth function
        w_lon, w_lat = _invert(
            _wgs_to_gcj_unbounded,
            g_lon,
            g_lat,
            g_lon,
            g_lat,
            what="gcj02 -> wgs84",
        )
        out_lon[inside] = w_lon
        out_lat[inside] = w_lat
    return out_lon, out_lat


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> _Pair:
    start_lon, start_lat = _bd_to_gcj_approx(lon, lat)
    return _invert(_gcj_to_bd, lon, lat, start_lon, start_lat, what="bd09 -> gcj02")


# --------------------------------------------------------------------------------------------------
# public conversions

_DOC_RETURNS = """
    Returns
    -------
    lon, lat : numpy.ndarray of float64, or float
        Converted coordinates in degrees; floats when both inputs are scalars. NaN stays NaN.
"""


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert WGS-84 (EPSG:4326) longitude/latitude to GCJ-02 (Amap/Tencent).

    Points outside the rough China box (:func:`out_of_china`) are returned unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 degrees; broadcastable shapes.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_wgs_to_gcj(lon_a, lat_a), scalar)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert GCJ-02 (Amap/Tencent) longitude/latitude to WGS-84 (EPSG:4326), exactly.

    Solves ``wgs84_to_gcj02(p) == (lon, lat)`` by fixed-point iteration to a residual below
    :data:`TOLERANCE_DEGREES` for every point. Points outside the rough China box are unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees; broadcastable shapes.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_wgs(lon_a, lat_a), scalar)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert GCJ-02 (Amap/Tencent) longitude/latitude to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 degrees; broadcastable shapes.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_bd(lon_a, lat_a), scalar)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert BD-09 (Baidu) longitude/latitude to GCJ-02 (Amap/Tencent), exactly.

    Starts from Baidu's published one-step inverse and refines it by fixed-point iteration until
    ``gcj02_to_bd09`` reproduces the input to :data:`TOLERANCE_DEGREES`.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 degrees; broadcastable shapes.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_bd_to_gcj(lon_a, lat_a), scalar)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert WGS-84 (EPSG:4326) longitude/latitude to BD-09 (Baidu), via GCJ-02.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 degrees; broadcastable shapes.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_bd(*_wgs_to_gcj(lon_a, lat_a)), scalar)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: npt.ArrayLike, lat: npt.ArrayLike) -> _Pair: ...
def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert BD-09 (Baidu) longitude/latitude to WGS-84 (EPSG:4326), exactly, via GCJ-02.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 degrees; broadcastable shapes.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_to_wgs(*_bd_to_gcj(lon_a, lat_a)), scalar)


for _f in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, wgs84_to_bd09, bd09_to_wgs84):
    _f.__doc__ = (_f.__doc__ or "") + _DOC_RETURNS

_KERNELS: Final[dict[tuple[str, str], Callable[[FloatArray, FloatArray], _Pair]]] = {
    ("wgs84", "gcj02"): _wgs_to_gcj,
    ("gcj02", "wgs84"): _gcj_to_wgs,
    ("gcj02", "bd09"): _gcj_to_bd,
    ("bd09", "gcj02"): _bd_to_gcj,
    ("wgs84", "bd09"): lambda lon, lat: _gcj_to_bd(*_wgs_to_gcj(lon, lat)),
    ("bd09", "wgs84"): lambda lon, lat: _gcj_to_wgs(*_bd_to_gcj(lon, lat)),
}


@overload
def convert(lon: float, lat: float, *, src: str, dst: str) -> tuple[float, float]: ...
@overload
def convert(lon: npt.ArrayLike, lat: npt.ArrayLike, *, src: str, dst: str) -> _Pair: ...
def convert(lon: Any, lat: Any, *, src: str, dst: str) -> tuple[Any, Any]:
    """Convert longitude/latitude between WGS-84, GCJ-02 and BD-09.

    Parameters
    ----------
    lon, lat : float or array_like
        Degrees in the ``src`` coordinate system; broadcastable shapes.
    src, dst : str
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` or an alias accepted by :func:`resolve_crs`.

    Returns
    -------
    lon, lat : numpy.ndarray of float64, or float
        Degrees in ``dst``; new arrays (a copy when ``src == dst``), floats for scalar inputs.

    Raises
    ------
    geo.errors.InputError
        ``field="crs"`` for an unknown CRS name, ``field="lon/lat"`` for non-numeric input.
    """
    src_code = resolve_crs(src)
    dst_code = resolve_crs(dst)
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    if src_code == dst_code:
        return _out(lon_a, lat_a, scalar)
    return _out(*_KERNELS[(src_code, dst_code)](lon_a, lat_a), scalar)


def bbox_outline_to_wgs84(bbox: tuple[float, float, float, float], *, src: str) -> _Pair:
    """The outline of a ``minx, miny, maxx, maxy`` box given in ``src``, densely sampled, in WGS-84.

    The conversion is a smooth one-to-one map, so the converted box is the polygon this outline
    bounds. The GCJ-02 offset has terms with a period of 1/3 degree, so the outline bends by metres
    between the corners, and BD-09 also turns the box by a small angle (~90 m across a 10 km box):
    the corners alone are not enough. A 0.1° edge is sampled every ~40 m, where the outline's bend
    between samples is below a millimetre.

    Parameters
    ----------
    bbox : tuple of float
        Degrees in ``src``: ``(minx, miny, maxx, maxy)``.
    src : str
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"`` (or an alias accepted by :func:`resolve_crs`).

    Returns
    -------
    lon, lat : numpy.ndarray of float64
        A closed ring (first point repeated last), counter-clockwise, WGS-84 degrees.
    """
    minx, miny, maxx, maxy = bbox
    t = np.linspace(0.0, 1.0, _BBOX_SAMPLES_PER_EDGE)[:-1]  # each edge without its last corner
    up_x, up_y = minx + (maxx - minx) * t, miny + (maxy - miny) * t
    down_x, down_y = maxx - (maxx - minx) * t, maxy - (maxy - miny) * t
    ring_x = np.concatenate([up_x, np.full_like(t, maxx), down_x, np.full_like(t, minx), [minx]])
    ring_y = np.concatenate([np.full_like(t, miny), up_y, np.full_like(t, maxy), down_y, [miny]])
    return convert(ring_x, ring_y, src=src, dst="wgs84")


def bbox_to_wgs84(
    bbox: tuple[float, float, float, float], *, src: str
) -> tuple[float, float, float, float]:
    """The WGS-84 envelope of a ``minx, miny, maxx, maxy`` box given in ``src``.

    Every point whose ``src`` coordinates lie in the box lies in the result, which is larger than
    the box's exact image (:func:`bbox_outline_to_wgs84`) by centimetres for GCJ-02 and by up to
    ~90 m across a 10 km box for BD-09 (its small turn).

    Returns
    -------
    tuple of float
        ``(minx, miny, maxx, maxy)`` in WGS-84 degrees; ``bbox`` itself when ``src`` is WGS-84.
    """
    if resolve_crs(src) == "wgs84":
        return bbox
    lon, lat = bbox_outline_to_wgs84(bbox, src=src)
    pad = _BBOX_PAD_DEGREES  # the inverse conversions are iterative, exact to ~1 mm
    return float(lon.min()) - pad, float(lat.min()) - pad, float(lon.max()) + pad, float(lat.max()) + pad


#: points per edge of a converted box's outline (a 0.1° edge is then sampled every ~40 m)
_BBOX_SAMPLES_PER_EDGE = 257
#: ~1 cm: what the envelope adds to absorb the iterative inverse's millimetre
_BBOX_PAD_DEGREES = 1e-7


# --------------------------------------------------------------------------------------------------
# location tests


@overload
def out_of_china(lon: float, lat: float) -> bool: ...
@overload
def out_of_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray: ...
def out_of_china(lon: Any, lat: Any) -> Any:
    """Whether points lie outside the rough box where GCJ-02 differs from WGS-84.

    The box is the widespread rule lon 72.004–137.8347, lat 0.8293–55.8271 (inclusive), as used by
    the gcoord library. It is deliberately generous (it includes Mongolia, Korea, parts of Japan and
    South-East Asia), matching what Chinese map providers do. NaN counts as outside.

    Parameters
    ----------
    lon, lat : float or array_like
        Degrees (WGS-84 or GCJ-02, the box is the same).

    Returns
    -------
    numpy.ndarray of bool, or bool
        True where the point is outside the box.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    result = _out_of_china(lon_a, lat_a)
    return bool(result) if scalar else result


def _in_mainland(lon: FloatArray, lat: FloatArray) -> BoolArray:
    inside = (
        (lon >= _MAINLAND_LON_MIN)
        & (lon <= _MAINLAND_LON_MAX)
        & (lat >= _MAINLAND_LAT_MIN)
        & (lat <= _MAINLAND_LAT_MAX)
    )
    return np.asarray(inside, dtype=np.bool_)


@overload
def in_mainland_china(lon: float, lat: float) -> bool: ...
@overload
def in_mainland_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray: ...
def in_mainland_china(lon: Any, lat: Any) -> Any:
    """Whether points lie in the bounding box of mainland China and Hainan (import validation).

    The box is lon 73.4–135.1, lat 18.1–53.6 (inclusive): from the Pamirs to the Wusuli river and
    from Sanya to Mohe. It is a box, not a border: it also contains parts of neighbouring countries,
    Taiwan, Hong Kong and coastal sea, and it excludes the South China Sea islands (Sansha). It
    catches the common mistakes — swapped columns, zeros, projected metres, points abroad — not
    every wrong point. NaN counts as outside.

    Parameters
    ----------
    lon, lat : float or array_like
        Degrees in any of WGS-84, GCJ-02 or BD-09 (their differences do not matter at this scale).

    Returns
    -------
    numpy.ndarray of bool, or bool
        True where the point is inside the box.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    result = _in_mainland(lon_a, lat_a)
    return bool(result) if scalar else result


#: Architecture name for :func:`in_mainland_china`.
in_china = in_mainland_china


@overload
def looks_swapped(lon: float, lat: float) -> bool: ...
@overload
def looks_swapped(lon: npt.ArrayLike, lat: npt.ArrayLike) -> BoolArray: ...
def looks_swapped(lon: Any, lat: Any) -> Any:
    """Whether a pair is outside mainland China but would be inside with lon and lat swapped.

    Parameters
    ----------
    lon, lat : float or array_like
        Degrees as given (any of the three CRSs).

    Returns
    -------
    numpy.ndarray of bool, or bool
        True where ``(lat, lon)`` is in :func:`in_mainland_china` and ``(lon, lat)`` is not.
    """
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    result = np.asarray(~_in_mainland(lon_a, lat_a) & _in_mainland(lat_a, lon_a), dtype=np.bool_)
    return bool(result) if scalar else result


# --------------------------------------------------------------------------------------------------
# frames


def to_wgs84_frame(
    gdf: gpd.GeoDataFrame | pd.DataFrame,
    *,
    src: str,
    lon_column: str = "lon",
    lat_column: str = "lat",
) -> gpd.GeoDataFrame:
    """Return a new frame whose Point geometries are converted from ``src`` to WGS-84.

    Amap and Baidu exports label their points EPSG:4326 although the numbers are GCJ-02 or BD-09;
    pass the true system as ``src``. A frame labelled with another CRS (e.g. Web Mercator) is first
    reprojected to EPSG:4326 degrees, then converted. A plain DataFrame is accepted when it has
    ``lon_column`` and ``lat_column``. Missing or empty geometries (and NaN coordinates) stay
    missing. The input is never modified.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame or pandas.DataFrame
        Points in the ``src`` coordinate system.
    src : str
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or an alias (see :func:`resolve_crs`).
    lon_column, lat_column : str
        Coordinate columns used when ``gdf`` is a plain DataFrame.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy in EPSG:4326 (WGS-84) with the same index and columns, converted Point geometries
        and a ``source_crs`` column holding the canonical source code.

    Raises
    ------
    geo.errors.InputError
        ``field="crs"`` for an unknown ``src``; ``field="geometry"`` for non-Point geometries;
        ``field=lon_column`` when a plain DataFrame lacks coordinate columns.
    """
    src_code = resolve_crs(src)
    frame, geoms = _frame_and_points(gdf, lon_column=lon_column, lat_column=lat_column)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    _check_points(frame, geoms, present)
    xs = np.full(len(geoms), np.nan)
    ys = np.full(len(geoms), np.nan)
    if present.any():
        xs[present] = shapely.get_x(geoms[present])
        ys[present] = shapely.get_y(geoms[present])
    if src_code != "wgs84":
        xs, ys = convert(xs, ys, src=src_code, dst="wgs84")
    new_geoms = np.full(len(geoms), None, dtype=object)
    ok = present & np.isfinite(xs) & np.isfinite(ys)
    new_geoms[ok] = shapely.points(xs[ok], ys[ok])
    result = frame  # already a private copy
    result[result.geometry.name] = gpd.GeoSeries(new_geoms, index=frame.index, crs="EPSG:4326")
    result["source_crs"] = src_code
    logger.debug("to_wgs84_frame: converted %d points from %s", int(ok.sum()), src_code)
    return result


def _frame_and_points(
    gdf: gpd.GeoDataFrame | pd.DataFrame, *, lon_column: str, lat_column: str
) -> tuple[gpd.GeoDataFrame, npt.NDArray[np.object_]]:
    """A private copy labelled in EPSG:4326 degrees (a GeoDataFrame in another CRS is reprojected; a
    DataFrame gets points from its coordinate columns) and its geometries."""
    if isinstance(gdf, gpd.GeoDataFrame):
        frame = gdf.copy()
        if frame.crs is not None and not frame.crs.equals("EPSG:4326"):
            logger.info("to_wgs84_frame: reprojecting from %s to EPSG:4326 degrees first", frame.crs)
            frame = frame.to_crs("EPSG:4326")
        return frame, np.asarray(frame.geometry.values, dtype=object)
    if isinstance(gdf, pd.DataFrame):
        missing = [c for c in (lon_column, lat_column) if c not in gdf.columns]
        if missing:
            message = f"the frame has no geometry and no coordinate column(s) {', '.join(missing)}"
            raise InputError(message, field=lon_column)
        xs = pd.to_numeric(gdf[lon_column], errors="coerce").to_numpy(dtype=np.float64)
        ys = pd.to_numeric(gdf[lat_column], errors="coerce").to_numpy(dtype=np.float64)
        geoms = np.asarray(shapely.points(xs, ys), dtype=object)
        frame = gpd.GeoDataFrame(gdf.copy(), geometry=gpd.GeoSeries(geoms, index=gdf.index), crs="EPSG:4326")
        return frame, geoms
    raise InputError(f"expected a GeoDataFrame or DataFrame, got {type(gdf).__name__}", field="gdf")


def _check_points(frame: gpd.GeoDataFrame, geoms: npt.NDArray[np.object_], present: BoolArray) -> None:
    """Only point coordinates can be converted between the three systems."""
    bad = present & (shapely.get_type_id(geoms) != shapely.GeometryType.POINT)
    if bad.any():
        first = frame.index[np.flatnonzero(bad)[0]]
        message = (
            f"{int(bad.sum())} geometries are not Points (first at index {first!r}); "
            "only point coordinates can be converted between WGS-84, GCJ-02 and BD-09"
        )
        raise InputError(message, field="geometry")
