"""Session fixtures: the real street networks and station-like points, loaded once.

Networks are built from the real extracts in ``geo.config.data_dir()`` into a throw-away cache
directory (so the first load also writes the compact cache the next fixture of the same source
may reuse). Usable by every test under ``tests/geo``:

``shenzhen_walk``, ``shenzhen_ebike`` (Nanshan core, clipped to SHENZHEN_CORE), ``shanghai_walk``,
``shanghai_ebike`` (drive-only extract), ``changsha_walk`` (clipped to its <bounds>), ``xian_ebike``
(GraphML), ``shenzhen_pois`` (all POIs), ``shenzhen_banks`` (bank POIs as an open-stations frame)
and ``shenzhen_demand`` (food/retail POIs as a canonical demand frame).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import osmnx as ox
import pytest

from geo.config import data_dir
from geo.network import Network, arc_allowed, load_network

SHENZHEN_CORE = (113.92, 22.535, 113.97, 22.56)
CHANGSHA_BOUNDS = (112.94196, 28.18252, 112.94899, 28.18780)


def shenzhen_osm() -> Path:
    return data_dir() / "shenzhen_roadnetworkcreator" / "shenzhen_nanshan_osm.osm"


def shanghai_osm() -> Path:
    return data_dir() / "shanghai_le_degn" / "shanghai_jingan_huangpu_drive.osm"


def changsha_osm() -> Path:
    return data_dir() / "changsha_osm_planner" / "changsha_yuelu_taozihu_map.osm"


def xian_graphml() -> Path:
    return data_dir() / "xian_gotrackit" / "xian_gotrackit_drive.graphml"


@pytest.fixture(scope="session")
def network_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("network-cache")


@pytest.fixture(scope="session")
def shenzhen_walk(network_cache_dir: Path) -> Network:
    return load_network(shenzhen_osm(), mode="walk", clip=SHENZHEN_CORE, cache_dir=network_cache_dir)


@pytest.fixture(scope="session")
def shenzhen_ebike(network_cache_dir: Path) -> Network:
    return load_network(shenzhen_osm(), mode="ebike", clip=SHENZHEN_CORE, cache_dir=network_cache_dir)


@pytest.fixture(scope="session")
def shanghai_walk(network_cache_dir: Path) -> Network:
    return load_network(shanghai_osm(), mode="walk", cache_dir=network_cache_dir)


@pytest.fixture(scope="session")
def shanghai_ebike(network_cache_dir: Path) -> Network:
    return load_network(shanghai_osm(), mode="ebike", cache_dir=network_cache_dir)


@pytest.fixture(scope="session")
def changsha_walk(network_cache_dir: Path) -> Network:
    return load_network(changsha_osm(), mode="walk", clip=CHANGSHA_BOUNDS, cache_dir=network_cache_dir)


@pytest.fixture(scope="session")
def xian_ebike(network_cache_dir: Path) -> Network:
    return load_network(xian_graphml(), mode="ebike", cache_dir=network_cache_dir)


@pytest.fixture(scope="session")
def shenzhen_pois() -> gpd.GeoDataFrame:
    return gpd.read_file(data_dir() / "shenzhen_roadnetworkcreator" / "shenzhen_nanshan_osm_pois.geojson")


@pytest.fixture(scope="session")
def shenzhen_banks(shenzhen_pois: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The 14 bank POIs (role_hint candidate_host) as a canonical open-stations frame."""
    banks = shenzhen_pois[
        (shenzhen_pois["role_hint"] == "candidate_host") & (shenzhen_pois["amenity"] == "bank")
    ]
    banks = banks.reset_index(drop=True)
    return gpd.GeoDataFrame(
        {
            "station_id": [f"bank-{i}" for i in banks["osm_id"]],
            "name": banks["name"],
            "kind": "union_station",
            "status": "open",
            "amenities": [["drinking_water", "charging"] for _ in range(len(banks))],
            "opening_hours": None,
        },
        geometry=banks.geometry.values,
        crs="EPSG:4326",
    )


@pytest.fixture(scope="session")
def shenzhen_demand(shenzhen_pois: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Food and retail POIs as a canonical demand frame (weight 2 for food, 1 for retail)."""
    pts = shenzhen_pois[shenzhen_pois["role_hint"].isin(["demand_food", "demand_retail"])].reset_index(
        drop=True
    )
    food = (pts["role_hint"] == "demand_food").to_numpy()
    return gpd.GeoDataFrame(
        {
            "demand_id": [f"poi-{i}" for i in pts["osm_id"]],
            "group": ["delivery_rider" if f else "courier" for f in food],
            "weight": [2.0 if f else 1.0 for f in food],
            "layer": "pois",
            "name": pts["name"],
        },
        geometry=pts.geometry.values,
        crs="EPSG:4326",
    )


def read_raw_osmnx(path: Path) -> nx.MultiDiGraph:
    """The unsimplified osmnx graph with the extra way tags the mode rules read."""
    old = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = [
        *old,
        "foot",
        "bicycle",
        "motorroad",
        "oneway:bicycle",
        "access",
        "service",
    ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the Shanghai file was written by osmnx
            return ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = old


@pytest.fixture(scope="session")
def raw_graphs() -> dict[str, nx.MultiDiGraph]:
    """Raw osmnx graphs keyed by place (independent of geo.network's CSR assembly)."""
    return {
        "shenzhen": read_raw_osmnx(shenzhen_osm()),
        "shanghai": read_raw_osmnx(shanghai_osm()),
        "changsha": read_raw_osmnx(changsha_osm()),
    }


def reference_digraph(
    raw: nx.MultiDiGraph,
    *,
    mode: str,
    bbox: tuple[float, float, float, float] | None = None,
    oneway: bool | None = None,
) -> nx.DiGraph:
    """A networkx DiGraph over OSM node ids built straight from the osmnx graph: the reference.

    Mode tag rules come from :func:`geo.network.arc_allowed` (tested on their own); directions,
    clipping and parallel arcs are handled here independently.
    """
    respect = (mode != "walk") if oneway is None else oneway
    g = nx.DiGraph()

    def inside(n: Any) -> bool:
        if bbox is None:
            return True
        x, y = raw.nodes[n]["x"], raw.nodes[n]["y"]
        return bbox[0] <= x <= bbox[2] and bbox[1] <= y <= bbox[3]

    def add(u: Any, v: Any, w: float) -> None:
        if u == v:
            return
        if g.has_edge(u, v):
            g[u][v]["length"] = min(g[u][v]["length"], w)
        else:
            g.add_edge(u, v, length=w)

    for u, v, d in raw.edges(data=True):
        if "highway" not in d or not arc_allowed(d, mode) or not (inside(u) and inside(v)):
            continue
        add(u, v, float(d["length"]))
        if not respect or str(d.get("oneway:bicycle", "")).lower() == "no":
            add(v, u, float(d["length"]))
    for n in g.nodes:
        g.nodes[n]["x"] = raw.nodes[n]["x"]
        g.nodes[n]["y"] = raw.nodes[n]["y"]
    return g


@pytest.fixture(scope="session")
def reference_graph() -> Callable[..., nx.DiGraph]:
    """Factory: ``reference_graph(raw, mode=..., bbox=..., oneway=...)`` → networkx reference graph."""
    return reference_digraph
