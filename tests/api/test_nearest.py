"""/nearest: k nearest matching stations by travel time, checked against the coverage engine and an
independent networkx Dijkstra; CRS round trip; filters; invalidation on registry changes; errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import geopandas as gpd
import networkx as nx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.coverage import compute_coverage
from geo.crs import wgs84_to_gcj02
from geo.db import repository
from geo.network import Network
from tests.api._support import SHENZHEN_UNIVERSITY, TECH_PARK
from tests.geo._split import split_graph

AddStation = Callable[..., dict[str, Any]]
QUERY = (113.9445, 22.5405)  # WGS-84, between Shenzhen University and the Tech Park

STATIONS: list[tuple[str, tuple[float, float], dict[str, Any]]] = [
    (
        "深大工会驿站",
        SHENZHEN_UNIVERSITY,
        {"amenities": ["drinking_water", "toilet"], "opening_hours": "24/7"},
    ),
    ("科技园爱心驿站", TECH_PARK, {"amenities": ["charging"], "opening_hours": "Mo-Fr 09:00-18:00"}),
    (
        "高新南驿站",
        (113.9480, 22.5370),
        {"amenities": ["drinking_water"], "opening_hours": "Mo-Su 06:00-22:00"},
    ),
    ("后海驿站", (113.9410, 22.5470), {"amenities": ["drinking_water", "charging"]}),
]


@pytest.fixture()
def stations(add_station: AddStation) -> list[dict[str, Any]]:
    return [add_station(name, lon, lat, **props) for name, (lon, lat), props in STATIONS]


def _nearest(client: TestClient, **params: Any) -> dict[str, Any]:
    r = client.get("/nearest", params=params)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _network(api_app: tuple[FastAPI, TestClient], mode: str) -> Network:
    net: Network = api_app[0].state.networks[mode]
    return net


def test_results_shape_and_order(client: TestClient, stations: list[dict[str, Any]]) -> None:
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=3)
    res = body["results"]
    assert len(res) == 3
    minutes = [r["minutes"] for r in res]
    assert minutes == sorted(minutes) and minutes[0] > 0
    ids = {s["id"] for s in stations}
    for r in res:
        feat = r["station"]
        assert feat["type"] == "Feature" and feat["id"] in ids
        assert "amenities" in feat["properties"]
        coords = r["route"]["coordinates"]
        assert r["route"]["type"] == "LineString"
        assert coords[0] == [QUERY[0], QUERY[1]]
        assert coords[-1] == feat["geometry"]["coordinates"]
        assert r["meters"] > 0
        # walking 4.5 km/h: meters and minutes describe the same path
        assert r["meters"] == pytest.approx(r["minutes"] * 4500 / 60, rel=1e-3)
        url = urlparse(r["amap_url"])
        assert url.netloc == "uri.amap.com" and url.path == "/navigation"
        q = parse_qs(url.query)
        assert q["mode"] == ["walk"] and q["coordinate"] == ["gaode"] and q["callnative"] == ["1"]
        tlon, tlat, name = q["to"][0].split(",", 2)
        glon, glat = wgs84_to_gcj02(*feat["geometry"]["coordinates"])
        assert abs(float(tlon) - glon) < 2e-6 and abs(float(tlat) - glat) < 2e-6
        assert name == feat["properties"]["name"]
    first = res[0]["station"]["properties"]
    if first["opening_hours"] == "24/7":
        assert res[0]["hours_today"] and "24" in res[0]["hours_today"]
    ebike = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=1, mode="ebike")
    assert "mode=ride" in ebike["results"][0]["amap_url"]
    assert ebike["results"][0]["minutes"] < res[0]["minutes"]


def test_equals_coverage_engine_and_networkx(
    client: TestClient, stations: list[dict[str, Any]], db_session: Session, api_app: Any
) -> None:
    """Minutes equal compute_coverage's for a demand point at the query location, and a networkx
    Dijkstra on the same network gives the same travel time to every returned station."""
    for mode in ("walk", "ebike"):
        net = _network(api_app, mode)
        body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=4, mode=mode)
        demand = gpd.GeoDataFrame(
            {"demand_id": ["q"], "group": ["delivery_rider"], "weight": [1.0], "layer": ["test"]},
            geometry=[Point(*QUERY)],
            crs="EPSG:4326",
        )
        result = compute_coverage(net, repository.stations_frame(db_session), demand, minutes=15)
        row = result.demand.iloc[0]
        assert body["results"][0]["minutes"] == pytest.approx(float(row["minutes"]), abs=1e-3)
        assert body["results"][0]["station"]["id"] == row["nearest_station"]

        # networkx on the graph where the query point and every returned station split their edges
        coords = [r["station"]["geometry"]["coordinates"] for r in body["results"]]
        sx, sy = [c[0] for c in coords], [c[1] for c in coords]
        qx, qy = [QUERY[0]], [QUERY[1]]
        groups = [("s", sx, sy, net.snap(sx, sy)), ("q", qx, qy, net.snap(qx, qy))]
        g = split_graph(net.to_networkx(), net, groups, node_key=int)
        lengths = nx.single_source_dijkstra_path_length(g, ("q", 0), weight="length")
        for j, r in enumerate(body["results"]):
            assert r["minutes"] == pytest.approx(lengths[("s", j)] / net.meters_per_minute, abs=1e-3)
            assert r["meters"] == pytest.approx(lengths[("s", j)], abs=0.05)


def test_gcj02_query_matches_wgs84(client: TestClient, stations: list[dict[str, Any]]) -> None:
    wgs = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=3)
    glon, glat = wgs84_to_gcj02(*QUERY)
    gcj = _nearest(client, lon=glon, lat=glat, crs="gcj02", k=3)
    assert gcj["query"]["crs"] == "gcj02"
    default = _nearest(client, lon=QUERY[0], lat=QUERY[1], k=3)  # WGS-84 by default, as everywhere
    assert default["query"]["crs"] == "wgs84"
    assert default["results"] == wgs["results"]
    assert gcj["query"]["lon_wgs84"] == pytest.approx(QUERY[0], abs=1e-6)
    assert [r["station"]["id"] for r in gcj["results"]] == [r["station"]["id"] for r in wgs["results"]]
    for a, b in zip(gcj["results"], wgs["results"], strict=True):
        assert a["minutes"] == pytest.approx(b["minutes"], abs=1e-3)
        # output coordinates follow the query CRS
        assert a["station"]["geometry"]["coordinates"] == pytest.approx(
            list(wgs84_to_gcj02(*b["station"]["geometry"]["coordinates"])), abs=1e-6
        )


def test_filters(client: TestClient, stations: list[dict[str, Any]], add_station: AddStation) -> None:
    add_station("规划驿站", QUERY[0] + 0.0002, QUERY[1], status="planned")
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=20)
    names = [r["station"]["properties"]["name"] for r in body["results"]]
    assert "规划驿站" not in names and len(names) == 4
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=5, amenity=["charging"])
    assert sorted(r["station"]["properties"]["name"] for r in body["results"]) == [
        "后海驿站",
        "科技园爱心驿站",
    ]
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=5, amenity=["饮用水", "充电"])
    assert [r["station"]["properties"]["name"] for r in body["results"]] == ["后海驿站"]
    # Sunday 07:00 China time: the 24/7 and the 06:00-22:00 stations; no-hours stations are not known open
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=5, at="2026-11-22T07:00:00")
    assert sorted(r["station"]["properties"]["name"] for r in body["results"]) == [
        "深大工会驿站",
        "高新南驿站",
    ]
    assert body["query"]["at"].startswith("2026-11-22T07:00")
    # the same moment given in UTC
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=5, at="2026-11-21T23:00:00Z")
    assert sorted(r["station"]["properties"]["name"] for r in body["results"]) == [
        "深大工会驿站",
        "高新南驿站",
    ]
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84", k=5, open_now="true")
    assert 1 <= len(body["results"]) <= 3  # the 24/7 station is always open


def test_new_station_invalidates_tables(
    client: TestClient, stations: list[dict[str, Any]], api_app: Any
) -> None:
    point = (113.9500, 22.5415)
    before = _nearest(client, lon=point[0], lat=point[1], crs="wgs84", k=1)["results"][0]
    index = api_app[0].state.nearest
    builds, derived = index.builds, index.derived
    _nearest(client, lon=point[0], lat=point[1], crs="wgs84", k=1)
    assert (index.builds, index.derived) == (builds, derived)  # served from the cached table
    r = client.post(
        "/stations",
        json={
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [point[0] + 0.0001, point[1]]},
            "properties": {"name": "新开驿站"},
        },
        headers={"X-API-Key": "second-key"},
    )
    assert r.status_code == 201, r.text
    after = _nearest(client, lon=point[0], lat=point[1], crs="wgs84", k=1)["results"][0]
    assert after["station"]["id"] == r.json()["id"]
    assert after["minutes"] < before["minutes"]
    # the new station's table is derived from the cached one (one limited search), not rebuilt
    assert (index.builds, index.derived) == (builds, derived + 1)
    # closing it brings the old answer back
    assert (
        client.delete(f"/stations/{r.json()['id']}", headers={"X-API-Key": "second-key"}).status_code == 200
    )
    again = _nearest(client, lon=point[0], lat=point[1], crs="wgs84", k=1)["results"][0]
    assert again["station"]["id"] == before["station"]["id"]
    assert again["minutes"] == pytest.approx(before["minutes"])


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"lon": 190, "lat": 22.54}, "lon", "less than or equal"),
        ({"lon": 113.94, "lat": -95}, "lat", "greater than or equal"),
        ({"lon": "abc", "lat": 22.54}, "lon", "number"),
        ({"lat": 22.54}, "lon", "required"),
        ({"lon": 2.35, "lat": 48.85, "crs": "wgs84"}, "lon", "outside mainland China"),
        ({"lon": 116.39, "lat": 39.91, "crs": "wgs84"}, "lon", "snap limit"),
        ({"lon": 113.9445, "lat": 22.5405, "mode": "car"}, "mode", "walk"),
        ({"lon": 113.9445, "lat": 22.5405, "k": 0}, "k", "greater than or equal"),
        ({"lon": 113.9445, "lat": 22.5405, "k": 21}, "k", "less than or equal"),
        ({"lon": 113.9445, "lat": 22.5405, "amenity": "jacuzzi"}, "amenity", "unknown amenity"),
        ({"lon": 113.9445, "lat": 22.5405, "open_now": "true", "at": "2026-11-22T07:00"}, "at", "not both"),
        ({"lon": 113.9445, "lat": 22.5405, "at": "yesterday"}, "at", "ISO 8601"),
        ({"lon": 113.9445, "lat": 22.5405, "crs": "mars"}, "crs", "wgs84"),
        ({"lon": 113.9445, "lat": 22.5405, "radius": 5}, "radius", "Extra inputs are not permitted"),
        ({"lon": 113.9445, "lat": 22.5405, "k": ""}, "k", "valid integer"),
        ({"lon": 113.9445, "lat": 22.5405, "amenity": ["water"] * 21}, "amenity", "at most 20 items"),
    ],
)
def test_errors(client: TestClient, params: dict[str, Any], field: str, words: str) -> None:
    r = client.get("/nearest", params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == field
    assert words in body["detail"], body["detail"]


def test_query_parameters_documented_like_fastapi_query_models(client: TestClient) -> None:
    """/nearest validates its query string in one pydantic call (api.deps.query_model); the OpenAPI
    document still lists every field as a query parameter, enums inlined, bounds and defaults kept."""
    listed = client.get("/openapi.json").json()["paths"]["/nearest"]["get"]["parameters"]
    params = {p["name"]: p for p in listed}
    assert list(params) == ["lon", "lat", "crs", "mode", "k", "amenity", "open_now", "at"]
    assert all(p["in"] == "query" for p in params.values())
    assert [n for n, p in params.items() if p["required"]] == ["lon", "lat"]
    assert params["lon"]["schema"]["minimum"] == 73.4 and params["lat"]["schema"]["maximum"] == 53.6
    assert params["crs"]["schema"]["enum"] == ["wgs84", "gcj02", "bd09"]
    assert params["crs"]["schema"]["default"] == "wgs84"  # WGS-84 by default, as every endpoint
    assert params["mode"]["schema"]["enum"] == ["walk", "ebike"]
    assert params["k"]["schema"] == {**params["k"]["schema"], "minimum": 1, "maximum": 20, "default": 3}
    assert params["amenity"]["schema"]["type"] == "array" and params["amenity"]["schema"]["maxItems"] == 20
    assert "pattern" in params["at"]["schema"]["anyOf"][0]
    assert all(p.get("description") for p in params.values())


def test_repeated_amenity_and_last_scalar_win(client: TestClient, stations: list[dict[str, Any]]) -> None:
    r = client.get("/nearest", params=[("lon", "0"), ("lon", str(QUERY[0])), ("lat", str(QUERY[1])),
                                       ("crs", "wgs84"), ("amenity", "饮用水"), ("amenity", "charging")])
    assert r.status_code == 200, r.text
    assert r.json()["query"]["amenity"] == ["drinking_water", "charging"]
    assert r.json()["query"]["lon"] == QUERY[0]


def test_no_station_gives_empty_results(client: TestClient) -> None:
    body = _nearest(client, lon=QUERY[0], lat=QUERY[1], crs="wgs84")
    assert body["results"] == []


def test_registry_check_hands_its_connection_back(api_app: tuple[FastAPI, TestClient]) -> None:
    """Without the tests' session override: the registry check opens a session of its own and
    returns its connection to the pool before the routing work."""
    app, client = api_app
    app.state.nearest.clear()  # the next request must read the registry version
    r = client.get("/nearest", params={"lon": QUERY[0], "lat": QUERY[1], "crs": "wgs84"})
    assert r.status_code == 200, r.text
    app.state.nearest.current()  # raises if the registry was not read
    assert app.state.engine.pool.checkedout() == 0


@pytest.mark.parametrize("path", ["/nearest", "/coverage"])
def test_mode_without_a_loaded_network(
    api_app: tuple[FastAPI, TestClient], path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/nearest (its own check) and /coverage (the NetworkDep dependency) give the same 422."""
    app, client = api_app
    monkeypatch.delitem(app.state.networks, "ebike")
    r = client.get(path, params={"lon": QUERY[0], "lat": QUERY[1], "crs": "wgs84", "mode": "ebike"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "mode"
    assert "no network is loaded for mode 'ebike' (loaded: walk)" in body["detail"], body["detail"]


# a point on a 363 m Tech Park street whose nearest *node* (32.5 m) belongs to a 45-node footway
# island, the street's own nodes being 58 m and more away: node snapping put it on the island and
# /nearest answered "no station" with four stations 600-650 m away along the streets
ISLAND_CASE = (113.95450936, 22.54347740)
AROUND = [(113.953765, 22.543139), (113.95953, 22.542596), (113.959836, 22.544657), (113.953323, 22.544711)]


def test_point_beside_a_footway_island_finds_the_stations(
    client: TestClient, add_station: AddStation, api_app: Any
) -> None:
    net = _network(api_app, "walk")
    # the old rule really chose the island here (nearest node on a small piece, no main node within
    # max(25 m, 1.5 x) of it) ...
    from geo._graph import haversine_m

    d = haversine_m(ISLAND_CASE[0], ISLAND_CASE[1], net.lon, net.lat)
    nearest = int(d.argmin())
    assert net.component[nearest] != 0 and net.component_sizes[net.component[nearest]] < 50
    assert d[net.component == 0].min() > max(25.0, 1.5 * d[nearest])
    # ... while the point lies on a street of the main network
    snap = net.snap(*ISLAND_CASE)
    assert snap.piece[0] == 0 and snap.meters[0] < 1.0
    for i, (lon, lat) in enumerate(AROUND):
        add_station(f"科技园驿站{i}", lon + 1e-5, lat, opening_hours="24/7")
    body = _nearest(client, lon=ISLAND_CASE[0], lat=ISLAND_CASE[1], crs="wgs84", k=4)
    assert len(body["results"]) == 4
    assert all(300 < r["meters"] < 700 for r in body["results"])
    assert body["query"]["snap_meters"] < 1.0


def test_station_on_the_same_street_is_reached_along_it(
    client: TestClient, add_station: AddStation, api_app: Any
) -> None:
    net = _network(api_app, "walk")
    snap = net.snap(*ISLAND_CASE)
    u, v = int(snap.tail[0]), int(snap.head[0])
    t = float(snap.fraction[0]) + 0.3  # 30 % of the 363 m street farther on, 1 m to the side
    lon = net.lon[u] + t * (net.lon[v] - net.lon[u])
    lat = net.lat[u] + t * (net.lat[v] - net.lat[u]) + 1e-5
    add_station("同街驿站", float(lon), float(lat), opening_hours="24/7")
    body = _nearest(client, lon=ISLAND_CASE[0], lat=ISLAND_CASE[1], crs="wgs84", k=1)
    (hit,) = body["results"]
    st = net.snap(lon, lat)
    want = float(snap.meters[0]) + 0.3 * float(snap.length_m[0]) + float(st.meters[0])
    assert st.edge[0] == snap.edge[0]
    assert hit["meters"] == pytest.approx(want, abs=0.05)
    assert len(hit["route"]["coordinates"]) == 4  # point, its projection, the station's, the station
