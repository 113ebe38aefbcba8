"""Travel times between every demand point and every station within a cutoff (sparse pairs).

The travel-time definition is coverage's (``docs/TRAVEL_TIME.md``, :mod:`geo.coverage`): points and
stations join their nearest usable edge (:mod:`geo.snapping`); a worker leaves the point's edge at
either reachable end and reaches the station from either end of its own edge, with partial edges
and straight lines counted, or meets a station on the same edge directly along it. Coverage keeps only
the *nearest* station of every point; 2SFCA and capacitated siting need *every* station within the
cutoff, so here each station gets its own search bounded at the cutoff: the compiled offset search on
the reversed graph (``Network.offset_search``, the one coverage's single pass uses) from the end
nodes of the station's edge with their partial edge + straight line as offsets. A point's time to the
station is then ``min(exit offset + label of the exit node)`` over its edge's two exits, or the direct
along-edge time when both share an edge. Memory grows with the pairs found; each search touches
only the nodes within the cutoff. Coordinates are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from geo.checks import check_minutes, check_non_negative
from geo.errors import InputError
from geo.network import Network
from geo.snapping import Snap, same_edge_meters, same_edge_pairs, sources_of

log = logging.getLogger(__name__)

__all__ = ["TravelPairs", "pairs_within", "travel_pairs"]


@dataclass(frozen=True)
class TravelPairs:
    """Every (point, station) pair within the cutoff, with its travel time.

    Attributes
    ----------
    point, station : ndarray of int64
        Row positions in the demand and station frames (sorted by station, then point).
    minutes : ndarray of float64
        Travel time worker → station, ≤ ``cutoff_minutes``.
    point_snapped, station_snapped : ndarray of bool
        Per row of the inputs: within the snap limit of the network.
    cutoff_minutes, speed_kph : float
    seconds : float
        Wall time.
    """

    point: NDArray[np.int64]
    station: NDArray[np.int64]
    minutes: NDArray[np.float64]
    point_snapped: NDArray[np.bool_]
    station_snapped: NDArray[np.bool_]
    cutoff_minutes: float
    speed_kph: float
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.point.size)


def pairs_within(
    network: Network, points: Snap, stations: Snap, limit_m: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """``(point, station, metres)`` of every pair with a worker → station route ≤ ``limit_m``
    (one search per snapped station, bounded at ``limit_m``; see the module doc)."""
    exit_node, exit_m = points.exits()  # (n, 2): -1 / inf where not allowed or unsnappable
    safe = np.maximum(exit_node, 0)
    has_exit = exit_node >= 0
    i_same, j_same = same_edge_pairs(points, stations)
    d_same = same_edge_meters(points, i_same, stations, j_same)
    by_station = np.argsort(j_same, kind="stable")
    i_same, j_same, d_same = i_same[by_station], j_same[by_station], d_same[by_station]
    lo = np.searchsorted(j_same, np.arange(len(stations)), side="left")
    hi = np.searchsorted(j_same, np.arange(len(stations)), side="right")
    search = network.offset_search
    out_i, out_j, out_m = [], [], []
    for j in np.flatnonzero(stations.snapped).tolist():
        src_node, src_off, _ = sources_of(stations.take([j]))
        label, _ = search.run(src_node, src_off, limit_m=limit_m)
        via = np.where(has_exit, exit_m + label[safe], np.inf).min(axis=1) if len(points) else np.zeros(0)
        if hi[j] > lo[j]:
            np.minimum.at(via, i_same[lo[j] : hi[j]], d_same[lo[j] : hi[j]])
        hit = np.flatnonzero(via <= limit_m)
        out_i.append(hit)
        out_j.append(np.full(hit.size, j, dtype=np.int64))
        out_m.append(via[hit])
    if not out_i:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j), np.concatenate(out_m)


def travel_pairs(
    network: Network,
    point_lon: NDArray[np.float64],
    point_lat: NDArray[np.float64],
    station_lon: NDArray[np.float64],
    station_lat: NDArray[np.float64],
    *,
    minutes: float = 15.0,
    snap_meters: float = 300.0,
) -> TravelPairs:
    """Every demand point × station pair within ``minutes`` on ``network`` (WGS-84 coordinates).

    Parameters
    ----------
    network : Network
        Travel network of one mode (its ``speed_kph`` turns metres into minutes).
    point_lon, point_lat, station_lon, station_lat : ndarray
        WGS-84 (EPSG:4326) coordinates.
    minutes : float
        The cutoff; pairs with a longer route are left out.
    snap_meters : float
        Snap limit; farther points and stations take part in no pair (flagged in the result).

    Returns
    -------
    TravelPairs
    """
    if not isinstance(network, Network):
        raise InputError(f"network must be a geo.network.Network, got {type(network).__name__}",
                         field="network")
    minutes = check_minutes(minutes)
    snap_meters = check_non_negative(snap_meters, field="snap_meters", unit="metres")
    t0 = time.perf_counter()
    p_snap = network.snap(point_lon, point_lat, max_meters=snap_meters)
    s_snap = network.snap(station_lon, station_lat, max_meters=snap_meters)
    mpm = network.meters_per_minute
    i, j, m = pairs_within(network, p_snap, s_snap, minutes * mpm)
    seconds = time.perf_counter() - t0
    log.info("travel pairs: %d points x %d stations, %d pairs within %g min, %.2fs",
             len(p_snap), len(s_snap), i.size, minutes, seconds)
    return TravelPairs(
        point=i, station=j, minutes=m / mpm, point_snapped=p_snap.snapped, station_snapped=s_snap.snapped,
        cutoff_minutes=minutes, speed_kph=float(network.speed_kph), seconds=seconds,
    )
