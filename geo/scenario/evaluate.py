"""Coverage of a scenario, kept up to date action by action (what-if in milliseconds).

A :class:`ScenarioEvaluator` holds, for one network, base station list, demand and threshold, the
per-node labels of its last evaluation (:class:`geo.scenario.whatif.IncrementalLabels`). Asked for a
scenario whose actions extend the ones it evaluated last, it applies only the new ones:

- ``add``: a bounded search from the new station that improves labels;
- ``close``: re-labels only the nodes the station served, from the boundary of their region;
- ``relocate``: close + add under the same station number;
- ``hours`` / ``amenities``: no search (the evaluation counts every open station, without an
  opening-time or amenity filter, so these never change the open set).

Any other scenario (an action removed or changed, another base) gets a full pass. Station *numbers*
are row positions in :func:`geo.scenario.plan.apply_actions`' frame (base rows first, added ones
appended in action order, closed rows kept), so they never change as actions are appended, and
their order is the row order :func:`geo.coverage.compute_coverage` breaks ties by (lowest first).

The result is a :class:`geo.coverage.CoverageResult` with the same summary, per-area, per-group and
per-point figures as ``compute_coverage`` on the scenario's stations (``tests/geo/test_scenario_
evaluate.py`` checks both against each other and the incremental path against a fresh pass, exactly).
Its ``stations`` frame carries ``node``, ``snap_meters`` and ``snapped`` but not the
minutes to the nearest neighbour. All frames are EPSG:4326; distances metres, times minutes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo.areas import area_index
from geo.checks import check_minutes
from geo.coverage import (
    AGG_COLUMNS,
    OUTSIDE_AREAS,
    CoverageResult,
    CoverageSummary,
    select_stations,
    weighted_quantile,
)
from geo.errors import InputError
from geo.network import Network
from geo.scenario.plan import Action, Scenario, apply_actions
from geo.scenario.whatif import IncrementalLabels, StationSources
from geo.snapping import Snap, point_meters, sources_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationStep:
    """How a result was reached: a full pass, or ``incremental`` with ``actions_applied`` new actions;
    ``labels_processed`` counts the node labels the search(es) settled."""

    incremental: bool
    actions_applied: int
    labels_processed: int


@dataclass(frozen=True)
class _Times:
    minutes: NDArray[np.float64]
    station: NDArray[np.int64]
    reach: NDArray[np.bool_]
    covered: NDArray[np.bool_]
    snapped: NDArray[np.bool_]


class ScenarioEvaluator:
    """Coverage of scenarios on one network, base and demand, re-evaluated incrementally.

    Parameters
    ----------
    network : Network
        The mode's network.
    base : GeoDataFrame
        The canonical stations the scenarios start from (EPSG:4326; not mutated).
    demand : GeoDataFrame
        Canonical demand points (``demand_id``, ``group``, ``weight``), EPSG:4326.
    minutes, horizon_minutes, areas, snap_meters
        As :func:`geo.coverage.compute_coverage`.

    Calls are serialised by :attr:`lock` (the labels are updated in place).
    """

    def __init__(
        self,
        network: Network,
        base: gpd.GeoDataFrame,
        demand: gpd.GeoDataFrame,
        *,
        minutes: float = 15.0,
        horizon_minutes: float = 60.0,
        areas: gpd.GeoDataFrame | None = None,
        snap_meters: float = 300.0,
    ) -> None:
        if not isinstance(network, Network):
            raise InputError(
                f"network must be a geo.network.Network, got {type(network).__name__}", field="network"
            )
        self.minutes = check_minutes(minutes)
        if not (np.isfinite(horizon_minutes) and horizon_minutes >= self.minutes):
            raise InputError(
                f"horizon_minutes must be a number ≥ minutes ({self.minutes}), got {horizon_minutes!r}",
                field="horizon_minutes",
            )
        self.network = network
        self.horizon_minutes = float(horizon_minutes)
        self.snap_meters = float(snap_meters)
        self.base = _wgs84(base, "stations")
        self.demand = _wgs84(demand, "demand")
        self.weight = _weights(self.demand)
        self.dx, self.dy = _point_xy(self.demand, "demand")
        self.demand_snap = network.snap(self.dx, self.dy, max_meters=self.snap_meters)
        self.areas = None if areas is None else _checked_areas(areas)
        self.demand_area = None if self.areas is None else area_index(self.dx, self.dy, self.areas)
        self.labels = IncrementalLabels(
            network.offset_search,
            network.indptr,
            network.indices,
            limit_m=self.horizon_minutes * network.meters_per_minute,
        )
        self.lock = threading.Lock()
        self._applied: tuple[Action, ...] | None = None
        self._name: str | None = None

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, scenario: Scenario) -> tuple[CoverageResult, EvaluationStep]:
        """The coverage of ``scenario`` (incremental when its actions extend the last ones evaluated)."""
        with self.lock:
            frame = apply_actions(self.base, scenario)
            done = self._applied
            self._applied = None  # until the labels are in step again (an error leaves them half-done)
            new = scenario.actions[len(done) :] if done is not None else ()
            if done is not None and self._name == scenario.name and scenario.actions[: len(done)] == done:
                processed = self._apply(new, frame)
                step = EvaluationStep(True, len(new), processed)
            else:
                processed = self.labels.evaluate(self._sources_of_open(frame))
                step = EvaluationStep(False, len(scenario.actions), processed)
            sel = select_stations(frame, open_only=True)
            if set(self.labels.stations) != set(sel.index.tolist()):  # never expected: fall back
                log.warning("what-if labels out of step with scenario %r: full pass", scenario.name)
                processed = self.labels.evaluate(self._sources_of_open(frame))
                step = EvaluationStep(False, len(scenario.actions), processed)
            self._applied, self._name = scenario.actions, scenario.name
            result = self._result(sel)
        log.info(
            "scenario %r evaluated (%s, %d action(s), %d labels)",
            scenario.name,
            "incremental" if step.incremental else "full pass",
            step.actions_applied,
            step.labels_processed,
        )
        return result, step

    def _station_sources(self, lon: Any, lat: Any) -> list[StationSources]:
        """The search sources of stations at ``lon``/``lat`` (WGS-84), snapped as the pass snaps them."""
        snap = self.network.snap(
            np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), max_meters=self.snap_meters
        )
        nodes, offsets, station = sources_of(snap)
        return [
            StationSources(nodes[station == i].astype(np.int64), offsets[station == i])
            for i in range(len(snap))
        ]

    def _sources_of_open(self, frame: gpd.GeoDataFrame) -> dict[int, StationSources]:
        sel = select_stations(frame, open_only=True)
        sx, sy = _point_xy(sel, "stations")
        return dict(zip(sel.index.tolist(), self._station_sources(sx, sy), strict=True))

    def _apply(self, actions: Sequence[Action], frame: gpd.GeoDataFrame) -> int:
        """Apply ``actions`` to the labels (numbers = rows of ``frame``); returns labels processed."""
        number = {sid: i for i, sid in enumerate(frame["station_id"].astype(str))}
        processed = 0
        for action in actions:
            if action.kind == "add":
                sid = f"{self._name}:{action.seq}"
                processed += self.labels.add(
                    number[sid], *self._station_sources([action.lon], [action.lat])
                ).processed
            elif action.kind in ("close", "relocate"):
                k = number[str(action.station_id)]
                if k not in self.labels.stations:  # closed already, or never open: nothing served
                    continue
                if action.kind == "close":
                    processed += self.labels.close(k).processed
                else:
                    sources = self._station_sources([action.lon], [action.lat])[0]
                    processed += self.labels.relocate(k, sources).processed
        return processed

    # ------------------------------------------------------------------ the result
    def _result(self, sel: gpd.GeoDataFrame) -> CoverageResult:
        net = self.network
        sx, sy = _point_xy(sel, "stations")
        st_snap = net.snap(sx, sy, max_meters=self.snap_meters)
        rows = sel.index.to_numpy(dtype=np.int64)
        position = np.full(
            int(max(self.labels.owner.max(initial=-1), rows.max(initial=-1))) + 1, -1, dtype=np.int64
        )
        position[rows] = np.arange(len(sel))
        owner = self.labels.owner
        node_station = np.where(owner >= 0, position[owner], -1).astype(np.int64)
        node_m = self.labels.dist.copy()
        times = self._times(node_m, node_station, st_snap)
        demand = self.demand.copy()
        ids = sel["station_id"].tolist() if "station_id" in sel.columns else list(sel.index)
        demand["nearest_station"] = pd.Series(
            [ids[i] if i >= 0 else None for i in times.station], index=demand.index, dtype=object
        )
        demand["minutes"] = times.minutes
        demand["covered"] = times.covered
        demand["snapped"] = times.snapped
        demand["snap_meters"] = self.demand_snap.meters
        by_area = self._by_area(demand, sx, sy, times)
        stations = sel.copy()
        stations["node"] = st_snap.node
        stations["snap_meters"] = st_snap.meters
        stations["snapped"] = st_snap.snapped
        mpm = net.meters_per_minute
        return CoverageResult(
            summary=self._summary(times, st_snap),
            demand=demand,
            stations=stations,
            by_area=by_area,
            by_group=self._by_group(times),
            node_minutes=np.where(np.isfinite(node_m), node_m / mpm, np.nan),
            node_station=node_station,
            horizon_minutes=self.horizon_minutes,
            network=net,
        )

    def _times(self, node_m: NDArray[np.float64], node_station: NDArray[np.int64], st_snap: Snap) -> _Times:
        total_m, station = point_meters(self.demand_snap, node_m, node_station, st_snap)
        mpm = self.network.meters_per_minute
        reach = total_m <= self.labels.limit_m
        return _Times(
            minutes=np.where(reach, total_m / mpm, np.nan),
            station=np.where(reach, station, -1),
            reach=reach,
            covered=reach & (total_m <= self.minutes * mpm),
            snapped=self.demand_snap.snapped,
        )

    def _by_area(
        self, demand: gpd.GeoDataFrame, sx: NDArray[np.float64], sy: NDArray[np.float64], times: _Times
    ) -> pd.DataFrame:
        if self.areas is None or self.demand_area is None:
            return pd.DataFrame(columns=["area_code", "area_name", *AGG_COLUMNS])
        codes = self.areas["area_code"].astype(str).to_numpy()
        names = self.areas["area_name"].to_numpy()
        pa, sa = self.demand_area, area_index(sx, sy, self.areas)
        pt_code = np.where(pa >= 0, codes[np.maximum(pa, 0)], OUTSIDE_AREAS).astype(object)
        station_area = np.where(sa >= 0, codes[np.maximum(sa, 0)], OUTSIDE_AREAS).astype(object)
        demand["area_code"] = np.where(pa >= 0, codes[np.maximum(pa, 0)], None)
        demand["area_name"] = np.where(pa >= 0, names[np.maximum(pa, 0)], None)
        order = [*dict.fromkeys(codes.tolist()), OUTSIDE_AREAS]
        table = _aggregate(pt_code, order, self.weight, times, station_area)
        name_of = dict(zip(codes.tolist(), names.tolist(), strict=True))
        table.insert(0, "area_name", [name_of.get(c, OUTSIDE_AREAS) for c in order])
        table.insert(0, "area_code", order)
        return table

    def _by_group(self, times: _Times) -> pd.DataFrame:
        groups, order = self._groups
        table = _aggregate(groups, order, self.weight, times, None)
        table.insert(0, "group", order)
        return table.drop(columns=["stations"])

    @cached_property
    def _groups(self) -> tuple[NDArray[Any], list[Any]]:
        """Each point's worker group (``(none)`` when missing) and the groups in order (once)."""
        dem = self.demand
        groups = (
            dem["group"].astype(object).where(dem["group"].notna(), "(none)").astype(str).to_numpy()
            if "group" in dem.columns
            else np.full(len(dem), "(none)", dtype=object)
        )
        return groups, sorted(set(groups.tolist()))

    def _summary(self, times: _Times, st_snap: Snap) -> CoverageSummary:
        w, reach, snapped = self.weight, times.reach, times.snapped
        rw, mins = w[reach], times.minutes[reach]
        total, cov = float(w.sum()), float(w[times.covered].sum())
        return CoverageSummary(
            mode=self.network.mode,
            minutes=self.minutes,
            stations=int(np.sum(st_snap.snapped)),
            demand_total=total,
            demand_covered=cov,
            covered_share=cov / total if total > 0 else float("nan"),
            mean_minutes=float(np.sum(rw * mins) / rw.sum()) if rw.sum() > 0 else float("nan"),
            median_minutes=weighted_quantile(mins, rw, 0.5),
            p95_minutes=weighted_quantile(mins, rw, 0.95),
            unreachable=float(w[snapped & ~reach].sum()),
            unreachable_count=int(np.sum(snapped & ~reach)),
            unsnappable=float(w[~snapped].sum()),
            unsnappable_count=int(np.sum(~snapped)),
            demand_count=int(w.size),
            stations_unsnappable=int(np.sum(~st_snap.snapped)),
        )


def evaluate_scenario(
    network: Network,
    base: gpd.GeoDataFrame,
    scenario: Scenario,
    demand: gpd.GeoDataFrame,
    *,
    minutes: float = 15.0,
    horizon_minutes: float = 60.0,
    areas: gpd.GeoDataFrame | None = None,
    snap_meters: float = 300.0,
) -> CoverageResult:
    """One full evaluation of ``scenario`` on ``base`` (see :class:`ScenarioEvaluator`)."""
    evaluator = ScenarioEvaluator(
        network,
        base,
        demand,
        minutes=minutes,
        horizon_minutes=horizon_minutes,
        areas=areas,
        snap_meters=snap_meters,
    )
    return evaluator.evaluate(scenario)[0]


# ---------------------------------------------------------------------- helpers (the pass's rules)
def _aggregate(
    keys: NDArray[Any],
    order: list[Any],
    weight: NDArray[np.float64],
    times: _Times,
    station_keys: NDArray[Any] | None,
) -> pd.DataFrame:
    """The per-key rows of :data:`geo.coverage.AGG_COLUMNS`."""
    rows = []
    for key in order:
        sel = keys == key
        w, mins = weight[sel], times.minutes[sel]
        reach = np.isfinite(mins)
        total, cov = float(w.sum()), float(w[times.covered[sel]].sum())
        rw = w[reach]
        rows.append(
            {
                "demand_count": int(sel.sum()),
                "demand_total": total,
                "demand_covered": cov,
                "covered_share": cov / total if total > 0 else float("nan"),
                "uncovered": total - cov,
                "unreachable": float(w[times.snapped[sel] & ~reach].sum()),
                "unsnappable": float(w[~times.snapped[sel]].sum()),
                "mean_minutes": float(np.sum(rw * mins[reach]) / rw.sum()) if rw.sum() > 0 else float("nan"),
                "median_minutes": weighted_quantile(mins[reach], rw, 0.5),
                "p95_minutes": weighted_quantile(mins[reach], rw, 0.95),
                "stations": int(np.sum(station_keys == key)) if station_keys is not None else 0,
            }
        )
    return pd.DataFrame(rows, columns=list(AGG_COLUMNS))


def _wgs84(frame: Any, field: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{field} must be a GeoDataFrame, got {type(frame).__name__}", field=field)
    if frame.crs is None:
        return frame.set_crs("EPSG:4326")
    return frame if frame.crs.to_epsg() == 4326 else frame.to_crs("EPSG:4326")


def _checked_areas(areas: Any) -> gpd.GeoDataFrame:
    areas = _wgs84(areas, "areas")
    missing = sorted({"area_code", "area_name"} - set(areas.columns))
    if missing:
        raise InputError(f"areas frame lacks column(s) {', '.join(missing)}", field="areas")
    return areas


def _point_xy(frame: gpd.GeoDataFrame, field: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    geom = frame.geometry.values
    if len(geom) == 0:
        return np.zeros(0), np.zeros(0)
    if np.any(shapely.get_type_id(geom) != 0):
        raise InputError(f"{field} geometry must be points", field=field)
    return shapely.get_x(geom).astype(np.float64), shapely.get_y(geom).astype(np.float64)


def _weights(frame: pd.DataFrame) -> NDArray[np.float64]:
    if "weight" not in frame.columns:
        return np.ones(len(frame))
    w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = frame["weight"].iloc[i]
        raise InputError(f"demand weight must be a finite number ≥ 0; row {i} has {shown!r}", field="weight")
    return w


def check_action(base: gpd.GeoDataFrame, scenario: Scenario, action: Action) -> None:
    """Refuse an action naming a station that is not in ``base`` (InputError naming ``station_id``),
    before it is stored. (:func:`geo.scenario.plan.apply_actions` applies close, relocate, hours and
    amenities to base stations only.)"""
    from geo.errors import NotFoundError

    try:
        apply_actions(base, scenario.with_action(action))
    except NotFoundError as exc:
        raise InputError(
            f"station {action.station_id!r} is not in the base of scenario {scenario.name!r}",
            field="station_id",
        ) from exc
