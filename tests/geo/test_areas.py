"""Administrative areas: 街道 polygons from the real Shenzhen OSM extract, boundary files, the store."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point
from sqlalchemy.orm import Session

from geo.areas import areas_from_osm, read_areas
from geo.db import repository as repo
from geo.errors import InputError

OSM = "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm.osm"
POIS = "shenzhen_roadnetworkcreator/shenzhen_nanshan_osm_pois.geojson"
CORE = (113.92, 22.535, 113.97, 22.56)  # dense core of the extract (SOURCES.md)
STREETS = {"南头街道", "沙河街道", "粤海街道", "桃源街道", "西丽街道"}


@pytest.fixture(scope="module")
def nanshan(data_dir: Path) -> gpd.GeoDataFrame:
    return areas_from_osm(data_dir / OSM, admin_level=8, level="township")


def test_shenzhen_streets_from_osm(nanshan: gpd.GeoDataFrame) -> None:
    assert set(nanshan["area_name"]) == STREETS
    assert nanshan.crs.to_epsg() == 4326 and set(nanshan.geom_type) == {"MultiPolygon"}
    assert set(nanshan["level"]) == {"township"}
    codes = dict(zip(nanshan["area_name"], nanshan["area_code"], strict=True))
    assert codes["粤海街道"] == "440305007" and codes["南头街道"] == "440305002"
    assert codes["沙河街道"] == "osm:relation/9656467"  # no division_code tag on that relation
    assert dict(zip(nanshan["area_name"], nanshan["code_source"], strict=True))["沙河街道"] == "osm_relation"
    areas_km2 = nanshan.to_crs(nanshan.estimate_utm_crs()).area / 1e6
    assert (areas_km2 > 0.5).all()
    for a, b in itertools.combinations(nanshan.geometry, 2):
        assert a.intersection(b).area < 1e-10  # neighbours share edges, never overlap


def test_known_places_fall_in_their_street(nanshan: gpd.GeoDataFrame) -> None:
    def street(lon: float, lat: float) -> list[str]:
        return list(nanshan.loc[nanshan.contains(Point(lon, lat)), "area_name"])

    assert street(113.9445, 22.5405) == ["粤海街道"]  # 科技园 (Science Park)
    assert street(113.9360, 22.5330) == ["粤海街道"]  # 深圳大学
    assert street(113.9210, 22.5450) == []  # west of the assembled frame


def test_clip_bbox_and_every_core_poi_in_exactly_one_street(data_dir: Path) -> None:
    core = areas_from_osm(data_dir / OSM, clip_bbox=CORE)
    assert set(core["area_name"]) == STREETS
    minx, miny, maxx, _ = core.total_bounds
    assert minx >= CORE[0] - 1e-9 and maxx <= CORE[2] + 1e-9 and miny >= CORE[1] - 1e-9
    pois = json.loads((data_dir / POIS).read_text(encoding="utf-8"))["features"]
    inside = [Point(f["geometry"]["coordinates"]) for f in pois]
    inside = [p for p in inside if CORE[0] < p.x < CORE[2] and CORE[1] < p.y < CORE[3]]
    assert len(inside) > 50
    for p in inside:
        assert int(core.covers(p).sum()) == 1


def test_read_areas_from_geojson_and_shapefile(nanshan: gpd.GeoDataFrame, tmp_path: Path) -> None:
    src = nanshan.rename(columns={"area_code": "行政区划代码", "area_name": "名称"})
    src = src[["行政区划代码", "名称", "geometry"]]
    gj = tmp_path / "streets.geojson"
    src.to_file(gj, driver="GeoJSON")
    got = read_areas(gj, level="township")
    assert list(got["area_code"]) == list(nanshan["area_code"])
    assert list(got["area_name"]) == list(nanshan["area_name"])
    shp = tmp_path / "streets.shp"
    nanshan[["area_code", "area_name", "geometry"]].rename(
        columns={"area_code": "code", "area_name": "name"}).to_crs(32649).to_file(shp)
    back = read_areas(shp, level="township")
    assert back.crs.to_epsg() == 4326
    assert abs(back.geometry.iloc[0].area - nanshan.geometry.iloc[0].area) < 1e-9
    with pytest.raises(InputError) as caught:
        read_areas(gj, level="province")
    assert caught.value.field == "level"
    with pytest.raises(InputError) as caught:
        read_areas(gj, level="township", code_field="nope")
    assert caught.value.field == "code_field"


def test_store_areas_and_fill_station_townships(db_session: Session, nanshan: gpd.GeoDataFrame) -> None:
    counts = repo.upsert_areas(db_session, nanshan, level="township", source="osm")
    assert counts == {"inserted": 5, "updated": 0}
    st = repo.create_station(db_session, {"name": "科技园工会驿站", "lon": 113.9445, "lat": 22.5405},
                             actor="t")
    assert (st["township_code"], st["township_name"]) == ("440305007", "粤海街道")
    frame, total = repo.list_stations(db_session, area_code="440305007")
    assert total == 1 and frame.iloc[0]["name"] == "科技园工会驿站"
    stored = repo.areas_frame(db_session, level="township")
    assert set(stored["area_name"]) == STREETS


def test_assign_areas_to_stored_stations(db_session: Session, nanshan: gpd.GeoDataFrame) -> None:
    st = repo.create_station(db_session, {"name": "深大驿站", "lon": 113.9360, "lat": 22.5330}, actor="t")
    assert st["township_code"] is None
    repo.upsert_areas(db_session, nanshan, level="township")
    assert repo.assign_areas(db_session, actor="areas") == 1
    assert repo.assign_areas(db_session, actor="areas") == 0
    got = repo.get_station(db_session, st["station_id"])
    assert (got["township_code"], got["township_name"]) == ("440305007", "粤海街道")
    ops = [(c["operation"], c["actor"]) for c in repo.station_changes(db_session, st["station_id"])]
    assert ops == [("insert", "t"), ("update", "areas")]
