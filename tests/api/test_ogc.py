"""OGC API - Features - Part 1 core + GeoJSON under /ogc: landing page, conformance, collections, items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from geo.db import repository

AddStation = Callable[..., dict[str, Any]]
GEOJSON = "application/geo+json"


@pytest.fixture()
def registry(add_station: AddStation, db_session: Session) -> list[dict[str, Any]]:
    feats = [add_station(f"OGC驿站{i}", 113.925 + 0.004 * i, 22.54 + 0.001 * i) for i in range(12)]
    areas = gpd.GeoDataFrame(
        {"area_code": ["440305001"], "area_name": ["粤海街道"]},
        geometry=[shapely.box(113.92, 22.535, 113.95, 22.56)],
        crs="EPSG:4326",
    )
    repository.upsert_areas(db_session, areas, level="township", source="test")
    return feats


def test_landing_and_conformance(client: TestClient) -> None:
    body = client.get("/ogc").json()
    rels = {link["rel"]: link for link in body["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["service-desc"]["href"].endswith("/openapi.json")
    assert rels["data"]["href"].endswith("/ogc/collections")
    assert client.get(rels["service-desc"]["href"]).status_code == 200
    conf = client.get("/ogc/conformance").json()["conformsTo"]
    for cls in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{cls}" in conf
    assert client.get("/ogc?f=json").status_code == 200
    r = client.get("/ogc?f=html")
    assert r.status_code == 422 and r.json()["field"] == "f"


def test_collections_with_extent(client: TestClient, registry: list[dict[str, Any]]) -> None:
    body = client.get("/ogc/collections").json()
    cols = {c["id"]: c for c in body["collections"]}
    assert set(cols) == {"stations", "areas"}
    minx, miny, maxx, maxy = cols["stations"]["extent"]["spatial"]["bbox"][0]
    assert minx == pytest.approx(113.925) and maxx == pytest.approx(113.925 + 0.044)
    assert miny == pytest.approx(22.54) and maxy == pytest.approx(22.551)
    assert cols["areas"]["extent"]["spatial"]["bbox"][0] == pytest.approx([113.92, 22.535, 113.95, 22.56])
    one = client.get("/ogc/collections/stations").json()
    assert one["id"] == "stations"
    assert any(link["rel"] == "items" for link in one["links"])
    r = client.get("/ogc/collections/bikes")
    assert r.status_code == 404 and r.json()["field"] == "collectionId"


def test_items_paging(client: TestClient, registry: list[dict[str, Any]]) -> None:
    r = client.get("/ogc/collections/stations/items")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(GEOJSON)
    body = r.json()
    assert body["numberMatched"] == 12 and body["numberReturned"] == 10  # default limit 10
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    rest = client.get(nxt).json()
    assert rest["numberReturned"] == 2
    assert "next" not in {link["rel"] for link in rest["links"]}
    ids = [f["id"] for f in body["features"]] + [f["id"] for f in rest["features"]]
    assert sorted(ids) == sorted(s["id"] for s in registry)
    bbox = client.get(
        "/ogc/collections/stations/items", params={"bbox": "113.92,22.535,113.934,22.56"}
    ).json()
    assert bbox["numberMatched"] == 3
    for bad in ({"limit": 0}, {"limit": 10001}, {"offset": -1}, {"bbox": "a,b,c,d"}):
        r = client.get("/ogc/collections/stations/items", params=bad)
        assert r.status_code == 422, bad
        assert r.json()["field"] in ("limit", "offset", "bbox")


def test_single_items(client: TestClient, registry: list[dict[str, Any]]) -> None:
    sid = registry[3]["id"]
    r = client.get(f"/ogc/collections/stations/items/{sid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith(GEOJSON)
    feat = r.json()
    assert feat["id"] == sid and feat["properties"]["name"] == "OGC驿站3"
    assert {link["rel"] for link in feat["links"]} == {"self", "collection"}
    area = client.get("/ogc/collections/areas/items/440305001").json()
    assert area["properties"]["area_name"] == "粤海街道"
    assert area["geometry"]["type"] == "MultiPolygon"
    for url in (
        "/ogc/collections/stations/items/999999",
        "/ogc/collections/stations/items/abc",
        "/ogc/collections/areas/items/nope",
    ):
        r = client.get(url)
        assert r.status_code == 404 and r.json()["field"] in ("station_id", "featureId"), url
