"""/coverage, /coverage/areas, /coverage/area.geojson and /gaps against the coverage engine run directly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from geo.coverage import compute_coverage
from geo.db import repository
from geo.demand import combine_demand, demand_from_network, demand_from_pois
from tests.api._support import SHENZHEN_UNIVERSITY, TECH_PARK

AddStation = Callable[..., dict[str, Any]]
WEST = shapely.box(113.92, 22.535, 113.945, 22.56)
EAST = shapely.box(113.945, 22.535, 113.97, 22.56)


@pytest.fixture()
def two_stations(add_station: AddStation) -> list[dict[str, Any]]:
    return [
        add_station("深大工会驿站", *SHENZHEN_UNIVERSITY, amenities=["toilet"], opening_hours="24/7"),
        add_station("科技园爱心驿站", *TECH_PARK, amenities=["charging"], opening_hours="Mo-Fr 09:00-18:00"),
    ]


@pytest.fixture()
def areas(db_session: Session) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"area_code": ["440305001", "440305002"], "area_name": ["西片", "东片"]},
        geometry=[WEST, EAST],
        crs="EPSG:4326",
    )
    repository.upsert_areas(db_session, frame, level="township", source="test")
    return frame


def _get(client: TestClient, url: str, **params: Any) -> Any:
    r = client.get(url, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_coverage_equals_engine(
    client: TestClient,
    two_stations: list[dict[str, Any]],
    areas: gpd.GeoDataFrame,
    api_app: Any,
    db_session: Session,
) -> None:
    app = api_app[0]
    body = _get(client, "/coverage", mode="walk", minutes=10)
    net = app.state.networks["walk"]
    demand = combine_demand(demand_from_pois(app.state.settings.demand_pois), demand_from_network(net))
    ref = compute_coverage(
        net,
        repository.stations_frame(db_session),
        demand,
        minutes=10,
        areas=repository.areas_frame(db_session),
    )
    expected = ref.summary.as_dict()
    for key in ("stations", "demand_total", "demand_covered", "covered_share", "median_minutes"):
        assert body["summary"][key] == pytest.approx(expected[key]), key
    assert body["summary"]["stations"] == 2
    assert 0 < body["summary"]["covered_share"] < 1
    groups = {g["group"]: g for g in body["by_group"]}
    assert {"sanitation_worker"} <= set(groups)
    assert sum(g["demand_total"] for g in body["by_group"]) == pytest.approx(body["summary"]["demand_total"])
    codes = {a["area_code"] for a in body["by_area"]}
    assert {"440305001", "440305002"} <= codes
    assert sum(a["demand_total"] for a in body["by_area"]) == pytest.approx(body["summary"]["demand_total"])
    table = _get(client, "/coverage/areas", mode="walk", minutes=10)
    assert table["areas"] == body["by_area"]


def test_more_minutes_more_coverage_and_filters(
    client: TestClient, two_stations: list[dict[str, Any]]
) -> None:
    shares = [_get(client, "/coverage", minutes=m)["summary"]["covered_share"] for m in (5, 15, 30)]
    assert shares[0] < shares[1] < shares[2]
    walk = _get(client, "/coverage", minutes=15, mode="walk")["summary"]["covered_share"]
    ebike = _get(client, "/coverage", minutes=15, mode="ebike")["summary"]["covered_share"]
    assert ebike > walk
    # Sunday: only the 24/7 station counts; amenity=charging: only the Tech Park station
    assert _get(client, "/coverage", open_at="2026-11-22T10:00:00")["summary"]["stations"] == 1
    assert _get(client, "/coverage", amenity="charging")["summary"]["stations"] == 1
    assert _get(client, "/coverage", amenity=["charging", "toilet"])["summary"]["stations"] == 0


def test_adding_a_station_is_seen(
    client: TestClient, two_stations: list[dict[str, Any]], add_station: AddStation
) -> None:
    before = _get(client, "/coverage")["summary"]
    add_station("高新园驿站", 113.9634, 22.5438)
    after = _get(client, "/coverage")["summary"]
    assert after["stations"] == before["stations"] + 1
    assert after["demand_covered"] > before["demand_covered"]


def test_covered_area_and_gaps(client: TestClient, two_stations: list[dict[str, Any]]) -> None:
    r = client.get("/coverage/area.geojson", params={"minutes": 5})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    feats = r.json()["features"]
    assert len(feats) == 1
    area = shapely.geometry.shape(feats[0]["geometry"])
    assert area.contains(shapely.Point(*SHENZHEN_UNIVERSITY)) and area.contains(shapely.Point(*TECH_PARK))
    assert not area.contains(shapely.Point(113.966, 22.557))
    gaps = client.get("/gaps", params={"minutes": 5, "limit": 5})
    assert gaps.status_code == 200
    body = gaps.json()
    assert body["numberReturned"] == 5 <= body["numberMatched"]
    ranks = [f["properties"]["rank"] for f in body["features"]]
    assert ranks == [1, 2, 3, 4, 5]
    weights = [f["properties"]["uncovered_weight"] for f in body["features"]]
    assert weights == sorted(weights, reverse=True)
    for f in body["features"]:
        assert f["geometry"]["type"] == "Polygon"
        assert not shapely.geometry.shape(f["geometry"]).within(area)


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/coverage", {"minutes": 0}, "minutes"),
        ("/coverage", {"minutes": 121}, "minutes"),
        ("/coverage", {"minutes": "nan"}, "minutes"),
        ("/coverage", {"mode": "car"}, "mode"),
        ("/coverage", {"amenity": "sauna"}, "amenity"),
        ("/coverage", {"open_at": "soon"}, "open_at"),
        ("/coverage/areas", {"minutes": -1}, "minutes"),
        ("/gaps", {"resolution": 3}, "resolution"),
        ("/coverage/area.geojson", {"minutes": 500}, "minutes"),
    ],
)
def test_errors(client: TestClient, url: str, params: dict[str, Any], field: str) -> None:
    r = client.get(url, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
