"""The 15-minute service circle: coverage of demand by stations in one Dijkstra pass.

Travel time (``docs/TRAVEL_TIME.md``)::

    time(P → S) = [ straight(P, p) + along(p → x) + path(x → y) + along(y → s) + straight(s, S) ] / speed

``p`` and ``s`` are the points' projections on their nearest usable edges (:mod:`geo.snapping`),
``x``/``y`` end nodes of those edges reachable in the mode's direction, ``along`` the partial edge
lengths; a point and a station on the same edge also meet directly along it. Straight lines are
great-circle metres, paths follow the arcs of the network's mode. Every node's time to its nearest
station is found by ONE multi-source search on the reversed graph (the same graph for walking),
:class:`geo._graph.OffsetSearch` (compiled, :mod:`geo._dijkstra`): each station enters as a source
at the end nodes of its edge with its partial edge + straight line as the starting distance, which
gives exactly ``min_S [ path(v → y_S) + along(y_S → s) + straight(s, S) ]`` for every node ``v``
and names the winning station (the lowest index on exact ties). It is the
``scipy.sparse.csgraph.dijkstra(min_only=True)`` pass with one virtual node per source, which the
tests use as the reference. The search stops at ``horizon_minutes``: farther nodes and points get
NaN minutes. On networks of 20,000 nodes or more it runs on the junction graph (chains of degree-2
nodes contracted to one arc each, built once per network by :func:`geo._contract.contracted_search`);
chain nodes are then rebuilt exactly from their chain ends and any station on their own chain, so
the result is that of the full graph.

Several thresholds come from the same pass (:func:`coverage_cutoffs`, :func:`cutoffs_of`): the search
runs to the largest threshold (and on to the horizon), so every point's minutes are known and the
covered weight at a smaller threshold is that of the points within it — the same figure a separate
run at that threshold gives. :func:`nth_nearest` adds the N-th nearest *distinct* station per point
(a fallback when the nearest is closed or full) from the N nearest stations of every node
(:func:`geo.network.nearest_k`, one limited search per station) and the point's own edge.

All frames are WGS-84 (EPSG:4326); inputs in another CRS are converted. Metric buffers for service
areas use the local UTM zone (``estimate_utm_crs``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo._contract import coverage_search
from geo.areas import area_index
from geo.catalog import resolve_amenity
from geo.errors import InputError
from geo.network import Network
from geo.snapping import Snap, point_meters, same_edge_meters, same_edge_pairs, sources_of

# scipy.sparse.csgraph is imported inside the functions that use it (~80 ms of every CLI start)

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
OUTSIDE_AREAS = "(outside areas)"
#: arcs read at a time by the boundary-arc minimum (each station's nearest other station)
BOUNDARY_ARCS = 1 << 20
SUMMARY_KEYS: tuple[str, ...] = (
    "mode", "minutes", "stations", "demand_total", "demand_covered", "covered_share", "mean_minutes",
    "median_minutes", "p95_minutes", "unreachable", "unsnappable",
)  # fmt: skip
AGG_COLUMNS: tuple[str, ...] = (
    "demand_count", "demand_total", "demand_covered", "covered_share", "uncovered", "unreachable",
    "unsnappable", "mean_minutes", "median_minutes", "p95_minutes", "stations",
)  # fmt: skip

__all__ = [
    "AGG_COLUMNS",
    "OUTSIDE_AREAS",
    "SUMMARY_KEYS",
    "CoverageResult",
    "CoverageSummary",
    "CutoffCoverage",
    "compute_coverage",
    "coverage_cutoffs",
    "covered_area",
    "cutoff_column",
    "cutoffs_of",
    "node_pass",
    "nth_nearest",
    "ordinal",
    "select_stations",
    "service_areas",
    "weighted_quantile",
]


# ------------------------------------------------------------------------------------------ results
def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass(frozen=True)
class CoverageSummary:
    """Totals of one coverage run.

    Weights are the demand ``weight`` column (1 per point when absent); ``mean/median/p95_minutes``
    are weighted over the points that reach a station within the horizon. ``unreachable`` are
    snapped points with no station within the horizon; ``unsnappable`` are points farther than the
    snap limit from the network (both are uncovered; they do not overlap).
    """

    mode: str
    minutes: float
    stations: int
    demand_total: float
    demand_covered: float
    covered_share: float
    mean_minutes: float
    median_minutes: float
    p95_minutes: float
    unreachable: float
    unreachable_count: int
    unsnappable: float
    unsnappable_count: int
    demand_count: int = 0
    stations_unsnappable: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict with exactly the keys of :data:`SUMMARY_KEYS` (NaN → None);
        ``unreachable`` and ``unsnappable`` are ``{"count": int, "weight": float}``."""
        return {
            "mode": self.mode,
            "minutes": float(self.minutes),
            "stations": int(self.stations),
            "demand_total": float(self.demand_total),
            "demand_covered": float(self.demand_covered),
            "covered_share": _num(self.covered_share),
            "mean_minutes": _num(self.mean_minutes),
            "median_minutes": _num(self.median_minutes),
            "p95_minutes": _num(self.p95_minutes),
            "unreachable": {"count": int(self.unreachable_count), "weight": float(self.unreachable)},
            "unsnappable": {"count": int(self.unsnappable_count), "weight": float(self.unsnappable)},
        }


@dataclass(frozen=True, eq=False)
class CoverageResult:
    """Everything one coverage run produced.

    Attributes
    ----------
    summary : CoverageSummary
    demand : GeoDataFrame
        New frame (EPSG:4326): input columns + ``nearest_station`` (station_id or None),
        ``minutes`` (NaN when unreachable/unsnappable), ``covered``, ``snapped``, ``snap_meters``
        (straight line from the point to its nearest usable edge)
        and ``area_code``/``area_name`` when areas were given.
    stations : GeoDataFrame
        The selected stations + ``node`` (the nearer end node of the station's edge, -1
        unsnappable), ``snap_meters`` (straight line to the edge), ``snapped`` and
        ``minutes_to_nearest_neighbour`` (to the nearest other station; NaN beyond the horizon).
    by_area, by_group : DataFrame
        Columns :data:`AGG_COLUMNS` per area (``area_code``, ``area_name``; the row
        ``(outside areas)`` takes what lies in no area) and per ``group``; sums equal the totals.
    node_minutes : ndarray (n_nodes,)
        Minutes from every node to its nearest station (NaN beyond the horizon).
    node_station : ndarray (n_nodes,)
        Row position in ``stations`` of that station (-1 when none).
    """

    summary: CoverageSummary
    demand: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    by_area: pd.DataFrame
    by_group: pd.DataFrame
    node_minutes: NDArray[np.float64]
    node_station: NDArray[np.int64]
    horizon_minutes: float = 60.0
    network: Network | None = field(default=None, repr=False)
    #: the snap limit the run used (metres), so that a later step snaps points exactly as it did
    snap_meters: float = 300.0
    #: metres from every demand point to its nearest station (inf unreachable/unsnappable): the
    #: exact values the threshold compares, for :func:`cutoffs_of`
    demand_meters: NDArray[np.float64] | None = field(default=None, repr=False)


# ------------------------------------------------------------------------------------------ helpers
def weighted_quantile(values: NDArray[np.float64], weights: NDArray[np.float64], q: float) -> float:
    """Lower weighted quantile: the smallest value whose cumulative weight reaches ``q`` of the total
    (NaN for no positive weight). ``q=0.5`` is the weighted median."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    keep = np.isfinite(v) & (w > 0)
    v, w = v[keep], w[keep]
    if v.size == 0:
        return float("nan")
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    cw = np.cumsum(w)
    i = int(np.searchsorted(cw, q * cw[-1] * (1 - 1e-12), side="left"))
    return float(v[min(i, v.size - 1)])


def frame_wgs84(frame: gpd.GeoDataFrame, *, field: str) -> gpd.GeoDataFrame:
    """``frame`` in EPSG:4326 (no CRS: taken as WGS-84); InputError naming ``field`` if not a GeoDataFrame."""
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{field} must be a GeoDataFrame, got {type(frame).__name__}", field=field)
    if frame.crs is None:
        return frame.set_crs(WGS84)
    return frame if frame.crs.to_epsg() == 4326 else frame.to_crs(WGS84)


def point_xy(frame: gpd.GeoDataFrame, *, field: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Longitudes and latitudes of a frame of points (InputError naming ``field`` for another geometry)."""
    geom = frame.geometry.values
    if len(geom) == 0:
        return np.zeros(0), np.zeros(0)
    types = shapely.get_type_id(geom)
    if np.any(types != 0):
        bad = int(np.flatnonzero(types != 0)[0])
        raise InputError(
            f"{field} geometry must be points; row {bad} is {shapely.get_type_id(geom[bad])}", field=field
        )
    return shapely.get_x(geom).astype(np.float64), shapely.get_y(geom).astype(np.float64)


def demand_weights(frame: pd.DataFrame) -> NDArray[np.float64]:
    """The ``weight`` column as floats (1 each without it); InputError naming the first bad row."""
    if "weight" not in frame.columns:
        return np.ones(len(frame))
    w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"demand weight must be a finite number ≥ 0; row {i} has {frame['weight'].iloc[i]!r}",
            field="weight",
        )
    return w


_SPLIT = re.compile(r"[,;，；、|]")


def _amenity_set(value: Any) -> set[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return set()
    items = (
        [str(v) for v in value]
        if isinstance(value, list | tuple | set | np.ndarray)
        else _SPLIT.split(str(value))
    )
    out = set()
    for it in items:
        it = it.strip()
        if not it:
            continue
        try:
            out.add(resolve_amenity(it))
        except InputError:
            out.add(it)
    return out


def _station_ids(stations: gpd.GeoDataFrame) -> list[Any]:
    if "station_id" in stations.columns:
        return list(stations["station_id"])
    return list(stations.index)


# ------------------------------------------------------------------------------------------ stations
def select_stations(
    stations: gpd.GeoDataFrame,
    *,
    open_only: bool = True,
    open_at: datetime | None = None,
    amenities: Sequence[str] = (),
) -> gpd.GeoDataFrame:
    """The stations that count for a coverage question.

    Parameters
    ----------
    stations : GeoDataFrame
        Canonical stations frame (EPSG:4326).
    open_only : bool
        Keep ``status == "open"`` only (planned and closed stations are dropped).
    open_at : datetime, optional
        Keep stations whose ``opening_hours`` say they are open at that moment
        (:func:`geo.hours.is_open_at`; naive times are China time). Stations without opening hours
        are treated as *not known to be open* and dropped.
    amenities : sequence of str
        Amenity codes or labels; a station must offer all of them.

    Returns
    -------
    GeoDataFrame
        A new frame with the kept rows (original index kept), EPSG:4326.
    """
    frame = frame_wgs84(stations, field="stations")
    wanted = {resolve_amenity(a, field="amenities") for a in amenities}
    if open_only and "status" not in frame.columns:
        raise InputError("stations frame has no status column; pass open_only=False", field="status")
    if open_at is not None and not isinstance(open_at, datetime):
        raise InputError(f"open_at must be a datetime, got {type(open_at).__name__}", field="open_at")
    if open_at is not None and "opening_hours" not in frame.columns:
        raise InputError("stations frame has no opening_hours column to check open_at", field="opening_hours")
    if wanted and "amenities" not in frame.columns:
        raise InputError("stations frame has no amenities column to filter on", field="amenities")
    keep = np.ones(len(frame), dtype=bool)
    if open_only:
        keep &= (frame["status"].astype(str).str.strip().str.lower() == "open").to_numpy()
    if wanted:
        keep &= np.array([wanted <= _amenity_set(v) for v in frame["amenities"]], dtype=bool)
    if open_at is not None:
        from geo.hours import is_open_at

        def _open(text: Any) -> bool:
            if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
                return False
            return bool(is_open_at(str(text), open_at))

        keep &= np.array([_open(v) for v in frame["opening_hours"]], dtype=bool)
    out = frame.loc[keep].copy()
    log.info("selected %d of %d stations", len(out), len(frame))
    return out


# ------------------------------------------------------------------------------------------ the pass
def node_pass(
    network: Network,
    station_lon: NDArray[np.float64],
    station_lat: NDArray[np.float64],
    *,
    horizon_minutes: float = 60.0,
    snap_meters: float = 300.0,
) -> tuple[NDArray[np.float64], NDArray[np.int64], Snap]:
    """The single multi-source pass.

    Every station joins the network on its nearest usable edge (:meth:`Network.snap`) and enters
    the search at the end nodes from which it is reached along that edge, each with its partial
    edge length + straight line as the starting offset.

    Returns
    -------
    (node_meters, node_station, station_snap)
        Metres from every node to its nearest station including that station's partial edge and
        straight line (inf beyond the horizon), the station position (-1 none), and the stations'
        :class:`geo.snapping.Snap`.
    """
    snap = network.snap(station_lon, station_lat, max_meters=snap_meters)
    src_node, src_off, src_station = sources_of(snap)
    limit = horizon_minutes * network.meters_per_minute
    d, owner = coverage_search(network).run(src_node, src_off, limit_m=limit)
    node_station = np.full(network.n_nodes, -1, dtype=np.int64)
    node_station[owner >= 0] = src_station[owner[owner >= 0]]
    return d, node_station, snap


def _neighbour_meters(
    network: Network,
    node_m: NDArray[np.float64],
    node_station: NDArray[np.int64],
    st: Snap,
    limit: float,
) -> NDArray[np.float64]:
    """Metres from every station to its nearest *other* station (inf beyond ``limit``).

    Symmetric networks: exact from the single pass (the shortest route to the nearest other station
    leaves the station's own cell across exactly one boundary arc, Mehlhorn's lemma; each station is
    a virtual node joined to its edge's ends and directly to the stations on its own edge).
    Directed networks: one limited search per station.
    """
    out = np.full(len(st), np.inf)
    if int(np.sum(st.snapped)) < 2:
        return out
    if network.symmetric:
        _boundary_minimum(network, node_m, node_station, st, out)
    else:
        _searched_neighbours(network, st, limit, out)
    i, j = same_edge_pairs(st, st)
    if i.size:
        np.minimum.at(out, i, np.where(i != j, same_edge_meters(st, i, st, j), np.inf))
    out[out > limit] = np.inf
    return out


def _boundary_minimum(
    network: Network,
    node_m: NDArray[np.float64],
    node_station: NDArray[np.int64],
    st: Snap,
    out: NDArray[np.float64],
) -> None:
    """Mehlhorn's boundary-arc minimum ``d(u) + w(u, v) + d(v)`` over arcs whose ends belong to
    different stations, on the network extended by one virtual node per station. The network's
    arcs are read in slices of :data:`BOUNDARY_ARCS` (memory stays O(slice), never a copy of every
    arc), then the virtual arcs joining each station to its edge's ends."""
    for lo in range(0, network.n_arcs, BOUNDARY_ARCS):
        part = slice(lo, lo + BOUNDARY_ARCS)
        tails = _arc_tails(network.indptr, lo, lo + BOUNDARY_ARCS)
        _cross_minimum(node_m, node_station, tails, network.indices[part], network.length_m[part], out)
    n, m = network.n_nodes, len(st)
    src_node, src_off, src_station = sources_of(st)
    virtual = src_station + n
    _cross_minimum(np.concatenate([node_m, np.zeros(m)]), np.concatenate([node_station, np.arange(m)]),
                   np.concatenate([virtual, src_node]), np.concatenate([src_node, virtual]),
                   np.concatenate([src_off, src_off]), out)


def _arc_tails(indptr: NDArray[Any], lo: int, hi: int) -> NDArray[np.int64]:
    """The tail node of arcs ``lo``..``hi - 1`` of a CSR graph."""
    arcs = np.arange(lo, min(hi, int(indptr[-1])), dtype=np.int64)
    return np.searchsorted(indptr, arcs, side="right").astype(np.int64) - 1


def _cross_minimum(
    dist: NDArray[np.float64],
    owner: NDArray[np.int64],
    tails: NDArray[Any],
    heads: NDArray[Any],
    length_m: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """``out[s] = min(out[s], dist[u] + w + dist[v])`` over the arcs ``u → v`` whose ends are owned
    by different stations, ``s`` the tail's owner."""
    ot, oh = owner[tails], owner[heads]
    cross = (ot >= 0) & (oh >= 0) & (ot != oh)
    cand = dist[tails[cross]] + length_m[cross] + dist[heads[cross]]
    np.minimum.at(out, ot[cross], cand)


def _searched_neighbours(network: Network, st: Snap, limit: float, out: NDArray[np.float64]) -> None:
    """Directed networks: per station one limited compiled search on the reversed graph from the
    ends of its edge; every other station then leaves by its own exits."""
    entry, entry_m = st.entries()
    exit_node, exit_m = st.exits()
    leaves = exit_node >= 0
    safe_exit = np.maximum(exit_node, 0)
    search = network.offset_search
    for j in np.flatnonzero(st.snapped).tolist():
        ok = entry[j] >= 0
        d, _ = search.run(entry[j][ok], entry_m[j][ok], limit_m=limit)
        via = np.where(leaves, d[safe_exit] + exit_m, np.inf).min(axis=1)  # S_i -> S_j for every i
        via[j] = np.inf
        np.minimum(out, via, out=out)


def aggregate_coverage(
    keys: NDArray[Any],
    order: list[Any],
    weight: NDArray[np.float64],
    times: PointTimes,
    station_keys: NDArray[Any] | None,
) -> pd.DataFrame:
    """One row of :data:`AGG_COLUMNS` per key in ``order`` over the points whose ``keys`` equal it
    (``stations``: how many ``station_keys`` equal it, 0 without them)."""
    minutes, covered, snapped = times.minutes, times.covered, times.snapped
    rows = []
    for key in order:
        sel = keys == key
        w = weight[sel]
        mins = minutes[sel]
        reach = np.isfinite(mins)
        total = float(w.sum())
        cov = float(w[covered[sel]].sum())
        rw = w[reach]
        rows.append({
            "demand_count": int(sel.sum()),
            "demand_total": total,
            "demand_covered": cov,
            "covered_share": cov / total if total > 0 else float("nan"),
            "uncovered": total - cov,
            "unreachable": float(w[snapped[sel] & ~reach].sum()),
            "unsnappable": float(w[~snapped[sel]].sum()),
            "mean_minutes": float(np.sum(rw * mins[reach]) / rw.sum()) if rw.sum() > 0 else float("nan"),
            "median_minutes": weighted_quantile(mins[reach], rw, 0.5),
            "p95_minutes": weighted_quantile(mins[reach], rw, 0.95),
            "stations": int(np.sum(station_keys == key)) if station_keys is not None else 0,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(AGG_COLUMNS))


# ------------------------------------------------------------------------------------------ coverage
def compute_coverage(
    network: Network,
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    minutes: float = 15.0,
    horizon_minutes: float = 60.0,
    areas: gpd.GeoDataFrame | None = None,
    open_only: bool = True,
    open_at: datetime | None = None,
    amenities: Sequence[str] = (),
    snap_meters: float = 300.0,
) -> CoverageResult:
    """Coverage of weighted demand by stations within ``minutes`` of travel.

    Parameters
    ----------
    network : Network
        The mode's network (its speed converts metres to minutes).
    stations : GeoDataFrame
        Canonical stations (EPSG:4326; other CRS converted). Filtered by :func:`select_stations`
        with ``open_only``, ``open_at`` and ``amenities``.
    demand : GeoDataFrame
        Canonical demand points (``demand_id``, ``group``, ``weight``, ``layer``); without
        ``weight`` every point weighs 1, without ``group`` all fall in group ``"(none)"``.
    minutes : float
        Threshold T: a point is covered when its nearest station is at most T minutes away.
    horizon_minutes : float
        Search limit (≥ T); times beyond it are NaN ("unreachable").
    areas : GeoDataFrame, optional
        ``area_code``, ``area_name`` polygons; each point and station goes to the first area
        containing it, the rest to ``(outside areas)``.
    snap_meters : float
        Snap limit for demand points and stations.

    Returns
    -------
    CoverageResult
    """
    _check_coverage_args(network, minutes, horizon_minutes, snap_meters)
    dem = frame_wgs84(demand, field="demand")
    weight = demand_weights(dem)
    dx, dy = point_xy(dem, field="demand")
    areas = checked_areas(areas)
    sel = select_stations(stations, open_only=open_only, open_at=open_at, amenities=amenities)
    sx, sy = point_xy(sel, field="stations")
    limit = horizon_minutes * network.meters_per_minute

    node_m, node_station, st_snap = node_pass(
        network, sx, sy, horizon_minutes=horizon_minutes, snap_meters=snap_meters
    )
    times = _demand_times(network, dx, dy, node_m, node_station, st_snap, minutes, limit, snap_meters)
    out = _demand_frame(dem, _station_ids(sel), times)
    st = _stations_frame(sel, network, node_m, node_station, st_snap, limit)
    by_area = coverage_by_area(areas, out, weight, times, **_area_indices(areas, dx, dy, sx, sy))
    by_group = coverage_by_group(demand_groups(dem), weight, times)
    summary = coverage_summary(network, minutes, weight, times, st_snap)
    _warn_unsnappable(summary, snap_meters, network.mode)
    node_minutes = np.where(np.isfinite(node_m), node_m / network.meters_per_minute, np.nan)
    return CoverageResult(
        summary=summary, demand=out, stations=st, by_area=by_area, by_group=by_group,
        node_minutes=node_minutes, node_station=node_station, horizon_minutes=float(horizon_minutes),
        network=network, snap_meters=float(snap_meters), demand_meters=times.meters,
    )  # fmt: skip


@dataclass(frozen=True)
class PointTimes:
    """Per demand point: minutes (NaN unreachable/unsnappable), nearest station position (-1),
    the masks the tables need, the snap distance and the metres to the nearest station (inf when
    unreachable)."""

    minutes: NDArray[np.float64]
    station: NDArray[np.int64]
    reach: NDArray[np.bool_]
    covered: NDArray[np.bool_]
    snapped: NDArray[np.bool_]
    snap_meters: NDArray[np.float64]
    meters: NDArray[np.float64]


def _check_coverage_args(network: Any, minutes: float, horizon_minutes: float, snap_meters: float) -> None:
    if not isinstance(network, Network):
        raise InputError(
            f"network must be a geo.network.Network, got {type(network).__name__}", field="network"
        )
    if not (np.isfinite(minutes) and minutes > 0):
        raise InputError(f"minutes must be a positive number, got {minutes!r}", field="minutes")
    if not (np.isfinite(horizon_minutes) and horizon_minutes >= minutes):
        raise InputError(
            f"horizon_minutes must be a number ≥ minutes ({minutes}), got {horizon_minutes!r}",
            field="horizon_minutes",
        )
    if not (np.isfinite(snap_meters) and snap_meters >= 0):
        raise InputError(f"snap_meters must be ≥ 0, got {snap_meters!r}", field="snap_meters")


def checked_areas(areas: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """Areas in EPSG:4326 with ``area_code`` and ``area_name`` (InputError naming ``areas``), or None."""
    if areas is None:
        return None
    areas = frame_wgs84(areas, field="areas")
    missing = sorted({"area_code", "area_name"} - set(areas.columns))
    if missing:
        raise InputError(f"areas frame lacks column(s) {', '.join(missing)}", field="areas")
    return areas


def _demand_times(
    network: Network,
    dx: NDArray[np.float64],
    dy: NDArray[np.float64],
    node_m: NDArray[np.float64],
    node_station: NDArray[np.int64],
    st_snap: Snap,
    minutes: float,
    limit: float,
    snap_meters: float,
) -> PointTimes:
    """Each demand point joins its nearest usable edge and leaves it at either reachable end (or
    meets a station on the same edge): a lookup in the node labels, no further search."""
    snap = network.snap(dx, dy, max_meters=snap_meters)
    return point_times(network, snap, node_m, node_station, st_snap, minutes=minutes, limit_m=limit)


def point_times(
    network: Network,
    snap: Snap,
    node_m: NDArray[np.float64],
    node_station: NDArray[np.int64],
    st_snap: Snap,
    *,
    minutes: float,
    limit_m: float,
) -> PointTimes:
    """The times of demand points snapped as ``snap``, from node labels ``node_m`` (metres to the
    nearest station ``node_station``, searched to ``limit_m``); covered within ``minutes``."""
    total_m, station = point_meters(snap, node_m, node_station, st_snap)
    reach = total_m <= limit_m
    mpm = network.meters_per_minute
    return PointTimes(
        minutes=np.where(reach, total_m / mpm, np.nan),
        station=np.where(reach, station, -1),
        reach=reach,
        covered=reach & (total_m <= minutes * mpm),
        snapped=snap.snapped,
        snap_meters=snap.meters,
        meters=np.where(reach, total_m, np.inf),
    )


def _demand_frame(dem: gpd.GeoDataFrame, ids: list[Any], times: PointTimes) -> gpd.GeoDataFrame:
    out = dem.copy()
    out["nearest_station"] = pd.Series(
        [ids[i] if i >= 0 else None for i in times.station], index=out.index, dtype=object
    )
    out["minutes"] = times.minutes
    out["covered"] = times.covered
    out["snapped"] = times.snapped
    out["snap_meters"] = times.snap_meters
    return out


def _stations_frame(
    sel: gpd.GeoDataFrame,
    network: Network,
    node_m: NDArray[np.float64],
    node_station: NDArray[np.int64],
    st_snap: Snap,
    limit: float,
) -> gpd.GeoDataFrame:
    st = sel.copy()
    st["node"] = st_snap.node
    st["snap_meters"] = st_snap.meters
    st["snapped"] = st_snap.snapped
    nn = _neighbour_meters(network, node_m, node_station, st_snap, limit)
    st["minutes_to_nearest_neighbour"] = np.where(np.isfinite(nn), nn / network.meters_per_minute, np.nan)
    return st


def coverage_by_area(
    areas: gpd.GeoDataFrame | None,
    out: gpd.GeoDataFrame,
    weight: NDArray[np.float64],
    times: PointTimes,
    *,
    point_area: NDArray[np.int64],
    station_area: NDArray[np.int64],
) -> pd.DataFrame:
    """The per-area table (``point_area``/``station_area``: :func:`geo.areas.area_index` of the
    points and stations); also writes ``area_code``/``area_name`` into ``out`` (a new frame)."""
    if areas is None:
        return pd.DataFrame(columns=["area_code", "area_name", *AGG_COLUMNS])
    codes = areas["area_code"].astype(str).to_numpy()
    names = areas["area_name"].to_numpy()
    pa, sa = point_area, station_area
    pt_code = np.where(pa >= 0, codes[np.maximum(pa, 0)], OUTSIDE_AREAS).astype(object)
    station_code = np.where(sa >= 0, codes[np.maximum(sa, 0)], OUTSIDE_AREAS).astype(object)
    out["area_code"] = np.where(pa >= 0, codes[np.maximum(pa, 0)], None)
    out["area_name"] = np.where(pa >= 0, names[np.maximum(pa, 0)], None)
    order = [*dict.fromkeys(codes.tolist()), OUTSIDE_AREAS]
    by_area = aggregate_coverage(pt_code, order, weight, times, station_code)
    name_of = dict(zip(codes.tolist(), names.tolist(), strict=True))
    by_area.insert(0, "area_name", [name_of.get(c, OUTSIDE_AREAS) for c in order])
    by_area.insert(0, "area_code", order)
    return by_area


def _area_indices(areas: gpd.GeoDataFrame | None, dx: NDArray[np.float64], dy: NDArray[np.float64],
                  sx: NDArray[np.float64], sy: NDArray[np.float64]) -> dict[str, NDArray[np.int64]]:
    if areas is None:
        return {"point_area": np.zeros(0, np.int64), "station_area": np.zeros(0, np.int64)}
    return {"point_area": area_index(dx, dy, areas), "station_area": area_index(sx, sy, areas)}


def demand_groups(dem: pd.DataFrame) -> NDArray[Any]:
    """Each point's worker group as text (``(none)`` where missing or without a ``group`` column)."""
    if "group" not in dem.columns:
        return np.full(len(dem), "(none)", dtype=object)
    return dem["group"].astype(object).where(dem["group"].notna(), "(none)").astype(str).to_numpy()


def coverage_by_group(groups: NDArray[Any], weight: NDArray[np.float64], times: PointTimes) -> pd.DataFrame:
    """The per-worker-group table (``groups``: :func:`demand_groups`), groups in sorted order."""
    gorder = sorted(set(groups.tolist()))
    by_group = aggregate_coverage(groups, gorder, weight, times, None)
    by_group.insert(0, "group", gorder)
    return by_group.drop(columns=["stations"])


def coverage_summary(
    network: Network, minutes: float, weight: NDArray[np.float64], times: PointTimes, st_snap: Snap
) -> CoverageSummary:
    """The headline figures of one coverage run (``st_snap``: where the stations joined)."""
    reach, snapped = times.reach, times.snapped
    rw = weight[reach]
    total = float(weight.sum())
    cov = float(weight[times.covered].sum())
    mins = times.minutes[reach]
    return CoverageSummary(
        mode=network.mode,
        minutes=float(minutes),
        stations=int(np.sum(st_snap.snapped)),
        demand_total=total,
        demand_covered=cov,
        covered_share=cov / total if total > 0 else float("nan"),
        mean_minutes=float(np.sum(rw * mins) / rw.sum()) if rw.sum() > 0 else float("nan"),
        median_minutes=weighted_quantile(mins, rw, 0.5),
        p95_minutes=weighted_quantile(mins, rw, 0.95),
        unreachable=float(weight[snapped & ~reach].sum()),
        unreachable_count=int(np.sum(snapped & ~reach)),
        unsnappable=float(weight[~snapped].sum()),
        unsnappable_count=int(np.sum(~snapped)),
        demand_count=int(weight.size),
        stations_unsnappable=int(np.sum(~st_snap.snapped)),
    )


def _warn_unsnappable(summary: CoverageSummary, snap_meters: float, mode: str) -> None:
    if summary.unsnappable_count:
        log.warning(
            "%d demand point(s) lie farther than %.0f m from the %s network (unsnappable)",
            summary.unsnappable_count, snap_meters, mode,
        )  # fmt: skip
    if summary.stations_unsnappable:
        log.warning(
            "%d station(s) lie farther than %.0f m from the %s network and serve nobody",
            summary.stations_unsnappable, snap_meters, mode,
        )  # fmt: skip


# ------------------------------------------------------------------------------------------ cutoffs
def ordinal(n: int) -> str:
    """``2`` → ``"2nd"``, ``3`` → ``"3rd"``, ``11`` → ``"11th"`` (column names of the N-th station)."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def cutoff_column(name: str, minutes: float, nth: int | None = None) -> str:
    """The column of a per-threshold figure: ``covered_share_5min``; with ``nth`` the share whose
    N-th nearest station is within the threshold: ``covered_share_2nd_5min``."""
    rank = f"_{ordinal(nth)}" if nth else ""
    return f"{name}{rank}_{minutes:g}min"


#: label cells (stations × 2 ends × nodes) one chunk of :func:`geo.network.nearest_k` may hold
_CHUNK_CELLS = 8_000_000
#: per (threshold, rank or None for the nearest) the points within the threshold
_Masks = dict[tuple[float, int | None], NDArray[np.bool_]]


@dataclass(frozen=True, eq=False)
class CutoffCoverage:
    """Coverage at several thresholds from ONE search, optionally with the N-th nearest station.

    Attributes
    ----------
    minutes : tuple of float
        The thresholds, increasing. The search ran to the largest (and on to the horizon).
    nth : int or None
        N when the N-th nearest distinct station was asked for (a fallback when the nearest is
        closed or full), else None.
    cutoffs : DataFrame
        One row per threshold: ``minutes``, ``demand_total``, ``demand_covered``, ``covered_share``
        and with ``nth`` ``demand_covered_nth``, ``covered_share_nth`` (weight and share of demand
        with N stations within the threshold).
    by_area, by_group : DataFrame
        The tables of :attr:`result` (:data:`AGG_COLUMNS`, at the largest threshold) plus, per
        threshold, ``demand_covered_<T>min`` and ``covered_share_<T>min`` (:func:`cutoff_column`)
        and with ``nth`` the same with the rank (``covered_share_2nd_5min``).
    demand : GeoDataFrame
        :attr:`CoverageResult.demand` (EPSG:4326) plus, with ``nth``, ``minutes_<N-th>`` (e.g.
        ``minutes_2nd``: minutes to the N-th nearest distinct station, NaN beyond the horizon) and
        ``station_<N-th>`` (its station_id).
    result : CoverageResult
        The single run at the largest threshold.
    """

    minutes: tuple[float, ...]
    nth: int | None
    cutoffs: pd.DataFrame
    by_area: pd.DataFrame
    by_group: pd.DataFrame
    demand: gpd.GeoDataFrame
    result: CoverageResult

    def cutoff_dicts(self) -> list[dict[str, Any]]:
        """The rows of :attr:`cutoffs` as JSON-ready dicts (NaN → None)."""
        return [{str(k): _num(v) if isinstance(v, float) else v for k, v in row.items()}
                for row in self.cutoffs.to_dict(orient="records")]


def nth_nearest(
    network: Network,
    stations: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame,
    *,
    nth: int = 2,
    horizon_minutes: float = 60.0,
    snap_meters: float = 300.0,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Minutes from every point to its ``nth`` nearest *distinct* station, and that station.

    The travel time is coverage's (module doc): a point leaves its edge at either reachable end or
    meets a station on its own edge directly. :func:`geo.network.nearest_k` gives every node its
    ``nth`` nearest stations (one limited search per station); a point's ``nth`` nearest station is
    then among those of its two exit nodes and the stations on its own edge (if a station is not
    among an exit's ``nth`` nearest, that exit already offers ``nth`` stations at least as near).

    Parameters
    ----------
    network : Network
    stations, points : GeoDataFrame
        Point frames (EPSG:4326; other CRS converted). Every station row counts (filter with
        :func:`select_stations`).
    nth : int
        N ≥ 1 (1 is the nearest station, as :func:`compute_coverage`).
    horizon_minutes : float
        Search limit; farther stations are not counted.
    snap_meters : float
        Snap limit for points and stations.

    Returns
    -------
    (minutes, station)
        ``(n_points,)`` minutes (NaN when fewer than ``nth`` stations lie within the horizon or the
        point is unsnappable) and the station's row position (-1 there).
    """
    from geo.checks import MAX_NTH, check_count
    from geo.network import nearest_k

    nth = check_count(nth, field="nth", minimum=1, maximum=MAX_NTH)
    st = frame_wgs84(stations, field="stations")
    sx, sy = point_xy(st, field="stations")
    px, py = point_xy(frame_wgs84(points, field="demand"), field="demand")
    limit = horizon_minutes * network.meters_per_minute
    chunk = int(np.clip(_CHUNK_CELLS // max(2 * network.n_nodes, 1), 1, 64))  # ≤ ~64 MB of labels a chunk
    node_i, node_min = nearest_k(
        network, sx, sy, k=nth, horizon_minutes=horizon_minutes, max_meters=snap_meters, chunk=chunk
    )
    node_m = np.where(np.isfinite(node_min), node_min * network.meters_per_minute, np.inf)
    pts = network.snap(px, py, max_meters=snap_meters)
    st_snap = network.snap(sx, sy, max_meters=snap_meters)
    point, station, meters = _point_candidates(pts, st_snap, node_i, node_m)
    return _nth_of(len(pts), point, station, meters, nth=nth, limit=limit, mpm=network.meters_per_minute)


def _point_candidates(
    pts: Snap, st: Snap, node_i: NDArray[np.int64], node_m: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """``(point, station, metres)`` of every candidate: each exit node's listed stations, and the
    stations on the point's own edge."""
    exit_node, exit_m = pts.exits()  # (P, 2)
    safe = np.maximum(exit_node, 0)
    k = node_i.shape[1]
    who = node_i[safe].reshape(len(pts), 2 * k)
    via = (exit_m[:, :, None] + node_m[safe]).reshape(len(pts), 2 * k)
    ok = (np.repeat(exit_node >= 0, k, axis=1)) & (who >= 0) & np.isfinite(via)
    point = np.broadcast_to(np.arange(len(pts))[:, None], ok.shape)[ok]
    i, j = same_edge_pairs(pts, st)
    direct = same_edge_meters(pts, i, st, j) if i.size else np.zeros(0)
    keep = np.isfinite(direct)
    return (np.concatenate([point, i[keep]]).astype(np.int64), np.concatenate([who[ok], j[keep]]),
            np.concatenate([via[ok], direct[keep]]))


def _nth_of(
    n_points: int,
    point: NDArray[np.int64],
    station: NDArray[np.int64],
    meters: NDArray[np.float64],
    *,
    nth: int,
    limit: float,
    mpm: float,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per point the ``nth`` smallest of its candidates' metres, each station counted once (its
    least metres), ties to the lower station index; minutes NaN / station -1 when fewer."""
    order = np.lexsort((meters, station, point))
    p, s, m = point[order], station[order], meters[order]
    first = np.ones(p.size, dtype=bool)
    first[1:] = (p[1:] != p[:-1]) | (s[1:] != s[:-1])
    p, s, m = p[first], s[first], m[first]
    order = np.lexsort((s, m, p))
    p, s, m = p[order], s[order], m[order]
    start = np.searchsorted(p, np.arange(n_points), side="left")
    count = np.bincount(p, minlength=n_points)
    has = (count >= nth) & (n_points > 0)
    at = np.where(has, start + nth - 1, 0)
    got = np.where(has, m[at] if m.size else np.inf, np.inf)
    got[got > limit] = np.inf
    who = np.where(np.isfinite(got), s[at] if s.size else -1, -1)
    return np.where(np.isfinite(got), got / mpm, np.nan), who.astype(np.int64)


def coverage_cutoffs(
    network: Network,
    stations: gpd.GeoDataFrame,
    demand: gpd.GeoDataFrame,
    *,
    minutes: Sequence[float] = (5.0, 10.0, 15.0),
    nth: int | None = None,
    horizon_minutes: float = 60.0,
    areas: gpd.GeoDataFrame | None = None,
    open_only: bool = True,
    open_at: datetime | None = None,
    amenities: Sequence[str] = (),
    snap_meters: float = 300.0,
) -> CutoffCoverage:
    """Coverage at every threshold of ``minutes`` from one search (and the ``nth`` nearest station).

    One :func:`compute_coverage` run at the largest threshold gives every point's minutes to its
    nearest station; the covered weight at a smaller threshold T is that of the points within T,
    exactly what a separate run at T counts. Parameters as :func:`compute_coverage`; ``minutes`` a
    sequence of thresholds (or a text ``"5,10,15"``), ``nth`` N ≥ 2 for the fallback question
    (:func:`nth_nearest`).

    Returns
    -------
    CutoffCoverage
    """
    from geo.checks import check_minutes_spec

    cuts = check_minutes_spec(minutes, field="minutes")
    result = compute_coverage(
        network, stations, demand, minutes=cuts[-1], horizon_minutes=horizon_minutes, areas=areas,
        open_only=open_only, open_at=open_at, amenities=amenities, snap_meters=snap_meters,
    )  # fmt: skip
    return cutoffs_of(result, cuts, nth=nth)


def cutoffs_of(
    result: CoverageResult, minutes: Sequence[float] | str, *, nth: int | None = None
) -> CutoffCoverage:
    """:class:`CutoffCoverage` at every threshold of ``minutes`` (each ≤ the result's horizon) from
    one :class:`CoverageResult`, without a new search for the nearest station; ``nth`` (≥ 2) adds
    the N-th nearest station (:func:`nth_nearest`, on the result's network and stations)."""
    from geo.checks import check_minutes_spec, check_nth

    cuts = check_minutes_spec(minutes, field="minutes")
    if cuts[-1] > result.horizon_minutes:
        raise InputError(f"minutes {cuts[-1]:g} exceed the result's horizon {result.horizon_minutes:g}",
                         field="minutes")
    nth = None if nth is None else check_nth(nth)
    network = result.network
    if network is None:
        raise InputError("this CoverageResult carries no network", field="result")
    mpm = network.meters_per_minute
    dem = result.demand
    meters = result.demand_meters
    if meters is None:
        meters = np.nan_to_num(dem["minutes"].to_numpy(dtype=np.float64) * mpm, nan=np.inf)
    weight = demand_weights(dem)
    masks: _Masks = {(t, None): np.asarray(meters <= t * mpm) for t in cuts}
    out = dem
    if nth is not None:
        nth_min, nth_st = nth_nearest(network, result.stations, dem, nth=nth,
                                      horizon_minutes=result.horizon_minutes, snap_meters=result.snap_meters)
        ids = _station_ids(result.stations)
        out = dem.copy()
        out[f"minutes_{ordinal(nth)}"] = nth_min
        out[f"station_{ordinal(nth)}"] = pd.Series([ids[i] if i >= 0 else None for i in nth_st],
                                                   index=out.index, dtype=object)
        nth_m = np.nan_to_num(nth_min * mpm, nan=np.inf)
        masks.update({(t, nth): np.asarray(nth_m <= t * mpm) for t in cuts})
    return CutoffCoverage(
        minutes=cuts, nth=nth, cutoffs=_cutoff_rows(cuts, nth, weight, masks),
        by_area=_cutoff_table(result.by_area, "area_code", _area_keys(dem), weight, masks),
        by_group=_cutoff_table(result.by_group, "group", _group_keys(dem), weight, masks),
        demand=out, result=result,
    )  # fmt: skip


def _area_keys(dem: pd.DataFrame) -> NDArray[Any]:
    if "area_code" not in dem.columns:
        return np.full(len(dem), OUTSIDE_AREAS, dtype=object)
    codes = dem["area_code"].astype(object)
    return codes.where(codes.notna(), OUTSIDE_AREAS).astype(str).to_numpy()


def _group_keys(dem: pd.DataFrame) -> NDArray[Any]:
    if "group" not in dem.columns:
        return np.full(len(dem), "(none)", dtype=object)
    return dem["group"].astype(object).where(dem["group"].notna(), "(none)").astype(str).to_numpy()


def _cutoff_rows(
    cuts: tuple[float, ...], nth: int | None, weight: NDArray[np.float64],
    masks: _Masks,
) -> pd.DataFrame:
    total = float(weight.sum())
    rows = []
    for t in cuts:
        row: dict[str, Any] = {"minutes": float(t), "demand_total": total}
        for rank, tag in ((None, ""), (nth, "_nth")):
            if (t, rank) in masks:
                cov = float(weight[masks[(t, rank)]].sum())
                row[f"demand_covered{tag}"] = cov
                row[f"covered_share{tag}"] = cov / total if total > 0 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _cutoff_table(
    base: pd.DataFrame, key: str, keys: NDArray[Any], weight: NDArray[np.float64], masks: _Masks
) -> pd.DataFrame:
    """``base`` plus ``demand_covered_<T>min`` / ``covered_share_<T>min`` per threshold (and rank),
    summed as :func:`aggregate_coverage` sums, so that each equals a separate run's figure exactly."""
    table = base.copy()
    sels = [keys == k for k in table[key].astype(str).tolist()]
    for (t, rank), mask in sorted(masks.items(), key=lambda kv: (kv[0][1] or 0, kv[0][0])):
        cov = np.array([float(weight[sel][mask[sel]].sum()) for sel in sels])
        total = np.array([float(weight[sel].sum()) for sel in sels])
        table[cutoff_column("demand_covered", t, rank)] = cov
        table[cutoff_column("covered_share", t, rank)] = [
            c / w if w > 0 else float("nan") for c, w in zip(cov.tolist(), total.tolist(), strict=True)]
    return table

# ------------------------------------------------------------------------------------------ areas
def _reached_lines(network: Network, node_m: NDArray[np.float64], budget_m: float) -> NDArray[np.object_]:
    """Street pieces from which the station set is reachable within ``budget_m``.

    A point on arc u→v at distance x from u reaches a station in (len - x) + d(v) metres, so the
    reached piece is the last ``budget - d(v)`` metres of the arc (straight between OSM nodes).
    """
    t = network.tails
    h = network.indices
    dv = node_m[h]
    ok = dv <= budget_m
    t, h, ln, dv = t[ok], h[ok], network.length_m[ok], dv[ok]
    frac = np.where(ln > 0, np.clip(1.0 - (budget_m - dv) / np.where(ln > 0, ln, 1.0), 0.0, 1.0), 0.0)
    x0 = network.lon[t] + frac * (network.lon[h] - network.lon[t])
    y0 = network.lat[t] + frac * (network.lat[h] - network.lat[t])
    coords = np.stack([np.column_stack([x0, y0]), np.column_stack([network.lon[h], network.lat[h]])], axis=1)
    return np.asarray(shapely.linestrings(coords), dtype=object)


def _buffer_union(lines: Sequence[Any], buffer_meters: float, utm: Any) -> Any:
    if len(lines) == 0:
        return shapely.Polygon()
    g = gpd.GeoSeries(list(lines), crs=WGS84).to_crs(utm)
    # Buffer every piece, then union the polygons: the same area as buffering the noded union of
    # the lines, ~15x faster (noding thousands of overlapping two-point lines dominates otherwise).
    poly = shapely.union_all(shapely.buffer(g.values, buffer_meters, quad_segs=4))
    return gpd.GeoSeries([poly], crs=utm).to_crs(WGS84).iloc[0]


def service_areas(
    network: Network,
    stations: gpd.GeoDataFrame,
    *,
    minutes: float = 15.0,
    buffer_meters: float = 30.0,
    snap_meters: float = 300.0,
) -> gpd.GeoDataFrame:
    """Per-station service areas: the street pieces from which the station is reachable within
    ``minutes`` (worker → station, same definition as coverage), buffered by ``buffer_meters`` in the
    local UTM CRS and returned in EPSG:4326. Not convex hulls.

    Returns
    -------
    GeoDataFrame
        ``station_id``, ``minutes``, ``snapped``, ``street_km`` (reached street length, each
        direction counted), ``area_km2`` and the (Multi)Polygon geometry (empty when unsnappable).
    """
    if not (np.isfinite(minutes) and minutes > 0):
        raise InputError(f"minutes must be a positive number, got {minutes!r}", field="minutes")
    if not (np.isfinite(buffer_meters) and buffer_meters > 0):
        raise InputError(f"buffer_meters must be positive, got {buffer_meters!r}", field="buffer_meters")
    st = frame_wgs84(stations, field="stations")
    sx, sy = point_xy(st, field="stations")
    snap = network.snap(sx, sy, max_meters=snap_meters)
    budget = minutes * network.meters_per_minute
    utm = _utm_of(network)
    rows = []
    geoms = []
    for i, sid in enumerate(_station_ids(st)):
        row = {"station_id": sid, "minutes": float(minutes), "snapped": bool(snap.snapped[i])}
        row["street_km"] = 0.0
        lines = _station_lines(network, snap.take([i]), sx[i : i + 1], sy[i : i + 1], budget)
        geoms.append(_buffer_union(lines, buffer_meters, utm) if lines else shapely.Polygon())
        if lines:
            row["street_km"] = float(gpd.GeoSeries(lines, crs=WGS84).to_crs(utm).length.sum()) / 1000.0
        rows.append(row)
    frame = (
        gpd.GeoDataFrame(rows, geometry=geoms, crs=WGS84)
        if rows
        else gpd.GeoDataFrame(
            {"station_id": [], "minutes": [], "snapped": [], "street_km": []}, geometry=[], crs=WGS84
        )
    )
    frame["area_km2"] = frame.geometry.to_crs(utm).area / 1e6 if len(frame) else []
    return frame


def _utm_of(network: Network) -> Any:
    if network.n_nodes == 0:
        return WGS84
    return gpd.GeoSeries(gpd.points_from_xy(network.lon, network.lat), crs=WGS84).estimate_utm_crs()


def _station_lines(
    network: Network, snap: Snap, sx: NDArray[np.float64], sy: NDArray[np.float64], budget_m: float
) -> list[Any]:
    """The street pieces from which one station is reachable within ``budget_m``: a search from
    the ends of its edge, the reached parts of every arc, and its own edge and straight line."""
    if not snap.snapped.all() or not snap.meters[0] <= budget_m:
        return []
    src_node, src_off, _ = sources_of(snap)
    d, _ = network.offset_search.run(src_node, src_off, limit_m=budget_m)
    return [*_reached_lines(network, d, budget_m), *_own_edge_lines(network, snap, sx, sy, budget_m)]


def _own_edge_lines(
    network: Network, snap: Snap, sx: NDArray[np.float64], sy: NDArray[np.float64], budget_m: float
) -> list[Any]:
    """Per snapped station within the budget: the straight line to its projection and the parts of
    its own edge from which the projection is reached directly (upstream along tail → head, and
    along head → tail where the edge is two-way)."""
    px, py = snap.lonlat(network)
    lines: list[Any] = []
    for k in np.flatnonzero(snap.snapped & (snap.meters <= budget_m)).tolist():
        u, v, t = int(snap.tail[k]), int(snap.head[k]), float(snap.fraction[k])
        rest = budget_m - float(snap.meters[k])
        lines.append(shapely.LineString([(sx[k], sy[k]), (px[k], py[k])]))
        forward, backward = float(snap.length_m[k]), float(snap.reverse_length_m[k])
        ends = [max(0.0, t - rest / forward) if forward > 0 else 0.0]
        if np.isfinite(backward):
            ends.append(min(1.0, t + rest / backward) if backward > 0 else 1.0)
        for f in ends:
            q = (network.lon[u] + f * (network.lon[v] - network.lon[u]),
                 network.lat[u] + f * (network.lat[v] - network.lat[u]))  # fmt: skip
            lines.append(shapely.LineString([(px[k], py[k]), q]))
    return lines


def covered_area(
    result_or_network: CoverageResult | Network,
    stations: gpd.GeoDataFrame | None = None,
    *,
    minutes: float | None = None,
    buffer_meters: float = 30.0,
    snap_meters: float = 300.0,
) -> gpd.GeoDataFrame:
    """The union of all service areas, computed from one multi-source pass.

    Pass a :class:`CoverageResult` (its network, stations and threshold are used) or a
    :class:`Network` plus a stations frame (all rows count; filter with :func:`select_stations`).

    Returns
    -------
    GeoDataFrame
        One row (EPSG:4326): ``minutes``, ``stations``, ``area_km2`` and the (Multi)Polygon.
    """
    if isinstance(result_or_network, CoverageResult):
        network = result_or_network.network
        if network is None:
            raise InputError("this CoverageResult carries no network", field="result")
        t = float(minutes if minutes is not None else result_or_network.summary.minutes)
        if t > result_or_network.horizon_minutes:
            raise InputError(
                f"minutes {t} exceed the result's horizon {result_or_network.horizon_minutes}",
                field="minutes",
            )
        node_m = np.where(
            np.isfinite(result_or_network.node_minutes),
            result_or_network.node_minutes * network.meters_per_minute,
            np.inf,
        )
        st = result_or_network.stations[result_or_network.stations["snapped"].to_numpy(dtype=bool)]
        sx, sy = point_xy(st, field="stations")
        snap = network.snap(sx, sy, max_meters=np.inf)
    elif isinstance(result_or_network, Network):
        network = result_or_network
        if stations is None:
            raise InputError("covered_area(network, stations): stations are missing", field="stations")
        t = float(minutes if minutes is not None else 15.0)
        st = frame_wgs84(stations, field="stations")
        sx, sy = point_xy(st, field="stations")
        node_m, _, snap = node_pass(network, sx, sy, horizon_minutes=t, snap_meters=snap_meters)
        keep = snap.snapped
        sx, sy, snap = sx[keep], sy[keep], snap.take(keep)
    else:
        raise InputError("covered_area needs a CoverageResult or a Network", field="result")
    if not (np.isfinite(t) and t > 0):
        raise InputError(f"minutes must be positive, got {t!r}", field="minutes")
    budget = t * network.meters_per_minute
    lines = [*_reached_lines(network, node_m, budget), *_own_edge_lines(network, snap, sx, sy, budget)]
    utm = _utm_of(network)
    geom = _buffer_union(lines, buffer_meters, utm)
    frame = gpd.GeoDataFrame({"minutes": [t], "stations": [len(snap)]}, geometry=[geom], crs=WGS84)
    frame["area_km2"] = frame.geometry.to_crs(utm).area / 1e6
    return frame
