"""Street networks for walking and e-bike travel, stored as compact CSR arrays.

A :class:`Network` holds the directed arcs a traveller of one mode may use, node coordinates in
WGS-84 (EPSG:4326), arc lengths in metres (great-circle between consecutive OSM nodes, the
unsimplified osmnx graph, so routes and service areas follow the real street shape), weakly
connected component labels, and a spatial index over the edges for snapping (:mod:`geo.snapping`),
built on first use or read with the network's file.

Files (:func:`save_network`) are uncompressed ``.npz`` archives whose arrays start at 64-byte
boundaries; :func:`read_network_npz` maps them read-only instead of copying them, so a process
holds only the pages it touches and processes share them. With ``derived=True`` a file also holds
the reverse CSR, the contracted junction graph of the coverage search and the snapping index
(edges and KD-trees), checked against the network's checksum when read.

Sources
-------
* OSM PBF and XML (``.osm.pbf``, ``.osm``, ``.xml``, ``.osm.bz2``, ``.osm.gz``) streamed with
  pyosmium (:mod:`geo.osm`): the same arcs as ``osmnx.graph_from_xml`` (``simplify=False``,
  ``retain_all=True``) fed to :func:`network_from_graph` (tested arc for arc), at bounded memory;
  ways without a ``highway`` tag (buildings, land use) are dropped.
* osmnx GraphML (``.graphml``) read with ``osmnx.load_graphml``. Edges without a ``highway``
  attribute (e.g. the Amap-derived Xi'an sample) are taken as ordinary streets.
* a compact ``.npz`` written by :func:`save_network` / ``yizhan network build``.
* online: :func:`network_from_place` (osmnx ``graph_from_place``; never used in tests).

Mode rules (the same text is in ``docs/TRAVEL_TIME.md``; code in :mod:`geo.osm.rules`)
-------------------------------------------------------
``walk`` (default 4.5 km/h): every street and path a pedestrian may use, in both directions
(one-way tags do not bind pedestrians). Excluded: ``highway`` = motorway, motorway_link,
construction, proposed, planned, abandoned, disused, razed, raceway, bus_guideway, busway,
escape, emergency_bay, no; ways tagged ``motorroad=yes``; ``foot`` = no, private, use_sidepath;
``access`` = no, private (unless ``foot`` = yes, designated, permissive). Cycleways are kept (no
``foot=no`` in China's default access rules); trunk roads are kept unless tagged otherwise.

``ebike`` (default 15 km/h): roads and cycleways. Excluded in addition to the walk exclusions
of closed/unbuilt ways: motorway, motorway_link, ``motorroad=yes``; pedestrian-only ways
(footway, pedestrian, steps, corridor, bridleway, elevator, platform) unless ``bicycle`` = yes,
designated, permissive (steps always); ``path`` with ``bicycle=no``; ``bicycle`` = no, private,
use_sidepath; ``access`` = no, private unless ``bicycle`` allows. One-way streets are respected
(``oneway=yes/-1``, roundabouts, as osmnx reads them) unless ``oneway:bicycle=no`` or the caller
passes ``oneway=False``.

Drive-only inputs (the Shanghai ``.osm`` written by osmnx from a drive query, the Xi'an GraphML
from Amap car routes) still give walk and e-bike networks over their streets; they lack the
footpaths and alleys that make walking times shorter, so their coverage is a lower bound.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import scipy.sparse as sp
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry

from geo import _graph
from geo.catalog import mode_speeds_kph, resolve_mode
from geo.config import cache_dir as default_cache_dir
from geo.errors import InputError, NotFoundError
from geo.osm.reader import file_sha256, osm_format
from geo.osm.rules import EXTRA_WAY_TAGS, arc_allowed, cycles_both_ways, respects_oneway
from geo.snapping import EdgeIndex, Snap, snap_points

# scipy.sparse.csgraph is imported inside the functions that use it (~80 ms of every CLI start)

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

log = logging.getLogger(__name__)

#: bump when the arc rules or the npz layout change (part of every cache key)
FORMAT_VERSION = 1
#: bump when the stored search structures (reverse CSR, contracted junction graph, snapping index)
#: change layout
DERIVED_FORMAT = 2

Clip: TypeAlias = BaseGeometry | tuple[float, float, float, float]

#: where a network read from a file keeps its stored snapping index until first used
_STORED_EDGE_INDEX = "_stored_edge_index"
#: cached structures that do not depend on the speed (all in metres): kept by ``with_speed``
_SPEED_FREE = ("symmetric", "tails", "_csr", "reverse_arrays", "offset_search", "forward_search",
               "edge_index", _STORED_EDGE_INDEX)  # fmt: skip


@dataclass(frozen=True, eq=False)
class Network:
    """A travel network for one mode: directed arcs in CSR form, WGS-84 nodes, lengths in metres.

    ``indptr``/``indices``/``length_m`` hold the arcs travel may use (walk networks are symmetric);
    ``component`` labels weakly connected pieces (0 = largest) with sizes ``component_sizes``.
    """

    mode: str
    speed_kph: float
    node_id: NDArray[np.int64]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    indptr: NDArray[np.int32]
    indices: NDArray[np.int32]
    length_m: NDArray[np.float64]
    component: NDArray[np.int32]
    component_sizes: NDArray[np.int64]
    source: str = ""
    source_hash: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- basic facts
    @property
    def n_nodes(self) -> int:
        return int(self.node_id.size)

    @property
    def n_arcs(self) -> int:
        return int(self.indices.size)

    @property
    def meters_per_minute(self) -> float:
        """Travel speed in metres per minute."""
        return self.speed_kph * 1000.0 / 60.0

    @cached_property
    def symmetric(self) -> bool:
        """True when every arc has its reverse (walk networks; e-bike with ``oneway=False``)."""
        return _graph.is_symmetric(self.indptr, self.indices, self.length_m)

    @cached_property
    def tails(self) -> NDArray[np.int32]:
        """Tail node of every arc (aligned with ``indices``)."""
        return np.repeat(np.arange(self.n_nodes, dtype=np.int32), np.diff(self.indptr))

    def with_speed(self, speed_kph: float) -> Network:
        """Return the same network with another speed (arrays and the search and snapping
        structures, all in metres, shared, not copied)."""
        _check_speed(speed_kph)
        other = Network(
            mode=self.mode,
            speed_kph=float(speed_kph),
            node_id=self.node_id,
            lon=self.lon,
            lat=self.lat,
            indptr=self.indptr,
            indices=self.indices,
            length_m=self.length_m,
            component=self.component,
            component_sizes=self.component_sizes,
            source=self.source,
            source_hash=self.source_hash,
            options=dict(self.options),
        )
        from geo import _contract

        mine, theirs = vars(self), vars(other)
        for name in _SPEED_FREE:
            if name in mine:
                theirs[name] = mine[name]
        _contract.share_search(self, other)
        return other

    # ----------------------------------------------------------------- graphs
    def csr(self) -> sp.csr_matrix:
        """The arcs as a ``scipy.sparse.csr_matrix`` of lengths in metres (row = tail)."""
        return self._csr

    @cached_property
    def _csr(self) -> sp.csr_matrix:
        return _graph.csr_matrix(self.indptr, self.indices, self.length_m)

    @cached_property
    def reverse_arrays(self) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]:
        """CSR arrays of the reversed graph (the same arrays when the network is symmetric)."""
        if self.symmetric:
            return self.indptr, self.indices, self.length_m
        return _graph.transpose_csr(self.indptr, self.indices, self.length_m)

    @cached_property
    def offset_search(self) -> _graph.OffsetSearch:
        """Reusable one-pass search on the reversed graph (see :mod:`geo.coverage`)."""
        return _graph.OffsetSearch(*self.reverse_arrays)

    @cached_property
    def forward_search(self) -> _graph.OffsetSearch:
        """The same search on the graph itself (worker → station paths); :attr:`offset_search` when
        the network is symmetric."""
        if self.symmetric:
            return self.offset_search
        return _graph.OffsetSearch(self.indptr, self.indices, self.length_m)

    def reverse_csr(self) -> sp.csr_matrix:
        """The reversed graph: searching it from station nodes gives node → station distances."""
        ip, ix, ln = self.reverse_arrays
        return _graph.csr_matrix(ip, ix, ln)

    # ----------------------------------------------------------------- snapping
    @cached_property
    def edge_index(self) -> EdgeIndex:
        """The network's edges with a spatial index over their segments (read with the network's
        file when stored there, built on first use otherwise)."""
        stored = vars(self).pop(_STORED_EDGE_INDEX, None)
        if stored is not None:
            return EdgeIndex.from_state(self, *stored)
        return EdgeIndex(self)

    def snap(self, lon: ArrayLike, lat: ArrayLike, *, max_meters: float = 300.0) -> Snap:
        """Snap WGS-84 points to the nearest usable edge (:func:`geo.snapping.snap_points`).

        The point joins the network at its projection on the nearest edge; a tiny island's edge
        gives way to a larger piece's edge no farther than ``max(25 m, 1.5 × the nearest
        distance)``. Points farther than ``max_meters`` get edge ``-1``.

        Returns
        -------
        Snap
            Edge, fraction along it, straight metres to it, piece, end nodes and arc lengths.
        """
        return snap_points(self, lon, lat, max_meters=max_meters)

    # ----------------------------------------------------------------- routing
    def route(
        self, src_node: int, dst_node: int, *, max_meters: float = np.inf
    ) -> tuple[NDArray[np.int64], float]:
        """Shortest path between two node indices along the arcs of this mode.

        Returns
        -------
        (nodes, meters)
            Node indices from ``src_node`` to ``dst_node`` inclusive and the path length in metres.

        Raises
        ------
        NotFoundError
            If no path exists (within ``max_meters``).
        """
        from scipy.sparse.csgraph import dijkstra

        for name, v in (("src_node", src_node), ("dst_node", dst_node)):
            if not (0 <= int(v) < self.n_nodes):
                raise InputError(
                    f"{name} {v} is not a node index of this network (0..{self.n_nodes - 1})", field=name
                )
        dist, pred = dijkstra(
            self.csr(), directed=True, indices=int(src_node), return_predecessors=True, limit=max_meters
        )
        meters = float(dist[int(dst_node)])
        if not np.isfinite(meters):
            raise NotFoundError(
                f"no {self.mode} path from node {src_node} to node {dst_node}", field="dst_node"
            )
        path = _graph.predecessor_path(pred, int(src_node), int(dst_node))
        assert path is not None  # dst_node was reached
        return np.asarray(path, dtype=np.int64), meters

    def route_geometry(self, nodes: ArrayLike) -> shapely.LineString:
        """WGS-84 LineString through the given node indices."""
        idx = np.asarray(nodes, dtype=np.int64)
        if idx.size == 1:
            idx = np.repeat(idx, 2)
        return shapely.linestrings(np.column_stack([self.lon[idx], self.lat[idx]]))

    # ----------------------------------------------------------------- export
    def edges_frame(self, *, undirected: bool = False) -> gpd.GeoDataFrame:
        """The arcs as a GeoDataFrame (EPSG:4326): ``u``, ``v`` (node indices), ``u_id``, ``v_id``
        (OSM ids), ``length_m``, ``oneway`` and a straight LineString per arc. With
        ``undirected=True`` each two-way pair appears once."""
        import geopandas as gpd

        u = self.tails.astype(np.int64)
        v = self.indices.astype(np.int64)
        key_fwd = u * self.n_nodes + v
        key_rev = v * self.n_nodes + u
        has_rev = np.isin(key_rev, key_fwd)
        keep = np.ones(u.size, dtype=bool)
        if undirected:
            keep = ~has_rev | (u < v)
        u, v = u[keep], v[keep]
        coords = np.stack(
            [np.column_stack([self.lon[u], self.lat[u]]), np.column_stack([self.lon[v], self.lat[v]])], axis=1
        )
        geom = shapely.linestrings(coords)
        return gpd.GeoDataFrame(
            {
                "u": u,
                "v": v,
                "u_id": self.node_id[u],
                "v_id": self.node_id[v],
                "length_m": self.length_m[keep],
                "oneway": ~has_rev[keep],
            },
            geometry=geom,
            crs="EPSG:4326",
        )

    def nodes_frame(self) -> gpd.GeoDataFrame:
        """Nodes as a GeoDataFrame (EPSG:4326): ``node``, ``node_id``, ``component``."""
        import geopandas as gpd

        return gpd.GeoDataFrame(
            {"node": np.arange(self.n_nodes), "node_id": self.node_id, "component": self.component},
            geometry=gpd.points_from_xy(self.lon, self.lat),
            crs="EPSG:4326",
        )

    def to_networkx(self) -> nx.DiGraph:
        """A networkx DiGraph over node indices with ``length`` (metres) arc attributes."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes))
        g.add_weighted_edges_from(
            zip(self.tails.tolist(), self.indices.tolist(), self.length_m.tolist(), strict=True),
            weight="length",
        )
        return g

    def info(self) -> dict[str, Any]:
        """Plain summary for ``yizhan network info``."""
        return {
            "mode": self.mode,
            "speed_kph": self.speed_kph,
            "nodes": self.n_nodes,
            "arcs": self.n_arcs,
            "symmetric": self.symmetric,
            "total_arc_km": round(float(self.length_m.sum()) / 1000.0, 3),
            "components": int(self.component_sizes.size),
            "largest_component_nodes": int(self.component_sizes[0]) if self.component_sizes.size else 0,
            "bbox": [
                float(self.lon.min()),
                float(self.lat.min()),
                float(self.lon.max()),
                float(self.lat.max()),
            ]
            if self.n_nodes
            else None,
            "source": self.source,
            "source_hash": self.source_hash,
            "options": self.options,
        }


# --------------------------------------------------------------------------- helpers
def _check_speed(speed_kph: float | None) -> None:
    if speed_kph is not None and not (np.isfinite(speed_kph) and speed_kph > 0):
        raise InputError(f"speed_kph must be a positive number, got {speed_kph!r}", field="speed_kph")


def clip_geometry(clip: Clip | None) -> BaseGeometry | None:
    if clip is None:
        return None
    if isinstance(clip, BaseGeometry):
        if clip.is_empty or clip.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(
                f"clip must be a Polygon/MultiPolygon or a bbox, got {clip.geom_type}", field="clip"
            )
        return clip
    try:
        minx, miny, maxx, maxy = (float(c) for c in clip)
    except (TypeError, ValueError):
        raise InputError(
            f"clip must be (minx, miny, maxx, maxy) in degrees, got {clip!r}", field="clip"
        ) from None
    if not (minx < maxx and miny < maxy and minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise InputError(
            f"clip bbox must satisfy minx<maxx, miny<maxy in WGS-84 degrees, got {clip!r}", field="clip"
        )
    return shapely.box(minx, miny, maxx, maxy)


def parse_clip(text: str) -> BaseGeometry:
    """Parse a ``minx,miny,maxx,maxy`` string or the path of a polygon file (GeoJSON/GPKG/SHP,
    union of all features, EPSG:4326) into a clip geometry."""
    parts = text.split(",")
    if len(parts) == 4:
        try:
            box = tuple(float(p) for p in parts)
        except ValueError:
            box = None
        if box is not None:
            geom = clip_geometry(box)
            assert geom is not None
            return geom
    path = Path(text)
    if not path.exists():
        raise InputError(f"clip {text!r} is neither minx,miny,maxx,maxy nor an existing file", field="clip")
    from geo.vector import read_vector_file

    frame = read_vector_file(path, what="a clip area file", field="clip")
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    geom = shapely.union_all(frame.geometry.values)
    out = clip_geometry(geom)
    assert out is not None
    return out


def network_options(mode: str, oneway: bool, clip: BaseGeometry | None) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "mode": mode,
        "oneway": bool(oneway),
        "clip_wkb_sha256": hashlib.sha256(shapely.to_wkb(clip, output_dimension=2)).hexdigest()
        if clip is not None
        else None,
        "clip_bounds": list(clip.bounds) if clip is not None else None,
    }


def _osmnx_settings_tags() -> tuple[list[str], list[str]]:
    import osmnx as ox

    old = list(ox.settings.useful_tags_way)
    new = old + [t for t in EXTRA_WAY_TAGS if t not in old]
    return old, new


def _read_osmnx_graph(path: Path) -> tuple[nx.MultiDiGraph, bool]:
    """Read an OSM XML or GraphML file with osmnx; returns the graph and whether ``highway`` is required."""
    import osmnx as ox

    name = path.name.lower()
    if name.endswith(".graphml"):
        return ox.load_graphml(path), False
    if name.endswith((".osm", ".xml", ".osm.bz2", ".osm.gz", ".xml.bz2", ".xml.gz")):
        old, new = _osmnx_settings_tags()
        ox.settings.useful_tags_way = new
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore", UserWarning
                )  # "generated by OSMnx" note for osmnx-written XML
                g = ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
        finally:
            ox.settings.useful_tags_way = old
        return g, True
    raise InputError(
        f"unsupported network file {path.name!r}: use .osm, .osm.bz2, .osm.gz, .graphml or a yizhan .npz",
        field="source",
    )


def network_from_graph(
    graph: nx.MultiDiGraph,
    *,
    mode: str = "walk",
    speed_kph: float | None = None,
    clip: Clip | None = None,
    oneway: bool | None = None,
    require_highway: bool = True,
    source: str = "",
    source_hash: str = "",
) -> Network:
    """Build a :class:`Network` from an osmnx MultiDiGraph (unprojected, EPSG:4326).

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        osmnx graph with node ``x``/``y`` (degrees) and edge ``length`` (metres); the graph's
        directed edges are taken as the legal driving directions.
    mode : {"walk", "ebike"}
        Travel mode (rules in the module docstring).
    speed_kph : float, optional
        Speed; default from ``data/modes.toml``.
    clip : Polygon or (minx, miny, maxx, maxy), optional
        Keep only arcs whose two end nodes lie inside (WGS-84).
    oneway : bool, optional
        Respect one-way streets; default False for walk, True for ebike.
    require_highway : bool
        Drop edges without a ``highway`` attribute (True for OSM XML).
    """
    mode = resolve_mode(mode)
    _check_speed(speed_kph)
    speed = float(speed_kph) if speed_kph is not None else mode_speeds_kph()[mode]
    respect_oneway = respects_oneway(mode, oneway)
    geom = clip_geometry(clip)
    tails: list[int] = []
    heads: list[int] = []
    lengths: list[float] = []
    for u, v, data in graph.edges(data=True):
        if not arc_allowed(data, mode, require_highway=require_highway):
            continue
        length = float(data.get("length", np.nan))
        tails.append(u)
        heads.append(v)
        lengths.append(length)
        if cycles_both_ways(data, respect_oneway=respect_oneway):
            tails.append(v)
            heads.append(u)
            lengths.append(length)
    ids = np.asarray(sorted({*tails, *heads}), dtype=np.int64)
    xs = np.asarray([graph.nodes[i]["x"] for i in ids.tolist()], dtype=np.float64)
    ys = np.asarray([graph.nodes[i]["y"] for i in ids.tolist()], dtype=np.float64)
    t = np.searchsorted(ids, np.asarray(tails, dtype=np.int64))
    h = np.searchsorted(ids, np.asarray(heads, dtype=np.int64))
    ln = np.asarray(lengths, dtype=np.float64)
    bad = ~np.isfinite(ln)
    if bad.any():
        ln[bad] = _graph.haversine_m(xs[t[bad]], ys[t[bad]], xs[h[bad]], ys[h[bad]])
    options = network_options(mode, respect_oneway, geom)
    return assemble_network(
        mode, speed, ids, xs, ys, t, h, ln, clip=geom, source=source, source_hash=source_hash, options=options
    )


def assemble_network(
    mode: str,
    speed: float,
    ids: NDArray[np.int64],
    xs: NDArray[np.float64],
    ys: NDArray[np.float64],
    t: NDArray[np.int64],
    h: NDArray[np.int64],
    ln: NDArray[np.float64],
    *,
    clip: BaseGeometry | None = None,
    source: str = "",
    source_hash: str = "",
    options: dict[str, Any] | None = None,
) -> Network:
    """The one final assembly of every network, whatever reader produced the arcs.

    Parameters
    ----------
    mode, speed : str, float
        Travel mode and speed (km/h).
    ids, xs, ys : ndarray
        Sorted candidate node ids and their WGS-84 (EPSG:4326) coordinates.
    t, h, ln : ndarray
        Directed arcs as positions into ``ids`` and their lengths in metres; duplicates allowed
        (the shortest of parallel arcs is kept, self-loops dropped).
    clip : Polygon or MultiPolygon, optional
        Keep only arcs whose two end nodes lie inside or on the boundary (WGS-84).
    source, source_hash, options
        Provenance stored with the network.

    Returns
    -------
    Network
        Over the nodes some kept arc uses, in the order of ``ids``.
    """
    if clip is not None:
        inside = shapely.contains_xy(clip, xs, ys) | shapely.intersects_xy(clip, xs, ys)
        keep = inside[t] & inside[h]
        t, h, ln = t[keep], h[keep], ln[keep]
    used = np.zeros(ids.size, dtype=bool)
    used[t] = True
    used[h] = True
    new_index = np.cumsum(used) - 1
    ids, xs, ys = ids[used], xs[used], ys[used]
    t, h = new_index[t], new_index[h]
    indptr, indices, length_m = _csr(ids.size, t, h, ln)
    comp, sizes = _graph.weak_components(indptr, indices, length_m)
    net = Network(
        mode=mode,
        speed_kph=speed,
        node_id=ids,
        lon=xs,
        lat=ys,
        indptr=indptr,
        indices=indices,
        length_m=length_m,
        component=comp,
        component_sizes=sizes,
        source=source,
        source_hash=source_hash,
        options=dict(options or {}),
    )
    if net.n_nodes == 0:
        raise InputError(
            f"no {mode} arcs left in {source or 'the graph'} (check the clip and the file)", field="source"
        )
    return net


def _csr(
    n: int, t: NDArray[np.int64], h: NDArray[np.int64], ln: NDArray[np.float64]
) -> tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float64]]:
    """:func:`geo._graph.build_csr`, skipping its sort when the arcs are already sorted by (tail,
    head) without duplicates or self-loops (as :mod:`geo.osm` hands them over)."""
    if t.size and n < 2**31:
        key = np.asarray(t, dtype=np.int64) * n + h
        if bool(np.all(key[1:] > key[:-1])) and not bool(np.any(t == h)):
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(t, minlength=n), out=indptr[1:])
            return indptr.astype(np.int32), np.asarray(h, dtype=np.int32), np.asarray(ln, dtype=np.float64)
    return _graph.build_csr(n, t, h, ln)


def clip_network(network: Network, clip: Clip) -> Network:
    """A new network keeping the arcs whose two end nodes lie inside ``clip`` (WGS-84)."""
    geom = clip_geometry(clip)
    assert geom is not None
    options = dict(network.options)
    options["clip_bounds"] = list(geom.bounds)
    options["clip_wkb_sha256"] = hashlib.sha256(shapely.to_wkb(geom, output_dimension=2)).hexdigest()
    return assemble_network(
        network.mode, network.speed_kph, network.node_id, network.lon, network.lat,
        network.tails.astype(np.int64), network.indices.astype(np.int64), network.length_m, clip=geom,
        source=network.source, source_hash=network.source_hash, options=options,
    )  # fmt: skip


# --------------------------------------------------------------------------- npz
#: the arrays every network file holds
_NETWORK_ARRAYS = {
    "node_id": np.int64, "lon": np.float64, "lat": np.float64, "indptr": np.int32, "indices": np.int32,
    "length_m": np.float64, "component": np.int32, "component_sizes": np.int64,
}  # fmt: skip
#: arrays start at multiples of this many bytes in the files written here (so they can be mapped)
_ALIGN = 64


def network_checksum(network: Network) -> str:
    """sha256 of the arrays that define the graph (CSR and lengths): what stored search structures
    are checked against."""
    h = hashlib.sha256()
    for a in (network.indptr, network.indices, network.length_m):
        h.update(np.ascontiguousarray(a).view(np.uint8).data)  # the arrays' bytes, not a copy of them
    return h.hexdigest()


def _derived_arrays(network: Network) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """The reverse CSR, (for networks large enough to use it) the contracted junction graph of
    the coverage search and the snapping index, with what checks them on reading."""
    from geo import _contract

    arrays: dict[str, NDArray[Any]] = {}
    meta: dict[str, Any] = {
        "format": DERIVED_FORMAT,
        "contract_format": _contract.STATE_FORMAT,
        "checksum": network_checksum(network),
        "symmetric": bool(network.symmetric),
    }
    if not network.symmetric:
        rip, rix, rln = network.reverse_arrays
        arrays.update({"reverse_indptr": rip, "reverse_indices": rix, "reverse_length_m": rln})
    if network.n_nodes >= _contract.MIN_NODES:
        state, scalars = _contract.search_state(_contract.contracted_search(network))
        arrays.update({f"contract__{k}": v for k, v in state.items()})
        meta["contract_scalars"] = scalars
    snap_arrays, meta["snap"] = network.edge_index.state()
    arrays.update({f"snap__{k}": v for k, v in snap_arrays.items()})
    return arrays, meta


def _write_npz(fh: Any, arrays: dict[str, NDArray[Any]]) -> None:
    """``np.savez`` (uncompressed, no pickles), with every array's data starting at a multiple of
    :data:`_ALIGN` bytes in the file: a padding extra field in each member's local header."""
    import struct

    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            # local header: 30 bytes + name + extra (ours + the 20-byte zip64 field zipfile appends);
            # the .npy header then pads the array data to a multiple of 64 bytes
            start = fh.tell() + 30 + len(info.filename.encode()) + 20
            pad = 4 + (-(start + 4)) % _ALIGN
            info.extra = struct.pack("<HH", 0x7979, pad - 4) + bytes(pad - 4)
            with zf.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)


def save_network(network: Network, path: str | Path, *, derived: bool = False) -> Path:
    """Write the compact ``.npz`` form of a network (atomic replace). Returns the path.

    With ``derived``, the reverse CSR, the contracted junction graph of the coverage search and
    the snapping index (edges and KD-trees) are stored too (built now if needed), so another
    process loading the file skips building them; they are checked against
    :func:`network_checksum` when read. Arrays are aligned in the file, so readers map them
    instead of copying them (:func:`read_network_npz`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "mode": network.mode,
        "speed_kph": network.speed_kph,
        "source": network.source,
        "source_hash": network.source_hash,
        "options": network.options,
    }
    extra: dict[str, NDArray[Any]] = {}
    if derived:
        extra, meta["derived"] = _derived_arrays(network)
    from geo.text import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # the permissions of any new file
        payload = {name: getattr(network, name) for name in _NETWORK_ARRAYS}
        _write_npz(fh, {**payload, "meta": np.asarray(json.dumps(meta)), **extra})
    return path


def _adopt_derived(net: Network, z: dict[str, NDArray[Any]], meta: dict[str, Any], name: str) -> None:
    """Attach the stored reverse CSR, contracted search and snapping index when they match this
    network."""
    from geo import _contract

    derived = meta.get("derived")
    if not derived:
        return
    if derived.get("format") != DERIVED_FORMAT or derived.get("contract_format") != _contract.STATE_FORMAT:
        log.info("%s: stored search structures of another format; they will be rebuilt", name)
        return
    if derived.get("checksum") != network_checksum(net):
        log.warning("%s: stored search structures do not match the network's checksum; ignored", name)
        return
    cached = vars(net)  # cached_property slots of the frozen dataclass
    cached["symmetric"] = bool(derived["symmetric"])
    if not derived["symmetric"]:
        cached["reverse_arrays"] = (
            z["reverse_indptr"].astype(np.int32, copy=False),
            z["reverse_indices"].astype(np.int32, copy=False),
            z["reverse_length_m"].astype(np.float64, copy=False),
        )
    if "contract_scalars" in derived:
        state = {k.removeprefix("contract__"): v for k, v in z.items() if k.startswith("contract__")}
        _contract.adopt_state(net, state, {k: int(v) for k, v in derived["contract_scalars"].items()})
    snap = derived.get("snap")
    if snap is not None and EdgeIndex.stored_usable(snap):
        arrays = {k.removeprefix("snap__"): v for k, v in z.items() if k.startswith("snap__")}
        cached[_STORED_EDGE_INDEX] = (arrays, snap)
    elif snap is not None:
        log.info("%s: stored snapping index of another format or scipy; it will be rebuilt", name)


def _mapped_arrays(path: Path) -> dict[str, NDArray[Any]]:
    """Every array of an uncompressed ``.npz`` as a read-only view of the file mapped into memory
    (pages are read when touched and shared between processes); members that are compressed or
    not aligned are read into memory instead."""
    import io
    import mmap

    out: dict[str, NDArray[Any]] = {}
    with open(path, "rb") as fh, zipfile.ZipFile(fh) as zf:
        size = os.fstat(fh.fileno()).st_size
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            if mapped is None or info.compress_type != zipfile.ZIP_STORED or info.file_size == 0:
                out[name] = _read_member(zf, info)
                continue
            at = info.header_offset
            local = mapped[at : at + 30]
            start = at + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
            head = io.BytesIO(mapped[start : start + min(info.file_size, 1 << 16)])
            version = np.lib.format.read_magic(head)
            fmt = np.lib.format
            reader = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = reader(head)
            count = int(np.prod(shape, dtype=np.int64))
            if dtype.hasobject or (start + head.tell()) % max(dtype.alignment, 1):
                out[name] = _read_member(zf, info)
                continue
            arr = np.frombuffer(mapped, dtype=dtype, count=count, offset=start + head.tell())
            out[name] = arr.reshape(shape, order="F" if fortran else "C")
    return out


def _read_member(zf: Any, info: Any) -> NDArray[Any]:
    with zf.open(info) as member:
        return np.asarray(np.lib.format.read_array(member, allow_pickle=False))


def read_network_npz(path: str | Path) -> Network:
    """Read a compact ``.npz`` network written by :func:`save_network` (no pickles); stored search
    structures are attached when their checksum matches the network's arrays. Arrays are mapped
    from the file, not copied (read-only)."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"network file {str(path)!r} does not exist", field="source")
    try:
        z = _mapped_arrays(path)
        meta = json.loads(str(z["meta"]))
        if meta.get("format") != FORMAT_VERSION:
            raise InputError(
                f"{path.name} has network format {meta.get('format')}, expected {FORMAT_VERSION}",
                field="source",
            )
        arrays = {k: z[k].astype(dtype, copy=False) for k, dtype in _NETWORK_ARRAYS.items()}
        net = Network(
            mode=meta["mode"],
            speed_kph=float(meta["speed_kph"]),
            source=meta.get("source", ""),
            source_hash=meta.get("source_hash", ""),
            options=meta.get("options", {}),
            **arrays,
        )
        _adopt_derived(net, z, meta, path.name)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path.name} is not a yizhan network file: {exc}", field="source") from None
    return net


def cache_path(
    source: str | Path,
    *,
    mode: str = "walk",
    clip: Clip | None = None,
    oneway: bool | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Where :func:`load_network` caches the network built from ``source`` with these options."""
    path = Path(source)
    mode = resolve_mode(mode)
    respect = respects_oneway(mode, oneway)
    key = json.dumps(
        {"sha256": file_sha256(path), **network_options(mode, respect, clip_geometry(clip))}, sort_keys=True
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    stem = path.name.split(".")[0]
    return (cache_dir or default_cache_dir()) / f"{stem}-{mode}-{digest}.npz"


def load_network(
    source: str | Path,
    *,
    mode: str | None = None,
    speed_kph: float | None = None,
    clip: Clip | None = None,
    oneway: bool | None = None,
    cache: bool = True,
    cache_dir: Path | None = None,
) -> Network:
    """Load a travel network from a file, using the compact cache when possible.

    Parameters
    ----------
    source : str or Path
        OSM XML (``.osm``, ``.osm.bz2``, ``.osm.gz``), osmnx GraphML (``.graphml``) or a yizhan
        ``.npz`` (from ``yizhan network build``). Coordinates WGS-84 (EPSG:4326).
    mode : {"walk", "ebike"}, optional
        Travel mode; default ``"walk"`` (for ``.npz`` the stored mode, and a different explicit
        mode is an error).
    speed_kph : float, optional
        Speed in km/h; default from ``data/modes.toml`` (for ``.npz`` the stored speed).
    clip : shapely Polygon or (minx, miny, maxx, maxy), optional
        Keep only arcs with both ends inside (degrees, EPSG:4326).
    oneway : bool, optional
        Respect one-way streets (default: no for walk, yes for ebike).
    cache : bool
        Read/write the compact cache keyed by sha256(source) + mode + options + clip.
    cache_dir : Path, optional
        Cache directory (default :func:`geo.config.cache_dir`).

    Returns
    -------
    Network
    """
    path = Path(source)
    _check_speed(speed_kph)
    if not path.exists():
        raise NotFoundError(f"network source {str(path)!r} does not exist", field="source")
    if path.suffix.lower() == ".npz":
        return _load_npz(path, mode=mode, speed_kph=speed_kph, clip=clip, oneway=oneway)
    mode = resolve_mode(mode or "walk")
    speed = float(speed_kph) if speed_kph is not None else mode_speeds_kph()[mode]
    cpath = cache_path(path, mode=mode, clip=clip, oneway=oneway, cache_dir=cache_dir) if cache else None
    if cpath is not None and cpath.exists():
        try:
            net = read_network_npz(cpath)
            log.info("network cache hit %s", cpath)
            return net.with_speed(speed)
        except InputError as exc:
            log.warning("ignoring unreadable network cache %s: %s", cpath, exc)
    net = _build_network(path, mode=mode, speed=speed, clip=clip, oneway=oneway)
    if cpath is not None:
        save_network(net, cpath, derived=True)
    return net


def _load_npz(
    path: Path, *, mode: str | None, speed_kph: float | None, clip: Clip | None, oneway: bool | None
) -> Network:
    """:func:`load_network` of a yizhan ``.npz``: the stored mode and one-way rule must match the
    ones asked for."""
    net = read_network_npz(path)
    if mode is not None and resolve_mode(mode) != net.mode:
        raise InputError(f"{path.name} holds the {net.mode} network, not {mode} (ask for mode {net.mode}, "
                         f"or give the {mode} network)", field="mode")
    stored_oneway = net.options.get("oneway")
    if oneway is not None and stored_oneway is not None and bool(oneway) != bool(stored_oneway):
        raise InputError(
            f"{path.name} was built with oneway={stored_oneway}; rebuild it from the street file",
            field="oneway",
        )
    if clip is not None:
        net = clip_network(net, clip)
    return net.with_speed(speed_kph) if speed_kph is not None else net


def _build_network(path: Path, *, mode: str, speed: float, clip: Clip | None, oneway: bool | None) -> Network:
    """:func:`load_network` of a street file: OSM PBF/XML streamed with pyosmium, GraphML with osmnx."""
    t0 = time.perf_counter()
    if osm_format(path) is not None:  # OSM PBF/XML: streamed with pyosmium
        from geo.osm.build import network_from_osm

        net = network_from_osm(path, mode=mode, speed_kph=speed, clip=clip, oneway=oneway)
    else:
        graph, require_highway = _read_osmnx_graph(path)
        net = network_from_graph(
            graph,
            mode=mode,
            speed_kph=speed,
            clip=clip,
            oneway=oneway,
            require_highway=require_highway,
            source=str(path),
            source_hash=file_sha256(path),
        )
    log.info(
        "built %s network from %s in %.2fs: %d nodes, %d arcs",
        mode,
        path.name,
        time.perf_counter() - t0,
        net.n_nodes,
        net.n_arcs,
    )
    return net


def network_from_place(
    place: str | dict[str, str],
    *,
    mode: str = "walk",
    speed_kph: float | None = None,
    oneway: bool | None = None,
) -> Network:
    """Download a network for a place name with osmnx (needs internet; not used in tests).

    The full ``all`` osmnx network is fetched unsimplified and filtered with the same mode rules
    as files, so online and offline networks agree.
    """
    import osmnx as ox

    old, new = _osmnx_settings_tags()
    ox.settings.useful_tags_way = new
    try:
        graph = ox.graph_from_place(place, network_type="all", simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = old
    return network_from_graph(graph, mode=mode, speed_kph=speed_kph, oneway=oneway, source=f"place:{place}")


# --------------------------------------------------------------------------- nearest stations
def nearest_k(
    network: Network,
    station_lon: ArrayLike,
    station_lat: ArrayLike,
    *,
    k: int = 3,
    horizon_minutes: float = 60.0,
    max_meters: float = 300.0,
    chunk: int = 64,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The ``k`` nearest stations of every node by travel time (worker at the node → station).

    Time = (shortest path node → an end of S's edge + the partial edge to S's projection + the
    straight line to S) / speed, the coverage engine's definition. Each station is one limited
    compiled search on the reversed graph from both ends of its edge (:attr:`Network.offset_search`,
    which releases the GIL, so a server answering requests meanwhile is not stalled); a running
    top-k is kept over chunks of ``chunk`` stations, so memory stays O(n_nodes · (k + chunk)).

    Parameters
    ----------
    network : Network
    station_lon, station_lat : array-like of float
        Station coordinates (WGS-84). Stations farther than ``max_meters`` from the network are
        never returned.
    k : int
        Number of stations per node.
    horizon_minutes : float
        Search limit; farther stations are not listed.

    Returns
    -------
    (station_index, minutes)
        ``(n_nodes, k)`` int64 positions into the station arrays (``-1`` where fewer than ``k``
        stations are within the horizon) and ``(n_nodes, k)`` float64 minutes (NaN there), each
        row sorted by increasing minutes.
    """
    if not (isinstance(k, int | np.integer) and k >= 1):
        raise InputError(f"k must be a positive integer, got {k!r}", field="k")
    if not (np.isfinite(horizon_minutes) and horizon_minutes > 0):
        raise InputError(
            f"horizon_minutes must be positive, got {horizon_minutes!r}", field="horizon_minutes"
        )
    if not (isinstance(chunk, int | np.integer) and chunk >= 1):
        raise InputError(f"chunk must be a positive integer, got {chunk!r}", field="chunk")
    snap = network.snap(station_lon, station_lat, max_meters=max_meters)
    entry, entry_m = snap.entries()  # a station is reached from either end of its edge
    n = network.n_nodes
    best_d = np.full((n, k), np.inf)
    best_i = np.full((n, k), -1, dtype=np.int64)
    limit = horizon_minutes * network.meters_per_minute
    stations = np.flatnonzero(snap.snapped)
    search = network.offset_search
    rows = np.arange(n)[:, None]
    for start in range(0, stations.size, chunk):
        ids = stations[start : start + chunk]
        d = np.empty((ids.size, n))
        for col, j in enumerate(ids.tolist()):
            ends = entry[j] >= 0
            d[col], _ = search.run(entry[j][ends], entry_m[j][ends], limit_m=limit)
        cand_d = np.concatenate([best_d, d.T], axis=1)
        cand_i = np.concatenate([best_i, np.broadcast_to(ids, (n, ids.size))], axis=1)
        part = (
            np.argpartition(cand_d, k - 1, axis=1)[:, :k]
            if cand_d.shape[1] > k
            else np.broadcast_to(np.arange(k), (n, k))
        )
        best_d = cand_d[rows, part]
        best_i = cand_i[rows, part]
    order = np.argsort(best_d, axis=1, kind="stable")
    best_d = best_d[rows, order]
    best_i = best_i[rows, order]
    best_i[~np.isfinite(best_d)] = -1
    return best_i, np.where(np.isfinite(best_d), best_d / network.meters_per_minute, np.nan)


def iter_arcs(network: Network) -> Iterable[tuple[int, int, float]]:
    """Yield ``(tail, head, length_m)`` for every arc (node indices)."""
    yield from zip(network.tails.tolist(), network.indices.tolist(), network.length_m.tolist(), strict=True)


__all__ = [
    "Network",
    "Snap",
    "arc_allowed",
    "cache_path",
    "clip_network",
    "iter_arcs",
    "load_network",
    "nearest_k",
    "network_from_graph",
    "network_from_place",
    "parse_clip",
    "read_network_npz",
    "save_network",
]
