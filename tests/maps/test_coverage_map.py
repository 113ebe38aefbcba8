"""The planner's coverage map: layers, markers, legends, assets and the GCJ-02 shift on Amap tiles.

Stations are real Shenzhen Nanshan POIs (banks, fuel, post offices, ... from OSM); the end-to-end test
runs the real geo pipeline (network, coverage, gaps, covered area) on the Nanshan street network.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from geo import catalog
from geo.crs import wgs84_to_gcj02
from geo.errors import InputError
from maps.assets import STATIC_DIR, static_path
from maps.base import AMAP_URL, base_map, to_tiles_crs
from maps.coverage import (
    StationLayer,
    add_areas,
    add_covered_area,
    add_gaps,
    add_proposals,
    add_stations,
    add_title,
    coverage_map,
    kind_style,
)
from tests.maps.conftest import RealCoverage, h3_cells_frame, shenzhen_pois


def render(m: folium.Map) -> str:
    return m.get_root().render()


def station_rows(html: str) -> list[list[Any]]:
    """The rows the station layer's script builds markers from: [lat, lon, kind, status, name, popup]."""
    found = re.findall(r"var rows = (\[.*\]);\n", html)
    assert len(found) == 1, "expected exactly one station layer"
    rows: list[list[Any]] = json.loads(found[0].replace("<\\/", "</"))
    return rows


def geojson_layers(m: folium.Map) -> dict[str, folium.GeoJson]:
    return {c.layer_name: c for c in m._children.values() if isinstance(c, folium.GeoJson)}


def tooltip_aliases(layer: folium.GeoJson) -> list[str]:
    tips = [c for c in layer._children.values() if isinstance(c, folium.GeoJsonTooltip)]
    assert len(tips) == 1
    return list(tips[0].aliases)


def reference_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Independent WGS-84 -> GCJ-02 (the published Krasovsky-ellipsoid formula), for cross-checking."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    sq = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sq) * math.pi)
    dlon = (dlon * 180.0) / (a / sq * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


@pytest.fixture(scope="module")
def hexes() -> gpd.GeoDataFrame:
    """Gap-like hexagons: the real food/retail POIs of Nanshan summed per H3 cell (resolution 9)."""
    pois = shenzhen_pois()
    demand = pois[pois["role_hint"].isin(["demand_food", "demand_retail"])]
    frame = h3_cells_frame(demand, np.ones(len(demand)), resolution=9)
    frame["nearest_minutes"] = np.linspace(16.0, 40.0, len(frame))
    return frame


@pytest.fixture(scope="module")
def proposals(stations: gpd.GeoDataFrame) -> pd.DataFrame:
    """Sites in build order at real retail POIs, shaped like ``SitingResult.selected``."""
    pois = shenzhen_pois()
    shops = pois[pois["role_hint"] == "demand_retail"].head(4).reset_index(drop=True)
    gains = np.array([9.0, 5.0, 3.0, 1.0])
    return pd.DataFrame(
        {
            "order": [1, 2, 3, 4],
            "candidate_id": [f"poi-{i}" for i in shops["osm_id"]],
            "name": shops["name"].fillna("候选点").astype(str),
            "host_type": "shop",
            "lon": shops.geometry.x,
            "lat": shops.geometry.y,
            "gain": gains,
            "cumulative_share": 0.5 + np.cumsum(gains) / 100.0,
        }
    )


# ------------------------------------------------------------------------------------------ assets


def test_local_assets_point_at_vendored_files(stations: gpd.GeoDataFrame) -> None:
    m = add_stations(stations, base_map(tiles="osm", assets="local"))
    html = render(m)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert scripts and sheets
    for url in scripts + sheets:
        assert url.startswith("/static/"), url
        assert (STATIC_DIR / url[len("/static/") :]).is_file(), f"{url} is not installed"
    assert any(u.endswith("leaflet.markercluster.js") for u in scripts)
    assert any(u.endswith("Control.FullScreen.js") for u in scripts)
    assert "cdn.jsdelivr" not in html and "cdnjs.cloudflare" not in html and "code.jquery" not in html
    assert "tile.openstreetmap.org" in html  # tiles are the only remote resource


def test_inline_assets_make_a_self_contained_page(stations: gpd.GeoDataFrame) -> None:
    html = render(add_stations(stations, base_map(tiles="none", assets="inline")))
    assert not re.findall(r"<script src=", html)
    assert not re.findall(r'<link rel="stylesheet"', html)
    assert "L.MarkerClusterGroup" in html and "Control.FullScreen" in html
    assert re.search(r"url\(\"data:font/woff2;base64,", html)  # Font Awesome font embedded
    assert not re.search(r"url\((?!\"?data:|#)", html.split("<body>")[0])  # no relative CSS urls left
    assert "openstreetmap.org/{z}" not in html and "autonavi" not in html


def test_cdn_mode_keeps_folium_links(stations: gpd.GeoDataFrame) -> None:
    html = render(add_stations(stations, base_map(assets="cdn")))
    assert "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js" in html


def test_unknown_asset_url_and_modes_are_rejected() -> None:
    with pytest.raises(InputError, match="not vendored"):
        static_path("https://cdn.example.org/some-plugin.js")
    with pytest.raises(InputError, match="assets"):
        base_map(assets="web")
    with pytest.raises(InputError, match="tiles"):
        base_map(tiles="google")


# ---------------------------------------------------------------------------------------- stations


def test_every_station_is_in_the_cluster_layer_with_kind_icon_and_popup(stations: gpd.GeoDataFrame) -> None:
    frame = stations.assign(minutes_to_nearest_neighbour=np.linspace(2.0, 30.0, len(stations)))
    m = add_stations(frame, base_map(tiles="none"))
    layers = [c for c in m._children.values() if isinstance(c, StationLayer)]
    assert len(layers) == 1 and layers[0].count == len(stations)
    html = render(m)
    rows = station_rows(html)
    assert len(rows) == len(stations)
    kinds = list(catalog.station_kind_codes())
    for row, (_, st) in zip(rows, frame.iterrows(), strict=True):
        assert row[0] == pytest.approx(st.geometry.y, abs=1e-7)
        assert row[1] == pytest.approx(st.geometry.x, abs=1e-7)
        assert kinds[row[2]] == st["kind"]
        assert row[3] == st["status"]
        popup = row[5]
        assert st["name"] in popup and st["address"] in popup and st["opening_hours"] in popup
        for code in st["amenities"]:
            label = next(e.label_zh for e in catalog.amenities() if e.code == code)
            assert label in popup
        assert f"{st['minutes_to_nearest_neighbour']:.1f} 分钟" in popup
    assert "L.markerClusterGroup" in html and '"chunkedLoading": true' in html
    # legend: Chinese labels of the kinds present, each in its own colour
    present = set(stations["kind"])
    for entry in catalog.station_kinds():
        shown = f'background:{kind_style(entry.code)[0]}"></span><span>{entry.label_zh}</span>' in html
        assert shown == (entry.code in present), entry.code
    assert "驿站类型" in html


def test_kinds_have_distinct_colours_and_icons() -> None:
    styles = [kind_style(c) for c in catalog.station_kind_codes()]
    assert len({s[0] for s in styles}) == len(styles)
    assert len({s[1] for s in styles}) == len(styles)


def test_popup_without_optional_columns(stations: gpd.GeoDataFrame) -> None:
    bare = stations[["name", "kind", "geometry"]]
    rows = station_rows(render(add_stations(bare, base_map(tiles="none"))))
    assert len(rows) == len(bare)
    assert "距最近驿站" not in rows[0][5] and "服务设施" not in rows[0][5]


def test_stations_input_is_validated(stations: gpd.GeoDataFrame) -> None:
    with pytest.raises(InputError, match="kind"):
        add_stations(stations.drop(columns=["kind"]))
    with pytest.raises(InputError, match="GeoDataFrame"):
        add_stations(pd.DataFrame(stations.drop(columns="geometry")))


def test_inputs_are_not_mutated(stations: gpd.GeoDataFrame, hexes: gpd.GeoDataFrame) -> None:
    before_st, before_hex = stations.copy(), hexes.copy()
    m = base_map(tiles="amap")
    add_stations(stations, m)
    add_gaps(hexes, m)
    pd.testing.assert_frame_equal(pd.DataFrame(stations), pd.DataFrame(before_st))
    pd.testing.assert_frame_equal(pd.DataFrame(hexes), pd.DataFrame(before_hex))


# -------------------------------------------------------------------------------------- GCJ-02 shift


def test_amap_markers_sit_at_gcj02_coordinates(stations: gpd.GeoDataFrame) -> None:
    m = add_stations(stations, base_map(tiles="amap"))
    html = render(m)
    assert "https://webrd0{s}.is.autonavi.com/appmaptile" in html and AMAP_URL.startswith("https://webrd0{s}")
    rows = station_rows(html)
    lon, lat = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    glon, glat = wgs84_to_gcj02(lon, lat)
    for i, row in enumerate(rows):
        rlon, rlat = reference_gcj02(float(lon[i]), float(lat[i]))
        assert row[1] == pytest.approx(glon[i], abs=2e-7) and row[0] == pytest.approx(glat[i], abs=2e-7)
        assert row[1] == pytest.approx(rlon, abs=2e-7) and row[0] == pytest.approx(rlat, abs=2e-7)
        dx = (row[1] - lon[i]) * 111_320 * math.cos(math.radians(lat[i]))
        shift_m = math.hypot(dx, (row[0] - lat[i]) * 110_574)
        assert 300 < shift_m < 700  # the GCJ-02 offset in Shenzhen is about half a kilometre
    # on OSM tiles the same station stays in WGS-84
    osm_rows = station_rows(render(add_stations(stations, base_map(tiles="osm"))))
    assert osm_rows[0][1] == pytest.approx(lon[0], abs=1e-7)


def test_amap_shifts_every_overlay(hexes: gpd.GeoDataFrame, proposals: pd.DataFrame) -> None:
    m = base_map(tiles="amap")
    covered = gpd.GeoDataFrame(geometry=[hexes.geometry.iloc[0]], crs=4326)
    add_covered_area(covered, m, mode="walk")
    add_gaps(hexes, m)
    add_proposals(proposals, m)
    layers = geojson_layers(m)
    gap_layer = next(v for k, v in layers.items() if k.startswith("服务空白"))
    first = gap_layer.data["features"][0]["geometry"]["coordinates"][0][0]
    src = hexes.geometry.iloc[0].exterior.coords[0]
    assert first == pytest.approx(list(reference_gcj02(*src)), abs=2e-7)
    walk = layers["步行15分钟覆盖范围"].data["features"][0]["geometry"]["coordinates"][0][0]
    assert walk == pytest.approx(list(reference_gcj02(*src)), abs=2e-7)
    markers = [c for g in m._children.values() if isinstance(g, folium.FeatureGroup)
               for c in g._children.values() if isinstance(c, folium.Marker)]  # fmt: skip
    assert markers[0].location == pytest.approx(
        list(reversed(reference_gcj02(proposals["lon"][0], proposals["lat"][0]))), abs=2e-7
    )


def test_to_tiles_crs_outside_china_and_wgs84_are_unchanged() -> None:
    frame = gpd.GeoDataFrame(geometry=[Point(2.35, 48.85), Point(113.94, 22.54)], crs=4326)
    out = to_tiles_crs(frame, "gcj02")
    assert out.geometry.iloc[0].equals(frame.geometry.iloc[0])  # Paris: no offset outside China
    assert not out.geometry.iloc[1].equals(frame.geometry.iloc[1])
    assert to_tiles_crs(frame, "wgs84").geometry.equals(frame.geometry)


# --------------------------------------------------------------------------- gaps, areas, proposals


def test_gaps_are_coloured_by_uncovered_weight_with_legend(hexes: gpd.GeoDataFrame) -> None:
    m = add_gaps(hexes, base_map(tiles="none"))
    layer = next(v for k, v in geojson_layers(m).items() if k.startswith("服务空白"))
    feats = layer.data["features"]
    assert len(feats) == len(hexes)
    heaviest = feats[int(np.argmax([f["properties"]["uncovered_weight"] for f in feats]))]
    lightest = feats[int(np.argmin([f["properties"]["uncovered_weight"] for f in feats]))]
    assert heaviest["properties"]["_fill"] != lightest["properties"]["_fill"]
    assert heaviest["properties"]["_fill"].lower().startswith("#bd0026")
    html = render(m)
    assert "未覆盖需求（权重/格）" in html and "linear-gradient" in html
    assert "yz-gap" in html
    assert "到最近驿站（分钟）" in tooltip_aliases(layer)


def test_areas_coloured_by_share_with_tooltip_table(real_coverage: RealCoverage) -> None:
    by_area = real_coverage.result.by_area
    joined = real_coverage.areas.merge(by_area.drop(columns=["area_name"]), on="area_code")
    m = add_areas(joined, base_map(tiles="none"))
    layer = geojson_layers(m)["街道覆盖率"]
    assert len(layer.data["features"]) == len(joined)
    assert tooltip_aliases(layer) == ["街道", "覆盖率", "未覆盖劳动者", "驿站数"]
    shares = {f["properties"]["area_name"]: f["properties"]["covered_pct"] for f in layer.data["features"]}
    for _, row in joined.iterrows():
        assert shares[row["area_name"]] == f"{row['covered_share']:.0%}"
    bad = joined.assign(covered_share=1.5)
    with pytest.raises(InputError, match="covered_share"):
        add_areas(bad)


def test_proposals_are_numbered_in_build_order(proposals: pd.DataFrame) -> None:
    shuffled = proposals.iloc[::-1]
    m = add_proposals(shuffled, base_map(tiles="none"))
    html = render(m)
    numbers = [int(n) for n in re.findall(r'class=\\"yz-proposal\\" data-order=\\"(\d+)', html)]
    assert numbers == [1, 2, 3, 4]
    for _, row in proposals.iterrows():
        assert f"{row['cumulative_share']:.1%}" in html
        assert f"{row['gain']:,.1f}" in html
    groups = [c.layer_name for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    assert groups == ["建议新建站点（4）"]


def test_title_layer_control_scale_and_fullscreen(stations: gpd.GeoDataFrame) -> None:
    m = coverage_map(stations, headline={"covered_share": 0.6234, "uncovered": 1520.4}, tiles="none",
                     date="2026-11-23")  # fmt: skip
    html = render(m)
    assert "62.3%" in html and "1,520" in html and f">{len(stations)}</b> 个" in html and "2026-11-23" in html
    assert "L.control.layers" in html and "L.control.scale({imperial: false" in html
    assert "L.control.fullscreen" in html
    with pytest.raises(InputError):
        add_title(folium.Map(), covered_share=1.2, uncovered=0, stations=1)


# ------------------------------------------------------------------------------- real geo pipeline


def test_coverage_map_from_the_real_pipeline(real_coverage: RealCoverage) -> None:
    res = real_coverage.result
    m = coverage_map(
        res.stations,
        covered=real_coverage.covered,
        gaps=real_coverage.gaps,
        areas=real_coverage.areas,
        by_area=res.by_area,
        headline=res.summary.as_dict(),
        minutes=real_coverage.minutes,
        tiles="none",
        date="2026-11-23",
    )
    layers = geojson_layers(m)
    assert set(layers) == {"街道覆盖率", "步行5分钟覆盖范围", "服务空白（未覆盖需求）"}
    assert len(layers["服务空白（未覆盖需求）"].data["features"]) == len(real_coverage.gaps) > 0
    html = render(m)
    rows = station_rows(html)
    assert len(rows) == len(res.stations)
    neighbour = res.stations["minutes_to_nearest_neighbour"]
    if neighbour.notna().any():
        assert "距最近驿站" in html
    s = res.summary
    assert f"{s.covered_share:.1%}" in html
    assert f"{s.demand_total - s.demand_covered:,.0f}" in html
    assert 0 < s.covered_share < 1  # gaps exist: the map has something to show


def test_standalone_layer_makes_a_self_contained_map(stations: gpd.GeoDataFrame) -> None:
    m = add_stations(stations)  # no map given: like GeoDataFrame.explore, for notebooks and files
    assert getattr(m, "assets", None) == "inline"
    assert "<script src=" not in render(m)


def test_one_covered_layer_per_mode_faster_mode_below(real_coverage: RealCoverage) -> None:
    # layering only: the walk polygons stand in for both modes here
    polys = real_coverage.covered
    both = pd.concat([polys.assign(mode="walk"), polys.assign(mode="ebike")], ignore_index=True)
    m = coverage_map(real_coverage.result.stations, covered=gpd.GeoDataFrame(both, crs=4326), tiles="none")
    names = [c.layer_name for c in m._children.values() if isinstance(c, folium.GeoJson)]
    assert names == ["电动自行车15分钟覆盖范围", "步行15分钟覆盖范围"]
    with pytest.raises(InputError, match="mode"):
        add_covered_area(polys, mode="car")


@pytest.mark.parametrize("city", ["changsha_osm_planner/changsha_yuelu_taozihu_map.osm",
                                  "shanghai_le_degn/shanghai_jingan_huangpu_drive.osm"])  # fmt: skip
def test_coverage_map_starts_on_its_own_city(city: str) -> None:
    """The planner map of another city starts centred on its stations, not on the Shenzhen default
    (before fitting), for OSM and Amap tiles alike."""
    from geo.config import data_dir
    from geo.network import load_network

    net = load_network(data_dir() / city, mode="walk")
    rng = np.random.default_rng(3)
    nodes = rng.choice(net.n_nodes, size=5, replace=False)
    points = gpd.points_from_xy(net.lon[nodes], net.lat[nodes])
    stations = gpd.GeoDataFrame({"name": [f"驿站{i}" for i in range(5)], "kind": "union_station",
                                 "status": "open"}, geometry=points, crs=4326)  # fmt: skip
    for tiles in ("osm", "amap"):
        html = render(coverage_map(stations, tiles=tiles))
        found = re.findall(r"center: \[([-0-9.]+), ([-0-9.]+)\]", html)
        assert len(found) == 1, found
        lat, lon = (float(v) for v in found[0])
        assert net.lon.min() - 0.01 < lon < net.lon.max() + 0.01, (lon, tiles)
        assert net.lat.min() - 0.01 < lat < net.lat.max() + 0.01, (lat, tiles)
