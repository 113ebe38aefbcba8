"""The workers' finder page (爱心地图): configuration, assets, languages, offline mode, escaping."""

from __future__ import annotations

import json
import re
from typing import Any

import geopandas as gpd
import pytest
from shapely.geometry import Point

from geo import catalog
from geo.errors import InputError
from maps.assets import STATIC_DIR
from maps.finder import FILTER_AMENITIES, finder_config, finder_page, station_records


def page_config(html: str) -> dict[str, Any]:
    found = re.search(r'<script id="yz-config" type="application/json">(.*?)</script>', html, re.S)
    assert found is not None
    config: dict[str, Any] = json.loads(found.group(1).replace("<\\/", "</"))
    return config


def test_phone_first_page_with_api(stations: gpd.GeoDataFrame) -> None:
    html = finder_page(stations, api_base="")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1.0' in html
    assert '<html lang="zh-CN">' in html and "爱心地图" in html
    for element in (
        'id="yz-locate"',
        'id="yz-filters"',
        'id="yz-results"',
        'id="yz-lang"',
        'data-mode="ebike"',
    ):
        assert element in html
    config = page_config(html)
    assert config["api_base"] == "" and config["lang"] == "zh" and config["k"] == 3
    assert config["filters"] == list(FILTER_AMENITIES)
    labels = {a["code"]: a["zh"] for a in config["amenities"]}
    assert labels["drinking_water"] == "饮用水" and labels["toilet"] == "卫生间"
    assert config["speeds_kph"] == catalog.mode_speeds_kph()
    # only open stations are embedded (planned ones are not there yet)
    assert len(config["stations"]) == int((stations["status"] == "open").sum())


def test_local_assets_are_served_by_yizhan(stations: gpd.GeoDataFrame) -> None:
    html = finder_page(stations, assets="local")
    urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert sorted(urls) == sorted(
        ["/static/vendor/leaflet/leaflet.css", "/static/finder/finder.css",
         "/static/vendor/leaflet/leaflet.js", "/static/finder/finder.js"]
    )  # fmt: skip
    for url in urls:
        assert (STATIC_DIR / url[len("/static/") :]).is_file()
    assert not re.search(r'(?:src|href)="https?://', html)


def test_inline_page_is_self_contained(stations: gpd.GeoDataFrame) -> None:
    html = finder_page(stations, api_base=None, assets="inline", tiles="none")
    assert "<script src=" not in html and 'rel="stylesheet"' not in html
    assert "L.map(" in html and "wgs2gcj" in html
    config = page_config(html)
    assert config["api_base"] is None and config["tiles"] is None


def test_english_and_amap(stations: gpd.GeoDataFrame) -> None:
    html = finder_page(stations, lang="en", tiles="amap", mode="ebike", k=5)
    assert '<html lang="en">' in html and "Caring Map" in html
    config = page_config(html)
    assert config["tiles_crs"] == "gcj02" and "autonavi" in config["tiles"]["url"]
    assert config["mode"] == "ebike" and config["k"] == 5


def test_station_records_are_wgs84_with_amenity_codes(stations: gpd.GeoDataFrame) -> None:
    records = station_records(stations)
    open_ = stations[stations["status"] == "open"]
    assert [r["name"] for r in records] == list(open_["name"])
    first = open_.iloc[0]
    assert records[0]["lon"] == pytest.approx(first.geometry.x, abs=1e-7)
    assert records[0]["amenities"] == list(first["amenities"])
    assert records[0]["hours"] == first["opening_hours"]
    projected = stations.to_crs(32649)
    assert station_records(projected)[0]["lon"] == pytest.approx(first.geometry.x, abs=1e-6)


def test_script_breaking_names_are_escaped() -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["</script><script>alert(1)</script>"], "kind": ["love_station"], "status": ["open"]},
        geometry=[Point(113.94, 22.54)],
        crs=4326,
    )
    html = finder_page(frame, api_base=None)
    assert "<script>alert(1)" not in html
    assert page_config(html)["stations"][0]["name"] == "</script><script>alert(1)</script>"


def test_bad_options_are_rejected(stations: gpd.GeoDataFrame) -> None:
    with pytest.raises(InputError, match="offline"):
        finder_config(None, api_base=None)
    with pytest.raises(InputError, match="lang"):
        finder_page(stations, lang="fr")
    with pytest.raises(InputError, match="mode"):
        finder_page(stations, mode="car")
    with pytest.raises(InputError, match="amenity"):
        finder_config(stations, filters=["sauna"])
    with pytest.raises(InputError, match="assets"):
        finder_page(stations, assets="web")
