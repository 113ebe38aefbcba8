"""Networks from the streets of an OSM file (:mod:`geo.osm.reader`), optionally clipped to an area
buffered by a travel-time halo.

Arcs follow exactly what the osmnx path does (:func:`geo.network.network_from_graph` over
``osmnx.graph_from_xml(..., simplify=False, retain_all=True)``): one arc per legal direction of
every segment of a way the mode may use, the reverse arc too when one-way tags do not bind the
traveller, great-circle lengths in metres; both paths end in :func:`geo.network.assemble_network`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geo import _graph
from geo.catalog import mode_speeds_kph, resolve_mode
from geo.errors import InputError
from geo.network import Clip, Network, assemble_network, clip_geometry, network_options
from geo.osm.halo import Area, area_metadata, buffer_meters, halo_meters
from geo.osm.reader import CONTRAFLOW, MODE_FLAG, ONEWAY, REVERSED, Streets, read_streets
from geo.osm.rules import respects_oneway

log = logging.getLogger(__name__)

#: arcs per block of the length computation
LENGTH_CHUNK = 1 << 20


@dataclass(frozen=True, eq=False)
class Arcs:
    """Directed arcs of one mode over a :class:`~geo.osm.reader.Streets` (positions into its
    nodes), sorted by (tail, head) without duplicates, with great-circle lengths in metres."""

    tail: NDArray[np.int64]
    head: NDArray[np.int64]
    length_m: NDArray[np.float64]
    respect_oneway: bool


def mode_arcs(streets: Streets, mode: str, *, oneway: bool | None = None) -> Arcs:
    """The arcs a traveller of ``mode`` may use (rules in :mod:`geo.osm.rules`).

    Parameters
    ----------
    streets : Streets
    mode : {"walk", "ebike"}
    oneway : bool, optional
        Respect one-way streets; default no for walk, yes for ebike.
    """
    mode = resolve_mode(mode)
    respect = respects_oneway(mode, oneway)
    sel = (streets.flags & MODE_FLAG[mode]) != 0
    t, h, f = streets.tail[sel], streets.head[sel], streets.flags[sel]
    one = (f & ONEWAY) != 0
    back = (f & REVERSED) != 0
    # legal directions as osmnx adds them: both for two-way ways, else along (or against) the
    # nodes; the reverse of a one-way arc too when one-way tags do not bind this traveller
    twin = ~one | (f & CONTRAFLOW != 0) if respect else np.ones(t.size, dtype=bool)
    u = np.where(back, h, t)
    v = np.where(back, t, h)
    n = np.int64(max(streets.node_id.size, 1))
    key = np.concatenate([u * n + v, v[twin] * n + u[twin]])
    del u, v, twin, t, h, f, one, back
    key = _sorted_unique(key)  # parallel arcs join the same two points: same length, keep one
    tail, head = key // n, key % n
    del key
    length = np.empty(tail.size)
    for lo in range(0, tail.size, LENGTH_CHUNK):  # bounded temporaries
        a, b = tail[lo : lo + LENGTH_CHUNK], head[lo : lo + LENGTH_CHUNK]
        length[lo : lo + LENGTH_CHUNK] = _graph.haversine_m(
            streets.lon[a], streets.lat[a], streets.lon[b], streets.lat[b]
        )
    return Arcs(tail=tail, head=head, length_m=length, respect_oneway=respect)


def _sorted_unique(values: NDArray[np.int64]) -> NDArray[np.int64]:
    """Sorted distinct values (sort-based: faster than hashing for these sizes)."""
    values = np.sort(values)
    if values.size == 0:
        return values
    first = np.empty(values.size, dtype=bool)
    first[0] = True
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return values[first]


def network_from_arcs(
    streets: Streets,
    arcs: Arcs,
    *,
    mode: str,
    speed_kph: float,
    keep: NDArray[np.intp] | NDArray[np.bool_] | None = None,
    options: dict[str, Any],
) -> Network:
    """Assemble the arcs ``keep`` selects (all by default) into a :class:`~geo.network.Network`."""
    t, h, ln = arcs.tail, arcs.head, arcs.length_m
    if keep is not None:
        t, h, ln = t[keep], h[keep], ln[keep]
    nodes = _sorted_unique(np.concatenate([t, h]))  # sorted, so node ids stay sorted
    local = np.empty(streets.node_id.size, dtype=np.int64)  # only the pages of used nodes are touched
    local[nodes] = np.arange(nodes.size)
    return assemble_network(
        mode,
        float(speed_kph),
        streets.node_id[nodes],
        streets.lon[nodes],
        streets.lat[nodes],
        local[t],
        local[h],
        ln,
        source=streets.source,
        source_hash=streets.source_sha256,
        options=options,
    )


def inside_mask(streets: Streets, geom: BaseGeometry) -> NDArray[np.bool_]:
    """Nodes inside or on the boundary of ``geom`` (WGS-84)."""
    return np.asarray(
        shapely.contains_xy(geom, streets.lon, streets.lat)
        | shapely.intersects_xy(geom, streets.lon, streets.lat)
    )


def network_from_streets(
    streets: Streets,
    *,
    mode: str = "walk",
    speed_kph: float | None = None,
    clip: Clip | None = None,
    oneway: bool | None = None,
    extra_options: dict[str, Any] | None = None,
) -> Network:
    """A network of one mode from read streets, keeping arcs with both ends inside ``clip``."""
    mode = resolve_mode(mode)
    speed = float(speed_kph) if speed_kph is not None else mode_speeds_kph()[mode]
    geom = clip_geometry(clip)
    arcs = mode_arcs(streets, mode, oneway=oneway)
    keep = None
    if geom is not None:
        inside = inside_mask(streets, geom)
        keep = inside[arcs.tail] & inside[arcs.head]
    options = {**network_options(mode, arcs.respect_oneway, geom), **(extra_options or {})}
    return network_from_arcs(streets, arcs, mode=mode, speed_kph=speed, keep=keep, options=options)


def check_area_in_bounds(area: Area, streets: Streets) -> None:
    """Refuse an area that does not meet the file's bounding box."""
    if not area.geometry.intersects(shapely.box(*streets.bounds)):
        raise InputError(
            f"area {area.label} lies outside the bounds {list(np.round(streets.bounds, 5))} of "
            f"{Path(streets.source).name}",
            field="area",
        )


def network_from_osm(
    source: str | Path,
    *,
    mode: str = "walk",
    speed_kph: float | None = None,
    clip: Clip | None = None,
    oneway: bool | None = None,
    area: Area | None = None,
    halo_minutes: float = 0.0,
    progress: bool = False,
) -> Network:
    """Build a network straight from an OSM file with pyosmium (streaming).

    Parameters
    ----------
    source : str or Path
        ``.osm.pbf``, ``.osm``, ``.osm.bz2`` or ``.osm.gz`` (WGS-84).
    mode : {"walk", "ebike"}
    speed_kph : float, optional
        Default from ``data/modes.toml``.
    clip : Polygon or (minx, miny, maxx, maxy), optional
        Keep arcs with both ends inside (WGS-84); not together with ``area``.
    oneway : bool, optional
        Respect one-way streets; default no for walk, yes for ebike.
    area : Area, optional
        Keep arcs with both ends inside the area's polygon buffered by ``halo_minutes`` of travel
        at the mode's speed (metres in a local azimuthal projection). Code, polygon and halo are
        recorded in ``options["area"]``.
    halo_minutes : float
        Halo in minutes (with ``area``).
    progress : bool
        Progress bar per pass over the file.
    """
    mode = resolve_mode(mode)
    speed = float(speed_kph) if speed_kph is not None else mode_speeds_kph()[mode]
    if area is not None and clip is not None:
        raise InputError("give either a clip or an area, not both", field="area")
    if not (np.isfinite(halo_minutes) and halo_minutes >= 0):
        raise InputError(f"halo_minutes must be ≥ 0, got {halo_minutes!r}", field="halo_minutes")
    t0 = time.perf_counter()
    streets = read_streets(source, progress=progress)
    extra: dict[str, Any] = {}
    if area is not None:
        check_area_in_bounds(area, streets)
        meters = halo_meters(speed, halo_minutes)
        clip = buffer_meters(area.geometry, meters)
        extra["area"] = area_metadata(area, halo_minutes=halo_minutes, halo_m=meters)
    net = network_from_streets(
        streets, mode=mode, speed_kph=speed, clip=clip, oneway=oneway, extra_options=extra
    )
    log.info(
        "built %s network from %s in %.2fs: %d nodes, %d arcs",
        mode, Path(source).name, time.perf_counter() - t0, net.n_nodes, net.n_arcs,
    )  # fmt: skip
    return net
