"""Precomputed per-node nearest-station tables for ``GET /nearest``.

For each (mode, set of matching stations) the table is :func:`geo.network.nearest_k` over those
stations: for every network node the ``max_k`` nearest stations by travel time (worker at the node →
station, the coverage engine's definition). A request then costs one edge snap
(:meth:`geo.network.Network.snap`, the same snapping as coverage), the rows of the (up to two) end
nodes by which the point leaves its edge, a check of the stations on its own edge, and the short
paths to the stations it returns.

The stations of the registry are held in memory with the registry version they were read at;
every request compares :func:`geo.db.repository.registry_version` and, when a station changed,
reloads them and drops every table. Tables are kept per *set of matching stations*, so filters that
select the same stations (``open_now`` during the same opening period, for instance) share one table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo._graph import predecessor_path
from geo.errors import InputError, NotFoundError, UnsnappableError
from geo.snapping import Snap, same_edge_meters, same_edge_pairs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StationSnapshot:
    """The registry's stations at one version (WGS-84), positions 0..n-1."""

    version: int
    frame: Any  # GeoDataFrame, index 0..n-1
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    amenities: tuple[frozenset[str], ...]
    opening_hours: tuple[str | None, ...]
    features: tuple[dict[str, Any], ...] = ()  # WGS-84 GeoJSON Feature of each station, built once


@dataclass(frozen=True)
class NearestTable:
    """``nearest_k`` over a subset of a snapshot's stations on one network."""

    positions: NDArray[np.int64]  # snapshot positions of the matching stations
    station_index: NDArray[np.int64]  # (n_nodes, k) positions into ``positions`` (-1: none)
    minutes: NDArray[np.float64]  # (n_nodes, k) node → station minutes (NaN: none)
    station_snap: Snap  # where every matching station joins the network (its edge position)


@dataclass(frozen=True)
class Hit:
    """One station found for a query point."""

    position: int  # snapshot position
    minutes: float
    meters: float
    route: NDArray[np.float64]  # (n, 2) WGS-84 lon, lat from the query point to the station


class NearestIndex:
    """Per-node nearest-station tables per mode and filter, invalidated on registry changes.

    Parameters
    ----------
    networks : dict
        Mode → :class:`geo.network.Network`.
    horizon_minutes : float
        Search limit of the tables; stations farther away are not returned.
    max_k : int
        Stations kept per node (the largest ``k`` a request may ask for).
    max_tables : int
        Tables kept (least recently used dropped first).
    check_seconds : float
        How often the registry version is read from the store (0: on every request). Writes made
        through this API call :meth:`mark_stale`, so they are seen by the very next request; other
        writers (CLI imports, other API processes) within ``check_seconds``.
    """

    def __init__(
        self,
        networks: dict[str, Any],
        *,
        horizon_minutes: float,
        max_k: int,
        max_tables: int = 32,
        check_seconds: float = 0.0,
    ) -> None:
        self.networks = networks
        self.horizon_minutes = float(horizon_minutes)
        self.max_k = int(max_k)
        self.max_tables = int(max_tables)
        self._snapshot: StationSnapshot | None = None
        self._tables: OrderedDict[tuple[str, str], NearestTable] = OrderedDict()
        self._lock = threading.Lock()
        self._build_locks: dict[tuple[str, str], threading.Lock] = {}
        self._matches: OrderedDict[tuple[int, frozenset[str], dt.datetime | None], NDArray[np.int64]] = (
            OrderedDict()
        )
        self.builds = 0  # tables built so far (observability, tests)
        self.check_seconds = float(check_seconds)
        self._checked_at = -float("inf")

    def mark_stale(self) -> None:
        """Make the next request read the registry version (call after a write)."""
        self._checked_at = -float("inf")

    def needs_check(self) -> bool:
        """Whether the next request must read the registry version from the store."""
        return self._snapshot is None or time.monotonic() - self._checked_at >= self.check_seconds

    def clear(self) -> None:
        """Forget the stations and every table (the next request reloads)."""
        with self._lock:
            self._checked_at = -float("inf")
            self._snapshot = None
            self._tables.clear()
            self._build_locks.clear()
            self._matches.clear()

    def current(self) -> StationSnapshot:
        """The snapshot held now, without reading the registry version (see :meth:`needs_check`)."""
        snap = self._snapshot
        if snap is None:
            raise RuntimeError("no station snapshot yet: call snapshot(session) first")
        return snap

    def is_warm(
        self,
        snap: StationSnapshot,
        mode: str,
        *,
        amenities: Sequence[str] = (),
        at: dt.datetime | None = None,
    ) -> bool:
        """Whether :meth:`query` would find its matching stations and table cached (no build)."""
        minute = None if at is None else at.replace(second=0, microsecond=0)
        with self._lock:
            positions = self._matches.get((snap.version, frozenset(amenities), minute))
            if positions is None:
                return False
            return self._table_key(mode, snap, positions) in self._tables

    @staticmethod
    def _table_key(mode: str, snap: StationSnapshot, positions: NDArray[np.int64]) -> tuple[str, str]:
        """A table depends only on the network and the matching stations' points: keyed by those
        (not by the registry version), a write that moves no station (a PATCH of a phone number, a
        rename) keeps every table, and /nearest does not rebuild them (hardening, #15)."""
        digest = hashlib.blake2b(positions.tobytes(), digest_size=16)
        digest.update(snap.lon[positions].tobytes())
        digest.update(snap.lat[positions].tobytes())
        return (mode, digest.hexdigest())

    # ------------------------------------------------------------------ stations
    def snapshot(self, session: Any) -> StationSnapshot:
        """The stations at the registry's current version (reloaded when it changed)."""
        from api.routes._geojson import features
        from geo.db import repository

        snap = self._snapshot
        if snap is not None and not self.needs_check():
            return snap
        checked = time.monotonic()
        version = int(repository.registry_version(session))
        if snap is not None and snap.version == version:
            self._checked_at = checked
            return snap
        frame = repository.stations_frame(session).reset_index(drop=True)
        new = StationSnapshot(
            version=version,
            frame=frame,
            lon=np.asarray(frame.geometry.x, dtype=np.float64),
            lat=np.asarray(frame.geometry.y, dtype=np.float64),
            amenities=tuple(frozenset(a or ()) for a in frame["amenities"]),
            opening_hours=tuple(None if _missing(h) else str(h) for h in frame["opening_hours"]),
            features=tuple(features(frame, id_column="station_id")),
        )
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                logger.info("registry version %s: %d stations", version, len(frame))
                self._snapshot = new  # tables stay: keyed by station points (see _table_key)
                self._matches.clear()
            self._checked_at = checked
            return self._snapshot

    def matching(
        self, snap: StationSnapshot, *, amenities: Sequence[str] = (), at: dt.datetime | None = None
    ) -> NDArray[np.int64]:
        """Snapshot positions of the stations that count: :func:`geo.coverage.select_stations` with
        ``open_only=True``, the amenities and, if given, open at ``at`` (the coverage engine's rule;
        stations without opening hours are not known to be open). Cached per minute."""
        from geo.coverage import select_stations

        minute = None if at is None else at.replace(second=0, microsecond=0)
        key = (snap.version, frozenset(amenities), minute)
        with self._lock:
            found = self._matches.get(key)
        if found is not None:
            return found
        if len(snap.frame) == 0:
            positions = np.empty(0, dtype=np.int64)
        else:
            kept = select_stations(snap.frame, open_only=True, open_at=minute, amenities=tuple(amenities))
            positions = np.asarray(kept.index, dtype=np.int64)
        with self._lock:
            self._matches[key] = positions
            while len(self._matches) > 256:
                self._matches.popitem(last=False)
        return positions

    # ------------------------------------------------------------------ tables
    def table(self, mode: str, snap: StationSnapshot, positions: NDArray[np.int64]) -> NearestTable:
        """The table of ``positions`` on the ``mode`` network (built once, then cached)."""
        from geo.network import nearest_k

        key = self._table_key(mode, snap, positions)
        with self._lock:
            found = self._tables.get(key)
            if found is not None:
                self._tables.move_to_end(key)
                return found
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        with build_lock:  # one thread builds, the others wait for it
            with self._lock:
                found = self._tables.get(key)
            if found is not None:
                return found
            net = self.networks[mode]
            lon, lat = snap.lon[positions], snap.lat[positions]
            k = max(1, min(self.max_k, int(positions.size)))
            if positions.size:
                idx, minutes = nearest_k(net, lon, lat, k=k, horizon_minutes=self.horizon_minutes)
            else:
                idx = np.full((net.n_nodes, 1), -1, dtype=np.int64)
                minutes = np.full((net.n_nodes, 1), np.nan)
            built = NearestTable(positions, idx, minutes, net.snap(lon, lat))
            self.builds += 1
            with self._lock:
                self._tables[key] = built
                while len(self._tables) > self.max_tables:
                    self._tables.popitem(last=False)
                self._build_locks.pop(key, None)
            return built

    # ------------------------------------------------------------------ queries
    def query(
        self,
        source: Any,
        mode: str,
        lon: float,
        lat: float,
        *,
        k: int,
        amenities: Sequence[str] = (),
        at: dt.datetime | None = None,
        snap_max_meters: float = 300.0,
    ) -> tuple[StationSnapshot, list[Hit], float]:
        """The ``k`` nearest matching stations of a WGS-84 point by travel time.

        ``source`` is a database session (the snapshot is checked against the registry version) or a
        :class:`StationSnapshot` already checked. Returns the snapshot (for the station rows), the
        hits sorted by minutes and the snap distance of the query point in metres.

        Raises
        ------
        UnsnappableError
            If the point is farther than ``snap_max_meters`` from the network.
        """
        if not 1 <= k <= self.max_k:
            raise InputError(f"k must be between 1 and {self.max_k}, got {k}", field="k")
        net = self.networks[mode]
        point = net.snap(lon, lat, max_meters=snap_max_meters)
        offset_m = float(point.meters[0])
        if not point.snapped[0]:
            where = f"{offset_m:.0f} m" if np.isfinite(offset_m) else "too far"
            raise UnsnappableError(
                f"the point ({lon:.6f}, {lat:.6f}) is {where} from the {mode} network, "
                f"beyond the snap limit of {snap_max_meters:.0f} m",
                field="lon",
            )
        snap = source if isinstance(source, StationSnapshot) else self.snapshot(source)
        positions = self.matching(snap, amenities=amenities, at=at)
        table = self.table(mode, snap, positions)
        chosen = _candidates(table, point, float(net.meters_per_minute), k)
        if not chosen:
            return snap, [], offset_m
        hits = _routes(net, point, table, snap, chosen, (lon, lat))
        return snap, hits, offset_m


def _candidates(table: NearestTable, point: Snap, mpm: float, k: int) -> list[tuple[int, float]]:
    """The ``k`` nearest stations of a snapped point, ``(local station, metres)`` by metres: the
    table rows of the (up to two) end nodes the point leaves its edge by, each plus the way there,
    and any station on the point's own edge reached directly. The union holds the true k nearest: a
    station missing from an end's row is beaten there by k others."""
    best: dict[int, float] = {}
    nodes, exit_m = point.exits()
    for node, meters in zip(nodes[0].tolist(), exit_m[0].tolist(), strict=True):
        if node < 0:
            continue
        for j in range(table.station_index.shape[1]):
            local = int(table.station_index[node, j])
            if local < 0:
                break
            total = float(table.minutes[node, j]) * mpm + meters
            best[local] = min(best.get(local, np.inf), total)
    at_point, on_edge = same_edge_pairs(point, table.station_snap)
    direct_m = same_edge_meters(point, at_point, table.station_snap, on_edge)
    for local, direct in zip(on_edge.tolist(), direct_m.tolist(), strict=True):
        if np.isfinite(direct):
            best[local] = min(best.get(local, np.inf), direct)
    return sorted(best.items(), key=lambda item: (item[1], item[0]))[:k]


def _routes(
    net: Any,
    point: Snap,
    table: NearestTable,
    snap: StationSnapshot,
    chosen: list[tuple[int, float]],
    lonlat: tuple[float, float],
) -> list[Hit]:
    """One limited search from the ends of the point's edge gives the paths to all chosen stations;
    a station on the point's own edge reached directly is joined along the edge."""
    mpm = float(net.meters_per_minute)
    start, start_m = point.exits()
    ok = start[0] >= 0
    pred = np.empty(net.n_nodes, dtype=np.int64)
    found = net.forward_search.run_within(
        start[0][ok], start_m[0][ok], limit_m=max(m for _, m in chosen) * (1 + 1e-9) + 1.0,
        max_settled=None, pred=pred,
    )  # fmt: skip
    assert found is not None  # no budget
    dist = found[0]
    plon, plat = point.lonlat(net)
    hits: list[Hit] = []
    for local, meters in chosen:
        st = table.station_snap.take([local])
        slon, slat = st.lonlat(net)
        pos = int(table.positions[local])
        ends, end_m = st.entries()
        via = np.where(ends[0] >= 0, dist[np.maximum(ends[0], 0)] + end_m[0], np.inf)
        inner: list[tuple[float, float]] = []  # empty: the direct way along the shared edge
        if float(via.min()) <= meters * (1 + 1e-9) + 1e-6:
            path = _path_from(pred, start[0][ok], int(ends[0][int(np.argmin(via))]))
            if path is None:
                raise NotFoundError(f"no path to station {pos}", field="lon")
            inner = list(zip(net.lon[path].tolist(), net.lat[path].tolist(), strict=True))
        line = [lonlat, (float(plon[0]), float(plat[0])), *inner, (float(slon[0]), float(slat[0]))]
        line.append((float(snap.lon[pos]), float(snap.lat[pos])))
        hits.append(Hit(position=pos, minutes=meters / mpm, meters=meters, route=np.asarray(line)))
    return hits


def _path_from(pred: NDArray[np.int64], starts: NDArray[np.int64], dst: int) -> list[int] | None:
    for src in starts.tolist():
        path = predecessor_path(pred, int(src), dst)
        if path is not None:
            return path
    return None


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
