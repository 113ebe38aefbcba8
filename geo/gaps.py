"""Coverage gaps: uncovered demand aggregated to H3 hexagons and ranked by uncovered weight.

Input is a coverage result (:class:`geo.coverage.CoverageResult`, its ``demand`` frame) or any demand
frame with the coverage columns ``covered`` (bool), ``minutes`` (float, NaN = unreachable),
``nearest_station`` and optionally ``snapped`` (bool). Output hexagons are WGS-84 (EPSG:4326) polygons.

Which points are uncovered comes from the coverage engine, so gaps follow its edge snapping
(:mod:`geo.snapping`: a point joins its nearest usable street, and a tiny footway island never
captures a point about as close to the main network).

Unsnappable demand (``snapped == False``: too far from any usable street) is not a hexagon gap: it is
reported separately in ``gaps.attrs`` (``unsnappable_count``, ``unsnappable_weight``) because no station
on the network can serve it, whatever is built.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely

from geo.checks import check_count, check_h3_resolution, check_minutes
from geo.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["GAP_COLUMNS", "find_gaps", "top_gaps"]

WGS84 = "EPSG:4326"
#: fixed columns of the gaps frame (per-group ``weight_<group>`` columns follow them)
GAP_COLUMNS: tuple[str, ...] = (
    "rank", "h3", "uncovered_weight", "demand_count", "unreachable_count", "main_group", "groups",
    "nearest_station", "nearest_station_name", "nearest_minutes",
)


def _demand_of(result_or_demand_frame: Any) -> pd.DataFrame:
    frame = getattr(result_or_demand_frame, "demand", result_or_demand_frame)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError("find_gaps needs a CoverageResult or a demand GeoDataFrame with coverage columns",
                         field="result")
    need = {"weight", "group", "minutes"}
    missing = sorted(need - set(frame.columns))
    if missing:
        raise InputError(f"demand frame lacks coverage column(s) {', '.join(missing)}", field="result")
    return frame


def find_gaps(
    result_or_demand_frame: Any,
    *,
    minutes: float | None = None,
    resolution: int = 9,
    stations: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Aggregate uncovered demand to H3 hexagons, ranked by uncovered weight (rank 1 = biggest gap).

    A demand point is *uncovered* when ``covered`` is False (this includes unreachable points, whose
    ``minutes`` is NaN) and it snapped to the network. With ``minutes`` given, coverage is recomputed
    as ``minutes <= minutes`` from the travel times instead of read from ``covered``.

    Parameters
    ----------
    result_or_demand_frame : CoverageResult or GeoDataFrame
        A coverage result or its ``demand`` frame (EPSG:4326 points with ``weight``, ``group``,
        ``minutes``, ``covered``, ``nearest_station``, optionally ``snapped``).
    minutes : float, optional
        Coverage threshold in minutes to apply to ``minutes`` (> 0).
    resolution : int
        H3 resolution 0–15 (9 ≈ 0.1 km² cells, edge ≈ 200 m).
    stations : GeoDataFrame, optional
        Stations frame (``station_id``, ``name``) to name each hexagon's nearest station; default
        the result's own ``stations`` when a CoverageResult is given.

    Returns
    -------
    GeoDataFrame
        One row per hexagon with uncovered demand, EPSG:4326 polygons, columns :data:`GAP_COLUMNS`
        plus ``weight_<group>`` per worker group: ``uncovered_weight`` (sum of weights),
        ``demand_count`` (points), ``unreachable_count`` (points with no path to any station),
        ``main_group`` (group with most weight), ``groups`` ("group:weight; ..." by weight),
        ``nearest_station``/``nearest_minutes`` (the uncovered point in the hexagon closest in time to
        a station, and that time; null when all are unreachable), ``nearest_station_name``.
        ``attrs`` holds ``resolution``, ``minutes``, ``uncovered_weight``, ``uncovered_count``,
        ``unsnappable_count`` and ``unsnappable_weight``.

    Raises
    ------
    InputError
        On a bad resolution or minutes, or a frame without the coverage columns.
    """
    _check_gap_args(resolution, minutes)
    demand = _demand_of(result_or_demand_frame)
    if stations is None and isinstance(getattr(result_or_demand_frame, "stations", None), gpd.GeoDataFrame):
        stations = result_or_demand_frame.stations
    if demand.crs is not None and demand.crs.to_epsg() != 4326:
        demand = demand.to_crs(WGS84)
    mins, covered, snapped, weight = _coverage_columns(demand, minutes)
    uncovered = ~covered & snapped
    attrs: dict[str, Any] = {
        "resolution": int(resolution),
        "minutes": None if minutes is None else float(minutes),
        "uncovered_count": int(uncovered.sum()),
        "uncovered_weight": float(weight[uncovered].sum()),
        "unsnappable_count": int((~snapped).sum()),
        "unsnappable_weight": float(weight[~snapped].sum()),
    }
    rows = _uncovered_rows(demand, uncovered, weight, mins, resolution)
    groups = sorted(set(rows["group"]))
    group_cols = [f"weight_{g}" for g in groups]
    if rows.empty:
        out = gpd.GeoDataFrame({c: [] for c in (*GAP_COLUMNS, *group_cols)}, geometry=[], crs=WGS84)
        out.attrs.update(attrs)
        logger.info("no uncovered demand: no gaps")
        return out
    agg = _per_cell(rows, groups)
    agg = _with_nearest(agg, rows)
    agg["nearest_station_name"] = _station_names(stations, agg["nearest_station"])
    out = _ranked_hexagons(agg, group_cols)
    out.attrs.update(attrs)
    logger.info(
        "gaps: %d hexagons (H3 res %d) hold %.1f uncovered weight in %d points; "
        "%d unsnappable points set aside",
        len(out), resolution, attrs["uncovered_weight"], attrs["uncovered_count"], attrs["unsnappable_count"],
    )
    return out


def _check_gap_args(resolution: Any, minutes: Any) -> None:
    check_h3_resolution(resolution)
    if minutes is not None:
        check_minutes(minutes)


def _coverage_columns(
    demand: pd.DataFrame, minutes: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Minutes, covered, snapped and weight per demand point (covered recomputed with ``minutes``)."""
    mins = pd.to_numeric(demand["minutes"], errors="coerce").to_numpy(dtype=float)
    if minutes is not None:
        covered = np.isfinite(mins) & (mins <= float(minutes))
    elif "covered" in demand.columns:
        covered = demand["covered"].fillna(False).to_numpy(dtype=bool)
    else:
        raise InputError("demand frame has no 'covered' column; pass minutes=", field="minutes")
    snapped = (
        demand["snapped"].fillna(False).to_numpy(dtype=bool) if "snapped" in demand.columns
        else np.ones(len(demand), dtype=bool)
    )
    weight = pd.to_numeric(demand["weight"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    return mins, covered, snapped, weight


def _uncovered_rows(
    demand: pd.DataFrame, uncovered: np.ndarray, weight: np.ndarray, mins: np.ndarray, resolution: int
) -> pd.DataFrame:
    """One row per uncovered point: its H3 cell, weight, group, minutes and nearest station."""
    sub = demand.loc[uncovered]
    xy = shapely.get_coordinates(sub.geometry.values)
    if len(xy) != len(sub):
        raise InputError("demand geometry must be one point per row", field="result")
    cells = [h3.latlng_to_cell(float(lat), float(lon), int(resolution)) for lon, lat in xy]
    nearest = (
        sub["nearest_station"].to_numpy(dtype=object) if "nearest_station" in sub.columns
        else np.full(len(sub), None, dtype=object)
    )
    return pd.DataFrame(
        {
            "h3": cells,
            "weight": weight[uncovered],
            "group": sub["group"].astype(str).to_numpy(),
            "minutes": mins[uncovered],
            "nearest_station": nearest,
        }
    )


def _per_cell(rows: pd.DataFrame, groups: list[str]) -> pd.DataFrame:
    """Weight, counts and per-group weights per cell, with the main group and its description."""
    agg = rows.groupby("h3", sort=False).agg(
        uncovered_weight=("weight", "sum"),
        demand_count=("weight", "size"),
        unreachable_count=("minutes", lambda m: int(np.isnan(m.to_numpy(dtype=float)).sum())),
    )
    by_group = rows.pivot_table(index="h3", columns="group", values="weight", aggfunc="sum", fill_value=0.0)
    by_group = by_group.reindex(columns=groups, fill_value=0.0)
    by_group.columns = [f"weight_{g}" for g in groups]
    agg = agg.join(by_group)

    def _describe(row: pd.Series) -> tuple[str, str]:  # biggest first (ties by code)
        pairs = sorted(((float(row[f"weight_{g}"]), g) for g in groups if row[f"weight_{g}"] > 0),
                       key=lambda p: (-p[0], p[1]))
        if not pairs:  # all weights zero: report by count instead
            return groups[0], ""
        return pairs[0][1], "; ".join(f"{g}:{w:g}" for w, g in pairs)

    described = agg.apply(_describe, axis=1, result_type="expand")
    agg["main_group"] = described[0]
    agg["groups"] = described[1]
    return agg


def _with_nearest(agg: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Each cell's uncovered point closest in time to a station: that station and time."""
    reach = rows[np.isfinite(rows["minutes"].to_numpy(dtype=float))]
    if not reach.empty:
        best = reach.sort_values("minutes", kind="stable").drop_duplicates("h3")
        best = best.set_index("h3")[["nearest_station", "minutes"]]
        agg = agg.join(best.rename(columns={"minutes": "nearest_minutes"}))
    else:
        agg["nearest_station"] = None
        agg["nearest_minutes"] = np.nan
    agg["nearest_minutes"] = agg["nearest_minutes"].astype(float)
    agg["nearest_station"] = pd.Series(
        [None if pd.isna(s) else s for s in agg["nearest_station"]],
        index=agg.index, dtype=object,
    )
    return agg


def _station_names(stations: gpd.GeoDataFrame | None, ids: pd.Series) -> pd.Series:
    names: dict[Any, Any] = {}
    if stations is not None and {"station_id", "name"}.issubset(stations.columns):
        names = {
            sid: (None if nm is None or (isinstance(nm, float) and math.isnan(nm)) else nm)
            for sid, nm in zip(stations["station_id"].tolist(), stations["name"].tolist(), strict=True)
        }
        names.update({str(k): v for k, v in list(names.items())})
    return pd.Series(
        [names.get(s, names.get(str(s))) if s is not None else None for s in ids.tolist()],
        index=ids.index, dtype=object,
    )


def _ranked_hexagons(agg: pd.DataFrame, group_cols: list[str]) -> gpd.GeoDataFrame:
    agg = agg.reset_index().sort_values(
        ["uncovered_weight", "demand_count", "h3"], ascending=[False, False, True], kind="stable"
    )
    agg.insert(0, "rank", np.arange(1, len(agg) + 1))
    polygons = [
        shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in agg["h3"]
    ]
    table = agg[[*GAP_COLUMNS, *group_cols]].reset_index(drop=True)
    return gpd.GeoDataFrame(table, geometry=polygons, crs=WGS84)


def top_gaps(gaps: gpd.GeoDataFrame, n: int = 10) -> gpd.GeoDataFrame:
    """Return the ``n`` biggest gaps (lowest ``rank``) of a :func:`find_gaps` frame, EPSG:4326.

    Raises
    ------
    InputError
        If ``n`` < 1 or the frame has no ``rank`` column.
    """
    check_count(n, field="n")
    if "rank" not in gaps.columns:
        raise InputError("gaps frame has no 'rank' column (make it with find_gaps)", field="gaps")
    out = gaps.sort_values("rank", kind="stable").head(int(n)).copy()
    out.attrs.update(gaps.attrs)
    return out
