"""Precomputed per-node nearest-station tables for ``GET /nearest``, kept up to date incrementally.

For each (mode, set of matching stations) the table is :func:`geo.network.nearest_k` over those
stations: for every network node the nearest stations by travel time (worker at the node →
station, the coverage engine's definition). A request then costs one edge snap
(:meth:`geo.network.Network.snap`, the same snapping as coverage), the rows of the (up to two) end
nodes by which the point leaves its edge, a check of the stations on its own edge, and the short
paths to the stations it returns.

Keeping up with the registry (issue #15: ``/nearest`` must not stall while stations are written)
------------------------------------------------------------------------------------------------
- The stations are held in a :class:`StationSnapshot` labelled with the registry version read
  *before* them. A refresh reads the registry version and, when it moved, every station's
  ``(id, version)`` (a station's version rises with every real change) and then only the rows that
  are new or changed; removed ids are dropped. Only those rows get a new GeoJSON feature.
- One thread refreshes at a time. A write through this API is taken in by its own thread before it
  answers (:meth:`NearestIndex.absorb_write`): it reads the change, prepares the tables of the
  filters used lately for the new stations and only then holds the new snapshot, so requests
  meanwhile answer from the previous one and none waits for a table another client's write needs;
  every request after the answer sees the write (read-your-writes). Should that fail, the write is
  announced (:meth:`NearestIndex.mark_stale`) and the next request waits for a refresh that
  started after it. A request that only finds the periodic check due does not wait for a refresh
  another thread is running.
- Tables are keyed by their stations' ids and points, so a change that moves no matching station
  (a phone number, a rename, a station that does not match the filter) keeps them as they are.
- A table has ``max_k + SLACK`` columns and, per node, a *depth*: how many leading entries are known
  to be the true nearest (or "complete": every station within the horizon is listed). When the
  matching stations change by a few (a station created, closed, reopened, moved, its amenities or
  hours edited), the new table is derived from the closest cached one: removed stations are taken
  out of the rows (a row's depth drops by one where one was among its trusted entries) and each added
  station's limited Dijkstra is merged into the rows it reaches. That is exact as long as every
  depth stays >= ``max_k`` (see :func:`_candidates` for why rows may hold further entries). When the
  slack runs low, a full rebuild of that table is started in a background thread and swapped in when
  done; requests keep using the derived one meanwhile.
- Every search runs in chunks of few stations, so no single call holds the GIL for long.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from geo._graph import predecessor_path
from geo.errors import InputError, NotFoundError, UnsnappableError
from geo.snapping import Snap, same_edge_meters, same_edge_pairs

logger = logging.getLogger(__name__)

#: extra columns per table row beyond ``max_k``: station removals a table absorbs before a rebuild
SLACK = 4
#: a row depth meaning "every station within the horizon is listed"
COMPLETE = np.iinfo(np.int32).max
#: most stations added to a cached table to derive another (beyond that: a full build)
MAX_ADDED = 32
#: stations per limited-Dijkstra call of a full build (each call holds the GIL)
BUILD_CHUNK = 4
#: a queued background rebuild runs only if its table is among this many most recently used
RECENT_TABLES = 4
#: a refresh reading more changed rows than this (or than a quarter of the stations) reads them all
MAX_CHANGED_ROWS = 256


@dataclass(frozen=True)
class StationSnapshot:
    """The registry's stations (WGS-84), positions 0..n-1 in ascending id, read at or after the
    registry ``version``."""

    version: int
    ids: NDArray[np.int64]
    row_versions: NDArray[np.int64]  # each station's own version
    records: tuple[dict[str, Any], ...]  # station dicts as geo.db.repository.station_rows gives them
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    statuses: tuple[str | None, ...]
    amenities: tuple[frozenset[str], ...]
    opening_hours: tuple[str | None, ...]
    features: tuple[dict[str, Any], ...]  # WGS-84 GeoJSON Feature of each station, built once
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def frame(self) -> Any:
        """The stations as a GeoDataFrame (EPSG:4326) with the columns :func:`geo.coverage.
        select_stations` reads (``station_id``, ``status``, ``amenities``, ``opening_hours``), index
        0..n-1; built on first use."""
        found = self._cache.get("frame")
        if found is None:
            import geopandas as gpd

            found = gpd.GeoDataFrame(
                {
                    "station_id": self.ids,
                    "status": list(self.statuses),
                    "amenities": [list(a) for a in self.amenities],
                    "opening_hours": list(self.opening_hours),
                },
                geometry=gpd.points_from_xy(self.lon, self.lat),
                crs="EPSG:4326",
            )
            self._cache["frame"] = found
        return found


def station_feature(record: dict[str, Any]) -> dict[str, Any]:
    """The WGS-84 GeoJSON Feature of one station dict, with the properties (and their JSON values) of
    ``features(records_to_frame([record], id_field="station_id"))``, built without a frame (the
    tests compare the two)."""
    from api.routes._geojson import json_value, point_coordinates
    from geo.stations import CANONICAL_COLUMNS, EXTRA_COLUMNS

    props: dict[str, Any] = {}
    for name in (*CANONICAL_COLUMNS, *EXTRA_COLUMNS, "created_at", "updated_at"):
        if name in ("created_at", "updated_at") and name not in record:
            continue
        props[name] = json_value(record.get(name))
    props["amenities"] = [json_value(a) for a in record.get("amenities") or []]
    area: Any = record.get("floor_area_m2")
    props["floor_area_m2"] = None if _missing(area) else json_value(float(area))
    seats: Any = record.get("seats")
    props["seats"] = None if _missing(seats) else int(seats)
    geometry = {"type": "Point", "coordinates": point_coordinates(float(record["lon"]), float(record["lat"]))}
    return {"type": "Feature", "id": props["station_id"], "geometry": geometry, "properties": props}


def snapshot_of(version: int, records: Sequence[dict[str, Any]]) -> StationSnapshot:
    """A snapshot of station dicts (any order; sorted by id here) labelled ``version``."""
    ordered = sorted(records, key=lambda r: int(r["station_id"]))
    return StationSnapshot(
        version=int(version),
        ids=np.array([int(r["station_id"]) for r in ordered], dtype=np.int64),
        row_versions=np.array([int(r.get("version") or 0) for r in ordered], dtype=np.int64),
        records=tuple(ordered),
        lon=np.array([float(r["lon"]) for r in ordered], dtype=np.float64),
        lat=np.array([float(r["lat"]) for r in ordered], dtype=np.float64),
        statuses=tuple(r.get("status") for r in ordered),
        amenities=tuple(frozenset(r.get("amenities") or ()) for r in ordered),
        opening_hours=tuple(None if _missing(r.get("opening_hours")) else str(r["opening_hours"])
                            for r in ordered),
        features=tuple(station_feature(r) for r in ordered),
    )  # fmt: skip


def patched_snapshot(
    old: StationSnapshot, version: int, changed: Sequence[dict[str, Any]], removed: Sequence[int]
) -> StationSnapshot:
    """``old`` with the ``changed`` station dicts put in (new or replacing the same id) and the
    ``removed`` ids taken out, labelled ``version``; unchanged stations keep their dicts and features."""
    drop = np.isin(old.ids, np.array([int(r["station_id"]) for r in changed] + [int(i) for i in removed],
                                     dtype=np.int64))  # fmt: skip
    keep = np.flatnonzero(~drop).tolist()
    fresh = snapshot_of(version, changed)
    ids = np.concatenate([old.ids[keep], fresh.ids])
    order = np.argsort(ids, kind="stable")
    merged: dict[str, Any] = {}
    for name in ("records", "statuses", "amenities", "opening_hours", "features"):
        items = [getattr(old, name)[i] for i in keep] + list(getattr(fresh, name))
        merged[name] = tuple(items[i] for i in order.tolist())
    for name in ("row_versions", "lon", "lat"):
        merged[name] = np.concatenate([getattr(old, name)[keep], getattr(fresh, name)])[order]
    return StationSnapshot(version=int(version), ids=ids[order], **merged)


@dataclass(frozen=True)
class NearestTable:
    """The nearest stations of every node among a set of stations on one network."""

    ids: NDArray[np.int64]  # the stations' ids, ascending (a station's local number is its place here)
    lon: NDArray[np.float64]  # their points (WGS-84)
    lat: NDArray[np.float64]
    station_index: NDArray[np.int64]  # (n_nodes, max_k + SLACK) local numbers, nearest first (-1: none)
    minutes: NDArray[np.float64]  # (n_nodes, max_k + SLACK) node → station minutes (NaN: none)
    depth: NDArray[np.int32]  # (n_nodes,) leading entries known to be the true nearest (COMPLETE: all)
    station_snap: Snap  # where every station joins the network (its edge position)

    @property
    def min_depth(self) -> int:
        return int(self.depth.min()) if self.depth.size else COMPLETE


@dataclass(frozen=True)
class Hit:
    """One station found for a query point."""

    position: int  # snapshot position
    minutes: float
    meters: float
    route: NDArray[np.float64]  # (n, 2) WGS-84 lon, lat from the query point to the station


def build_table(net: Any, ids: NDArray[np.int64], lon: NDArray[np.float64], lat: NDArray[np.float64], *,
                width: int, horizon_minutes: float, chunk: int = BUILD_CHUNK) -> NearestTable:
    """The table of these stations from scratch (:func:`geo.network.nearest_k`, ``chunk`` stations
    per search call)."""
    from geo.network import nearest_k

    if ids.size:
        idx, minutes = nearest_k(net, lon, lat, k=width, horizon_minutes=horizon_minutes, chunk=chunk)
    else:
        idx = np.full((net.n_nodes, width), -1, dtype=np.int64)
        minutes = np.full((net.n_nodes, width), np.nan)
    full = np.isfinite(minutes[:, -1])
    depth = np.where(full, width, COMPLETE).astype(np.int32)
    return NearestTable(ids, lon, lat, idx, minutes, depth, net.snap(lon, lat))


@dataclass(frozen=True)
class _Diff:
    """How a cached table's stations differ from a wanted set (a moved station is in both lists)."""

    kept_old: NDArray[np.int64]  # local numbers in the cached table of the stations kept...
    kept_new: NDArray[np.int64]  # ...and their local numbers in the wanted set
    removed: NDArray[np.int64]  # local numbers in the cached table
    added: NDArray[np.int64]  # local numbers in the wanted set

    @property
    def size(self) -> int:
        return int(self.removed.size + self.added.size)


def table_diff(table: NearestTable, ids: NDArray[np.int64], lon: NDArray[np.float64],
               lat: NDArray[np.float64]) -> _Diff:
    """The stations to take out of and put into ``table`` to get the set ``ids`` at ``lon``/``lat``."""
    _, ia, ib = np.intersect1d(table.ids, ids, assume_unique=True, return_indices=True)
    same = (table.lon[ia] == lon[ib]) & (table.lat[ia] == lat[ib])
    kept_old, kept_new = ia[same].astype(np.int64), ib[same].astype(np.int64)
    removed = np.setdiff1d(np.arange(table.ids.size), kept_old).astype(np.int64)
    added = np.setdiff1d(np.arange(ids.size), kept_new).astype(np.int64)
    return _Diff(kept_old, kept_new, removed, added)


def depth_after(table: NearestTable, removed: NDArray[np.int64]) -> NDArray[np.int32]:
    """Row depths once ``removed`` (local numbers) are taken out: one less per removed station among
    a row's trusted entries; complete rows stay complete."""
    if removed.size == 0:
        return table.depth
    gone = np.isin(table.station_index, removed)
    trusted = np.arange(table.station_index.shape[1])[None, :] < table.depth[:, None]
    lost = (gone & trusted).sum(axis=1).astype(np.int32)
    return np.where(table.depth == COMPLETE, COMPLETE, table.depth - lost).astype(np.int32)


def derive_table(
    net: Any, base: NearestTable, diff: _Diff, ids: NDArray[np.int64], lon: NDArray[np.float64],
    lat: NDArray[np.float64], *, horizon_minutes: float,
) -> NearestTable:
    """The table of ``ids`` from ``base``: ``diff.removed`` taken out of every row, then each added
    station's node minutes (one limited Dijkstra each, as in :func:`geo.network.nearest_k`) merged into
    the rows it reaches. Rows stay sorted by minutes; see the module docstring for the depths."""
    from geo.network import nearest_k

    width = base.station_index.shape[1]
    depth = depth_after(base, diff.removed).copy()
    renumber = np.full(base.ids.size, -1, dtype=np.int64)
    renumber[diff.kept_old] = diff.kept_new
    old = base.station_index
    valid = (old >= 0) & (renumber[np.maximum(old, 0)] >= 0)
    order = np.argsort(~valid, axis=1, kind="stable")  # kept entries first, in their order
    idx = np.take_along_axis(np.where(valid, renumber[np.maximum(old, 0)], -1), order, axis=1)
    minutes = np.take_along_axis(np.where(valid, base.minutes, np.nan), order, axis=1)
    if diff.added.size:
        add_idx, add_min = nearest_k(net, lon[diff.added], lat[diff.added], k=int(diff.added.size),
                                     horizon_minutes=horizon_minutes, chunk=1)
        reached = np.flatnonzero(np.isfinite(add_min[:, 0]))
        added = np.where(add_idx[reached] >= 0, diff.added[np.maximum(add_idx[reached], 0)], -1)
        cand_i = np.concatenate([idx[reached], added], axis=1)
        cand_m = np.concatenate([minutes[reached], add_min[reached]], axis=1)
        order = np.argsort(np.where(np.isnan(cand_m), np.inf, cand_m), axis=1, kind="stable")
        overflow = np.isfinite(cand_m).sum(axis=1) > width  # an entry falls off: no longer complete
        depth[reached] = np.where(overflow & (depth[reached] == COMPLETE), width, depth[reached])
        idx[reached] = np.take_along_axis(cand_i, order, axis=1)[:, :width]
        minutes[reached] = np.take_along_axis(cand_m, order, axis=1)[:, :width]
    return NearestTable(ids, lon, lat, idx, minutes, depth, net.snap(lon, lat))

class NearestIndex:
    """Per-node nearest-station tables per mode and filter, kept up to date with the registry.

    Parameters
    ----------
    networks : dict
        Mode → :class:`geo.network.Network`.
    horizon_minutes : float
        Search limit of the tables; stations farther away are not returned.
    max_k : int
        The largest ``k`` a request may ask for.
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
        self.width = self.max_k + SLACK
        self.max_tables = int(max_tables)
        self.check_seconds = float(check_seconds)
        self._snapshot: StationSnapshot | None = None
        self._tables: OrderedDict[tuple[str, str], NearestTable] = OrderedDict()
        self._lock = threading.Lock()  # guards the dicts and counters below
        self._refresh_lock = threading.Lock()  # one refresh at a time
        self._build_locks: dict[tuple[str, str], threading.Lock] = {}
        self._matches: OrderedDict[tuple[int, frozenset[str], dt.datetime | None], NDArray[np.int64]] = (
            OrderedDict()
        )
        self._recent: OrderedDict[tuple[str, frozenset[str], dt.datetime | None], None] = OrderedDict()
        self._written = 0  # writes announced by mark_stale
        self._seen = 0  # writes the held snapshot is known to include
        self._checked_at = -float("inf")
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nearest-rebuild")
        self._rebuilding: dict[tuple[str, str], Future[None]] = {}
        self.builds = 0  # tables built from scratch on a request (observability, tests)
        self.derived = 0  # tables derived from a cached one
        self.rebuilt = 0  # tables rebuilt in the background
        self.rows_read = 0  # station rows read by refreshes

    # ------------------------------------------------------------------ stations
    def mark_stale(self) -> None:
        """Announce a committed write: every later request sees it (read-your-writes)."""
        with self._lock:
            self._written += 1

    def absorb_write(self, session: Any) -> None:
        """After a committed write, in the writer's thread and before it answers: read the change,
        prepare the tables of the filters requests used lately for the new stations, then hold the
        new snapshot. Requests meanwhile answer from the previous snapshot (the write is not
        acknowledged yet), so none waits for a derivation another client's write caused; every
        request after the answer sees the write. Only filters whose table for the previous
        snapshot is held are prepared (the ones requests are using). If that fails, the write is
        announced instead (:meth:`mark_stale`) and the next request reads it."""
        with self._lock:
            started = self._written
        try:
            with self._refresh_lock:
                old = self._snapshot
                if old is None:
                    self.mark_stale()
                    return
                new = self._refreshed(session, old)
                if new is not old:
                    for mode, words, minute in self._recent_filters():
                        amenities = sorted(words)
                        if self.is_warm(old, mode, amenities=amenities, at=minute):  # in use now
                            self.table(mode, new, self.matching(new, amenities=amenities, at=minute))
                with self._lock:
                    if new is not old:
                        self._snapshot = new
                        self._carry_matches(old, new)
                    self._seen = max(self._seen, started)
                    self._checked_at = time.monotonic()
        except Exception:  # the previous path is always safe: the next request reads the change
            logger.exception("preparing /nearest after a write failed; the next request reads it")
            self.mark_stale()

    def _used(self, mode: str, amenities: Sequence[str], at: dt.datetime | None) -> None:
        minute = None if at is None else at.replace(second=0, microsecond=0)
        key = (mode, frozenset(amenities), minute)
        with self._lock:
            self._recent[key] = None
            self._recent.move_to_end(key)
            while len(self._recent) > RECENT_TABLES:
                self._recent.popitem(last=False)

    def _recent_filters(self) -> list[tuple[str, frozenset[str], dt.datetime | None]]:
        """The (mode, amenities, minute) of the latest queries, newest first."""
        with self._lock:
            return [key for key in reversed(self._recent) if key[0] in self.networks]

    def must_refresh(self) -> bool:
        """Whether the next request must wait for a refresh (no snapshot yet, or a write announced
        since the held snapshot was read)."""
        return self._snapshot is None or self._seen < self._written

    def needs_check(self) -> bool:
        """Whether the next request must read the registry version (a write announced, or the
        periodic check due)."""
        return self.must_refresh() or time.monotonic() - self._checked_at >= self.check_seconds

    def claim_check(self) -> bool:
        """Whether the periodic check is due; if so the caller is the one to make it
        (``snapshot(session, force_check=True)``), and other callers are told no for ``check_seconds``."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at < self.check_seconds:
                return False
            self._checked_at = now
            return True

    def clear(self) -> None:
        """Forget the stations and every table (the next request reloads)."""
        self.wait_background()
        with self._refresh_lock, self._lock:
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

    def snapshot(self, session: Any, *, force_check: bool = False) -> StationSnapshot:
        """The stations at (or after) the registry's current version, refreshed when it moved.

        One thread refreshes at a time. A caller that must see a write announced before it (see
        :meth:`must_refresh`) waits for a refresh that started after that write; a caller for which
        only the periodic check is due (or that claimed it, ``force_check``) returns the held
        snapshot while another thread checks.
        """
        with self._lock:
            written = self._written
        waits = self._snapshot is None or self._seen < written
        if not self._refresh_lock.acquire(blocking=waits):
            return self.current()
        try:
            snap = self._snapshot
            if snap is not None and self._seen >= written and (
                waits or (not force_check and time.monotonic() - self._checked_at < self.check_seconds)
            ):
                return snap  # another thread refreshed (after the write, or checked just now)
            with self._lock:
                started = self._written
            checked = time.monotonic()
            new = self._refreshed(session, snap)
            with self._lock:
                if new is not snap:
                    self._snapshot = new
                    self._carry_matches(snap, new)
                self._seen = max(self._seen, started)
                self._checked_at = checked
            return new
        finally:
            self._refresh_lock.release()

    def _refreshed(self, session: Any, snap: StationSnapshot | None) -> StationSnapshot:
        """Read the registry version (first), then only what changed since ``snap``."""
        from geo.db import repository

        version = int(repository.registry_version(session))
        if snap is not None and snap.version == version:
            return snap
        if snap is None:
            records = repository.station_rows(session)
            self.rows_read += len(records)
            logger.info("registry version %s: %d stations", version, len(records))
            return snapshot_of(version, records)
        pairs = np.array(repository.station_versions(session), dtype=np.int64).reshape(-1, 2)
        ids, versions = pairs[:, 0], pairs[:, 1]
        at = np.minimum(np.searchsorted(snap.ids, ids), max(snap.ids.size - 1, 0))
        held = (snap.ids.size > 0) & (snap.ids[at] == ids) if snap.ids.size else np.zeros(ids.size, bool)
        changed = ids[~held | (snap.row_versions[at] != versions) if snap.ids.size else ~held]
        removed = np.setdiff1d(snap.ids, ids)
        if changed.size > max(MAX_CHANGED_ROWS, ids.size // 4):
            records = repository.station_rows(session)
            self.rows_read += len(records)
            return snapshot_of(version, records)
        records = repository.station_rows(session, changed.tolist()) if changed.size else []
        self.rows_read += len(records)
        gone = np.union1d(removed, np.setdiff1d(changed, [int(r["station_id"]) for r in records]))
        logger.info("registry version %s: %d stations changed, %d removed", version, len(records), gone.size)
        return patched_snapshot(snap, version, records, gone.tolist())

    def _carry_matches(self, old: StationSnapshot | None, new: StationSnapshot) -> None:
        """Keep the matching stations found at ``old`` for ``new`` when no station came or went and
        none changed what the filters read (status, amenities, opening hours): after a PATCH of a
        phone number, or a move, requests stay on the event loop. Otherwise forget them. (Lock held.)"""
        same = (
            old is not None
            and np.array_equal(old.ids, new.ids)
            and old.statuses == new.statuses
            and old.amenities == new.amenities
            and old.opening_hours == new.opening_hours
        )
        kept = {(new.version, *key[1:]): found for key, found in self._matches.items()
                if same and old is not None and key[0] == old.version}  # fmt: skip
        kept.update({key: found for key, found in self._matches.items() if key[0] == new.version})
        self._matches.clear()
        self._matches.update(kept)

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
        """A table depends only on the network and the matching stations' ids and points: a write
        that moves no matching station (a phone number, a rename) keeps every table (#15)."""
        digest = hashlib.blake2b(snap.ids[positions].tobytes(), digest_size=16)
        digest.update(snap.lon[positions].tobytes())
        digest.update(snap.lat[positions].tobytes())
        return (mode, digest.hexdigest())

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
        if snap.ids.size == 0:
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
        """The table of ``positions`` on the ``mode`` network: cached, else derived from the closest
        cached table of the mode, else built."""
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
            ids, lon, lat = snap.ids[positions], snap.lon[positions], snap.lat[positions]
            built = self._derived(mode, ids, lon, lat)
            if built is None:
                built = build_table(self.networks[mode], ids, lon, lat, width=self.width,
                                    horizon_minutes=self.horizon_minutes)
                with self._lock:
                    self.builds += 1
            self._store(key, built)
            if built.min_depth < self.max_k + SLACK // 2:
                self._rebuild_later(key, built)
            return built

    def _store(self, key: tuple[str, str], table: NearestTable) -> None:
        with self._lock:
            self._tables[key] = table
            self._tables.move_to_end(key)
            while len(self._tables) > self.max_tables:
                self._tables.popitem(last=False)
            self._build_locks.pop(key, None)

    def _derived(self, mode: str, ids: NDArray[np.int64], lon: NDArray[np.float64],
                 lat: NDArray[np.float64]) -> NearestTable | None:
        """The table of ``ids`` derived from the cached table of ``mode`` that differs least, if one
        can give it exactly (every row depth stays >= max_k) and cheaper than a build."""
        with self._lock:
            cached = [t for (m, _), t in reversed(self._tables.items()) if m == mode]  # newest first
        diffs = [(table, table_diff(table, ids, lon, lat)) for table in cached]
        usable = [(d.size, i) for i, (_, d) in enumerate(diffs)
                  if d.added.size <= MAX_ADDED and d.added.size < max(ids.size, 1)]  # fmt: skip
        for _, i in sorted(usable):  # the smallest change first; the depths checked only until one fits
            base, diff = diffs[i]
            if diff.removed.size == 0 or int(depth_after(base, diff.removed).min()) >= self.max_k:
                break
        else:
            return None
        derived = derive_table(self.networks[mode], base, diff, ids, lon, lat,
                               horizon_minutes=self.horizon_minutes)
        with self._lock:
            self.derived += 1
        return derived

    def _rebuild_later(self, key: tuple[str, str], table: NearestTable) -> None:
        """Rebuild ``table`` from scratch in the background thread (its depth runs low); requests use
        it meanwhile, and the rebuilt one replaces it if it is still cached. A rebuild whose table is
        no longer among the most recently used when its turn comes is skipped; one station per search
        call, so the thread never holds the GIL for long."""
        with self._lock:
            if key in self._rebuilding:
                return

            def work() -> None:
                try:
                    with self._lock:  # stale by now (the stations changed again): skip it
                        recent = list(self._tables)[-RECENT_TABLES:]
                    if key not in recent:
                        return
                    fresh = build_table(self.networks[key[0]], table.ids, table.lon, table.lat,
                                        width=self.width, horizon_minutes=self.horizon_minutes, chunk=1)
                    with self._lock:
                        if key in self._tables:
                            self._tables[key] = fresh
                        self.rebuilt += 1
                finally:
                    with self._lock:
                        self._rebuilding.pop(key, None)

            self._rebuilding[key] = self._background.submit(work)

    def wait_background(self) -> None:
        """Wait for the background rebuilds queued so far (tests, shutdown)."""
        with self._lock:
            pending = list(self._rebuilding.values())
        for future in pending:
            future.result()

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
        self._used(mode, amenities, at)
        positions = self.matching(snap, amenities=amenities, at=at)
        table = self.table(mode, snap, positions)
        chosen = _candidates(table, point, float(net.meters_per_minute), k)
        if not chosen:
            return snap, [], offset_m
        hits = _routes(net, point, table, snap, positions, chosen, (lon, lat))
        return snap, hits, offset_m


def _candidates(table: NearestTable, point: Snap, mpm: float, k: int) -> list[tuple[int, float]]:
    """The ``k`` nearest stations of a snapped point, ``(local station, metres)`` by metres: the
    table rows of the (up to two) end nodes the point leaves its edge by, each plus the way there,
    and any station on the point's own edge reached directly. The union holds the true k nearest: a
    station missing from the trusted part of an end's row (its first ``depth`` >= max_k >= k entries)
    is beaten there by k others. Entries past the trusted part (left by a derivation) are true
    minutes of real stations, only maybe not the next nearest: they can only add candidates at
    their true distance, never hide a nearer one."""
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
    positions: NDArray[np.int64],
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
        pos = int(positions[local])  # the table's stations are snap.ids[positions], in order
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
