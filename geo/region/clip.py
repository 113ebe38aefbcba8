"""Cut an area's network with its halo out of a larger network.

The rule is the one of ``yizhan network build-areas`` (issue #16): an arc is kept when both its end
nodes lie inside the area's polygon buffered by ``halo_meters`` (no split arcs, no new nodes). The
buffer is drawn in metres in a local azimuthal equidistant projection about the polygon's centre on
the sphere the network's lengths use (:data:`geo._graph.EARTH_RADIUS_M`), and its arcs are drawn
outside the true circle (the chord sag is added), so every node within ``halo_meters`` great-circle
metres of the polygon is kept.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry.base import BaseGeometry

from geo import _graph
from geo.checks import check_non_negative
from geo.errors import InputError
from geo.network import Network, assemble_network
from geo.network import clip_network as clip_to_geometry

__all__ = ["buffer_meters", "clip_to_area", "subnetwork_in_bounds", "union_networks"]

_QUAD_SEGS = 16


def buffer_meters(polygon: BaseGeometry, meters: float) -> BaseGeometry:
    """``polygon`` (WGS-84) buffered by ``meters`` great-circle metres, returned in WGS-84; the result
    contains every point within ``meters`` of the polygon (curves drawn outside the true arc)."""
    check_non_negative(meters, field="halo_meters")
    c = polygon.centroid
    local = CRS.from_proj4(
        f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +R={_graph.EARTH_RADIUS_M} +units=m +no_defs"
    )
    to_local = Transformer.from_crs(
        CRS.from_proj4(f"+proj=longlat +R={_graph.EARTH_RADIUS_M} +no_defs"), local, always_xy=True
    )
    back = Transformer.from_crs(
        local, CRS.from_proj4(f"+proj=longlat +R={_graph.EARTH_RADIUS_M} +no_defs"), always_xy=True
    )
    # a buffer's round parts are chords of the circle: push them out by the sag, plus a millimetre
    sag = 1.0 / math.cos(math.pi / (4 * _QUAD_SEGS))
    local_geom = shapely.transform(
        polygon, lambda xy: np.column_stack(to_local.transform(xy[:, 0], xy[:, 1]))
    )
    grown = shapely.buffer(local_geom, meters * sag + 1e-3, quad_segs=_QUAD_SEGS)
    return shapely.transform(grown, lambda xy: np.column_stack(back.transform(xy[:, 0], xy[:, 1])))


def subnetwork_in_bounds(network: Network, bounds: tuple[float, float, float, float]) -> Network:
    """The arcs whose two end nodes lie in ``bounds`` (lon0, lat0, lon1, lat1), as a network over
    those nodes (node order kept). A cheap first cut before the exact polygon clip."""
    x0, y0, x1, y1 = bounds
    inside = (network.lon >= x0) & (network.lon <= x1) & (network.lat >= y0) & (network.lat <= y1)
    tails = network.tails
    keep = inside[tails] & inside[network.indices]
    t, h, ln = tails[keep].astype(np.int64), network.indices[keep].astype(np.int64), network.length_m[keep]
    used = np.zeros(network.n_nodes, dtype=bool)
    used[t] = True
    used[h] = True
    new_index = np.cumsum(used) - 1
    indptr, indices, length_m = _graph.build_csr(int(used.sum()), new_index[t], new_index[h], ln)
    comp, sizes = _graph.weak_components(indptr, indices, length_m)
    return replace(
        network,
        node_id=network.node_id[used],
        lon=network.lon[used],
        lat=network.lat[used],
        indptr=indptr,
        indices=indices,
        length_m=length_m,
        component=comp,
        component_sizes=sizes,
        options=dict(network.options),
    )


def clip_to_area(network: Network, polygon: BaseGeometry, *, halo_meters: float, code: str = "") -> Network:
    """The network of one area: the arcs of ``network`` whose two end nodes lie inside ``polygon``
    (WGS-84, EPSG:4326) buffered by ``halo_meters`` great-circle metres.

    Parameters
    ----------
    network : Network
        The whole network (not modified).
    polygon : shapely Polygon or MultiPolygon
        The area, WGS-84 degrees.
    halo_meters : float
        Halo width in metres (the distance the mode covers in the horizon, plus the snap limit).
    code : str
        The area code, recorded in the options with the polygon (WKT) and the halo.

    Returns
    -------
    Network
        A new network; ``options`` gain ``area_code``, ``area_polygon_wkt`` and ``halo_m``.
    """
    if polygon.is_empty or polygon.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(f"area {code}: the polygon must be a Polygon/MultiPolygon", field="areas")
    grown = buffer_meters(polygon, halo_meters)
    x0, y0, x1, y1 = grown.bounds
    first = subnetwork_in_bounds(network, (x0, y0, x1, y1))
    clipped = clip_to_geometry(first, grown)
    options = dict(clipped.options)
    options.update(
        area_code=code,
        area_polygon_wkt=shapely.to_wkt(polygon, rounding_precision=-1),
        halo_m=float(halo_meters),
    )
    return replace(clipped, options=options)


def union_networks(networks: list[Network]) -> Network:
    """One network holding every node and arc of ``networks`` (pieces of one larger network: nodes
    matched by ``node_id``, duplicate arcs kept once). Used to run neighbouring areas as one task:
    the union lies between each area network and the whole network, so within every area's halo its
    shortest paths are those of the whole network."""
    if not networks:
        raise InputError("union_networks needs at least one network", field="networks")
    if len(networks) == 1:
        return networks[0]
    ids = np.concatenate([n.node_id for n in networks])
    uniq, first = np.unique(ids, return_index=True)
    lon = np.concatenate([n.lon for n in networks])[first]
    lat = np.concatenate([n.lat for n in networks])[first]
    tails = np.concatenate([np.searchsorted(uniq, n.node_id[n.tails]) for n in networks])
    heads = np.concatenate([np.searchsorted(uniq, n.node_id[n.indices]) for n in networks])
    lengths = np.concatenate([n.length_m for n in networks])
    first_net = networks[0]
    return assemble_network(
        first_net.mode, first_net.speed_kph, uniq, lon, lat, tails, heads, lengths, source=first_net.source,
        source_hash=first_net.source_hash, options={"union_of": len(networks)},
    )  # fmt: skip
