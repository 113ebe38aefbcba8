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
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.areas import area_index
from geo.checks import check_minutes
from geo.coverage import (
    CoverageResult,
    PointTimes,
    checked_areas,
    coverage_by_area,
    coverage_by_group,
    coverage_summary,
    demand_groups,
    demand_weights,
    frame_wgs84,
    point_times,
    point_xy,
    select_stations,
)
from geo.errors import InputError
from geo.network import Network
from geo.scenario.plan import Action, Scenario, apply_actions
from geo.scenario.whatif import IncrementalLabels, StationSources
from geo.snapping import sources_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationStep:
    """How a result was reached: a full pass, or ``incremental`` with ``actions_applied`` new actions;
    ``labels_processed`` counts the node labels the search(es) settled."""

    incremental: bool
    actions_applied: int
    labels_processed: int


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
        self.base = frame_wgs84(base, field="stations")
        self.demand = frame_wgs84(demand, field="demand")
        self.weight = demand_weights(self.demand)
        self.groups = demand_groups(self.demand)
        self.dx, self.dy = point_xy(self.demand, field="demand")
        self.demand_snap = network.snap(self.dx, self.dy, max_meters=self.snap_meters)
        self.areas = checked_areas(areas)
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
        sx, sy = point_xy(sel, field="stations")
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
        sx, sy = point_xy(sel, field="stations")
        st_snap = net.snap(sx, sy, max_meters=self.snap_meters)
        rows = sel.index.to_numpy(dtype=np.int64)
        position = np.full(
            int(max(self.labels.owner.max(initial=-1), rows.max(initial=-1))) + 1, -1, dtype=np.int64
        )
        position[rows] = np.arange(len(sel))
        owner = self.labels.owner
        node_station = np.where(owner >= 0, position[owner], -1).astype(np.int64)
        node_m = self.labels.dist.copy()
        times = point_times(net, self.demand_snap, node_m, node_station, st_snap, minutes=self.minutes,
                            limit_m=self.labels.limit_m)
        demand = self.demand.copy()
        ids = sel["station_id"].tolist() if "station_id" in sel.columns else list(sel.index)
        demand["nearest_station"] = pd.Series(
            [ids[i] if i >= 0 else None for i in times.station], index=demand.index, dtype=object
        )
        demand["minutes"] = times.minutes
        demand["covered"] = times.covered
        demand["snapped"] = times.snapped
        demand["snap_meters"] = times.snap_meters
        by_area = self._by_area(demand, sx, sy, times)
        stations = sel.copy()
        stations["node"] = st_snap.node
        stations["snap_meters"] = st_snap.meters
        stations["snapped"] = st_snap.snapped
        mpm = net.meters_per_minute
        return CoverageResult(
            summary=coverage_summary(net, self.minutes, self.weight, times, st_snap),
            demand=demand,
            stations=stations,
            by_area=by_area,
            by_group=coverage_by_group(self.groups, self.weight, times),
            node_minutes=np.where(np.isfinite(node_m), node_m / mpm, np.nan),
            node_station=node_station,
            horizon_minutes=self.horizon_minutes,
            network=net,
        )

    def _by_area(self, demand: gpd.GeoDataFrame, sx: NDArray[np.float64], sy: NDArray[np.float64],
                 times: PointTimes) -> pd.DataFrame:
        if self.areas is None or self.demand_area is None:
            none = np.zeros(0, np.int64)
            return coverage_by_area(None, demand, self.weight, times, point_area=none, station_area=none)
        return coverage_by_area(self.areas, demand, self.weight, times, point_area=self.demand_area,
                                station_area=area_index(sx, sy, self.areas))


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
