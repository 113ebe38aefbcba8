"""/stations: GeoJSON listing with filters and paging, CRUD with API keys and audit, CRS round trips,
import."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import convert, wgs84_to_gcj02
from tests.api._support import SHENZHEN_UNIVERSITY, TECH_PARK, WRITE, station_feature

AddStation = Callable[..., dict[str, Any]]


def test_create_get_and_list(client: TestClient, add_station: AddStation) -> None:
    feat = add_station(
        "粤海街道工会驿站",
        *SHENZHEN_UNIVERSITY,
        amenities=["饮用水", "toilet"],
        opening_hours="Mo-Su 08:00-20:00",
    )
    sid = feat["id"]
    assert isinstance(sid, int)
    assert feat["properties"]["amenities"] == ["drinking_water", "toilet"]
    assert feat["geometry"]["coordinates"] == [SHENZHEN_UNIVERSITY[0], SHENZHEN_UNIVERSITY[1]]
    r = client.get(f"/stations/{sid}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.json()["properties"]["name"] == "粤海街道工会驿站"
    r = client.get("/stations")
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == 1 == body["numberReturned"]
    assert body["features"][0]["id"] == sid


def test_filters(client: TestClient, add_station: AddStation) -> None:
    a = add_station(
        "深大驿站",
        *SHENZHEN_UNIVERSITY,
        amenities=["charging"],
        kind="union_station",
        opening_hours="Mo-Fr 09:00-17:00",
    )
    b = add_station(
        "科技园爱心驿站", *TECH_PARK, amenities=["charging", "toilet"], kind="love_station", status="planned"
    )

    def ids(**params: Any) -> list[int]:
        r = client.get("/stations", params=params)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["features"]]

    assert ids(kind="love_station") == [b["id"]]
    assert ids(status="open") == [a["id"]]
    assert ids(amenity=["charging", "toilet"]) == [b["id"]]
    assert sorted(ids(amenity="charging")) == sorted([a["id"], b["id"]])
    assert ids(bbox="113.93,22.535,113.94,22.545") == [a["id"]]
    assert ids(open_at="2026-11-23T10:00:00") == [a["id"]]  # a Monday; b has no hours
    assert ids(open_at="2026-11-22T10:00:00") == []  # a Sunday


def test_paging_links(client: TestClient, add_station: AddStation) -> None:
    for i in range(5):
        add_station(f"驿站{i}", 113.93 + 0.005 * i, 22.54)
    r = client.get("/stations", params={"limit": 2, "offset": 2, "kind": "union_station"})
    body = r.json()
    assert body["numberMatched"] == 5 and body["numberReturned"] == 2
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert "limit=2" in rels["next"] and "offset=4" in rels["next"] and "kind=union_station" in rels["next"]
    assert "offset=0" in rels["prev"]
    last = client.get(rels["next"]).json()
    assert last["numberReturned"] == 1
    assert "next" not in {link["rel"] for link in last["links"]}


def test_output_crs(client: TestClient, add_station: AddStation) -> None:
    feat = add_station("坐标驿站", *TECH_PARK)
    for crs in ("gcj02", "bd09"):
        r = client.get(f"/stations/{feat['id']}", params={"crs": crs})
        lon, lat = r.json()["geometry"]["coordinates"]
        elon, elat = convert(TECH_PARK[0], TECH_PARK[1], src="wgs84", dst=crs)
        assert abs(lon - elon) < 1e-6 and abs(lat - elat) < 1e-6
        listed = client.get("/stations", params={"crs": crs}).json()["features"][0]["geometry"]["coordinates"]
        assert listed == [lon, lat]


def test_post_in_gcj02_round_trip(client: TestClient) -> None:
    glon, glat = wgs84_to_gcj02(*TECH_PARK)
    r = client.post("/stations?crs=gcj02", json=station_feature("高德坐标驿站", glon, glat), headers=WRITE)
    assert r.status_code == 201, r.text
    feat = r.json()
    lon, lat = feat["geometry"]["coordinates"]
    assert abs(lon - TECH_PARK[0]) < 1e-6 and abs(lat - TECH_PARK[1]) < 1e-6
    assert feat["properties"]["source_crs"] == "gcj02"
    assert r.headers["location"].endswith(f"/stations/{feat['id']}")
    back = client.get(f"/stations/{feat['id']}?crs=gcj02").json()["geometry"]["coordinates"]
    assert abs(back[0] - glon) < 1e-6 and abs(back[1] - glat) < 1e-6


def test_auth(client: TestClient) -> None:
    body = station_feature("无钥匙驿站", *TECH_PARK)
    r = client.post("/stations", json=body)
    assert r.status_code == 401
    assert r.json()["field"] == "X-API-Key"
    r = client.post("/stations", json=body, headers={"X-API-Key": "wrong"})
    assert r.status_code == 401  # orgs: a wrong key is an authentication failure (403 = not allowed)
    assert "not valid" in r.json()["detail"]
    assert client.post("/stations", json=body, headers={"X-API-Key": "second-key"}).status_code == 201
    assert client.get("/stations").status_code == 200  # reads are public


def test_put_patch_delete_with_audit(
    client: TestClient, add_station: AddStation, db_session: Session
) -> None:
    feat = add_station("旧名驿站", *TECH_PARK, amenities=["toilet"], phone="0755-1234")
    sid = feat["id"]
    r = client.patch(f"/stations/{sid}", json={"properties": {"name": "新名驿站"}}, headers=WRITE)
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["name"] == "新名驿站" and props["phone"] == "0755-1234" and props["amenities"] == ["toilet"]
    r = client.put(
        f"/stations/{sid}",
        json=station_feature("替换驿站", TECH_PARK[0] + 0.001, TECH_PARK[1]),
        headers=WRITE,
    )
    assert r.status_code == 200, r.text
    props = r.json()["properties"]
    assert props["name"] == "替换驿站" and props["phone"] is None and props["amenities"] == []
    r = client.delete(f"/stations/{sid}", headers=WRITE)
    assert r.status_code == 200 and r.json()["properties"]["status"] == "closed"
    assert client.get(f"/stations/{sid}").json()["properties"]["status"] == "closed"
    ops = db_session.execute(
        text("SELECT operation, actor FROM station_changes WHERE station_id = :s ORDER BY id"), {"s": sid}
    ).all()
    assert [o for o, _ in ops] == ["insert", "update", "update", "close"]
    assert all(a == "env-1" for _, a in ops)  # orgs: the key's name, never key material


def test_errors_name_the_field(client: TestClient, add_station: AddStation) -> None:
    r = client.get("/stations/999999999")
    assert r.status_code == 404 and r.json()["field"] == "station_id"
    r = client.get("/stations", params={"bbox": "1,2,3"})
    assert r.status_code == 422 and r.json()["field"] == "bbox"
    r = client.get("/stations", params={"limit": 0})
    assert r.status_code == 422 and r.json()["field"] == "limit"
    r = client.get("/stations", params={"kind": "spaceship"})
    assert r.status_code == 422 and "unknown station kind" in r.json()["detail"]
    r = client.post("/stations", json=station_feature("海外驿站", 2.35, 48.85), headers=WRITE)
    assert (
        r.status_code == 422 and r.json()["field"] == "lon" and "outside mainland China" in r.json()["detail"]
    )
    r = client.post("/stations", json=station_feature("坏坐标", 200.0, 22.5), headers=WRITE)
    assert r.status_code == 422 and r.json()["field"] == "geometry.coordinates.0"
    r = client.post(
        "/stations", json=station_feature("坏时间", *TECH_PARK, opening_hours="whenever"), headers=WRITE
    )
    assert r.status_code == 422 and r.json()["field"] == "opening_hours"
    r = client.post("/stations", json={"type": "Feature", "geometry": {"type": "LineString"}}, headers=WRITE)
    assert r.status_code == 422 and r.json()["field"].startswith("geometry")
    assert "errors" in r.json()
    r = client.post("/stations", content=b"{not json", headers={**WRITE, "content-type": "application/json"})
    assert r.status_code == 422
    first = add_station("重复驿站", *TECH_PARK)
    r = client.post("/stations", json=station_feature("重复驿站", *TECH_PARK), headers=WRITE)
    assert r.status_code == 409 and str(first["id"]) in r.json()["detail"]
    r = client.patch(f"/stations/{first['id']}", json={"properties": {}}, headers=WRITE)
    assert r.status_code == 422 and r.json()["field"] == "properties"


CSV_OK = (
    "名称,经度,纬度,类型,设施\n"
    "南山工会驿站,113.9445,22.5405,工会驿站,饮用水、充电\n"
    "科技园驿站,113.9530,22.5440,爱心驿站,卫生间\n"
)
CSV_BAD = (
    "名称,经度,纬度,类型\n好驿站,113.9445,22.5405,工会驿站\n,113.95,22.54,工会驿站\n坏驿站,abc,22.54,火箭站\n"
)


def test_import_all_or_nothing(client: TestClient) -> None:
    files = {"file": ("nanshan.csv", CSV_BAD.encode("utf-8"), "text/csv")}
    r = client.post("/stations/import", files=files, headers=WRITE)
    assert r.status_code == 422, r.text
    body = r.json()
    assert {(e["row"], e["field"]) for e in body["row_errors"]} >= {(3, "name"), (4, "lon"), (4, "kind")}
    assert client.get("/stations").json()["numberMatched"] == 0  # nothing stored

    r = client.post("/stations/import?skip_invalid=true&dry_run=true", files=files, headers=WRITE)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 1 and r.json()["rejected"] == 2 and r.json()["dry_run"] is True
    assert client.get("/stations").json()["numberMatched"] == 0

    ok = {"file": ("nanshan.csv", CSV_OK.encode("gbk"), "text/csv")}
    r = client.post("/stations/import", files=ok, headers=WRITE)
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2 and r.json()["source"] == "nanshan"
    listed = client.get("/stations", params={"amenity": "charging"}).json()
    assert [f["properties"]["name"] for f in listed["features"]] == ["南山工会驿站"]
    r = client.post("/stations/import", files=ok, headers=WRITE)  # same file again: upsert, no duplicates
    assert r.status_code == 201 and r.json()["unchanged"] == 2
    assert client.get("/stations").json()["numberMatched"] == 2


def test_import_gcj02_and_limits(client: TestClient, api_app: Any) -> None:
    glon, glat = wgs84_to_gcj02(*TECH_PARK)
    csv = f"名称,经度,纬度\n高德驿站,{glon},{glat}\n"
    r = client.post(
        "/stations/import?crs=gcj02&source=amap",
        files={"file": ("a.csv", csv.encode(), "text/csv")},
        headers=WRITE,
    )
    assert r.status_code == 201, r.text
    lon, lat = client.get("/stations").json()["features"][0]["geometry"]["coordinates"]
    assert abs(lon - TECH_PARK[0]) < 1e-6 and abs(lat - TECH_PARK[1]) < 1e-6
    assert client.post("/stations/import", files={"file": ("a.csv", b"x", "text/csv")}).status_code == 401
    r = client.post("/stations/import", files={"file": ("a.pdf", b"%PDF", "application/pdf")}, headers=WRITE)
    assert r.status_code == 422 and r.json()["field"] == "file"
    limit = api_app[0].state.settings.max_upload_bytes
    big = b"name,lon,lat\n" + b"x" * (limit + 10)
    r = client.post("/stations/import", files={"file": ("big.csv", big, "text/csv")}, headers=WRITE)
    assert r.status_code == 413 and r.json()["field"] == "file"


# a point in each of two cities other than the bundled sample: the Bund (Shanghai), Wuyi Square (Changsha)
BBOX_CITIES = {"shanghai": (121.4905, 31.2397), "changsha": (112.9770, 28.1960)}


def test_bbox_in_gcj02_and_bd09(client: TestClient, add_station: AddStation) -> None:
    """``bbox`` is read in the request's ``crs``: an Amap/Baidu viewport finds the stations inside it."""

    def ids(**params: Any) -> list[int]:
        r = client.get("/stations", params=params)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["features"]]

    half = 0.0008  # ~80 m: far smaller than the ~500 m GCJ-02/BD-09 offsets
    for city, (lon, lat) in BBOX_CITIES.items():
        station = add_station(f"{city}驿站", lon, lat)
        for crs in ("gcj02", "bd09"):
            x, y = convert(lon, lat, src="wgs84", dst=crs)
            box = f"{x - half},{y - half},{x + half},{y + half}"
            assert ids(bbox=box, crs=crs) == [station["id"]], (city, crs)
            assert ids(bbox=box) == [], (city, crs)  # the same numbers read as WGS-84 miss it
            r = client.get("/stations", params={"bbox": box, "crs": crs})
            gx, gy = r.json()["features"][0]["geometry"]["coordinates"]
            assert x - half <= gx <= x + half and y - half <= gy <= y + half
        assert ids(bbox=f"{lon - half},{lat - half},{lon + half},{lat + half}") == [station["id"]]


def test_bbox_in_bd09_is_exact_near_its_edges(client: TestClient, add_station: AddStation) -> None:
    """Stations near the edges of a BD-09/GCJ-02 box are selected exactly as their converted
    coordinates say (the independent reference), not by the box's WGS-84 envelope."""
    import numpy as np

    rng = np.random.default_rng(3)
    for city, (lon, lat) in BBOX_CITIES.items():
        ids_at: dict[int, tuple[float, float]] = {}
        for k, (dx, dy) in enumerate(rng.uniform(-0.012, 0.012, size=(24, 2))):
            rec = add_station(f"{city}{k}", lon + dx, lat + dy)
            ids_at[rec["id"]] = (lon + dx, lat + dy)
        pts = np.array(list(ids_at.values()))
        for crs in ("gcj02", "bd09"):
            x, y = convert(pts[:, 0], pts[:, 1], src="wgs84", dst=crs)
            cx, cy = convert(lon, lat, src="wgs84", dst=crs)
            box = (cx - 0.008, cy - 0.008, cx + 0.008, cy + 0.008)
            inside = (x > box[0]) & (x < box[2]) & (y > box[1]) & (y < box[3])
            expected = sorted(np.array(list(ids_at))[inside].tolist())
            r = client.get("/stations", params={"bbox": ",".join(f"{v:.9f}" for v in box), "crs": crs,
                                                "limit": 1000})
            got = sorted(f["id"] for f in r.json()["features"] if f["id"] in ids_at)
            assert got == expected and 0 < len(expected) < len(ids_at), (city, crs)
