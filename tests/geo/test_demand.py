"""Tests of geo.demand on the real POI files and on small files written in tmp_path."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from geo.config import data_dir
from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.demand import (
    DEMAND_COLUMNS,
    combine_demand,
    demand_from_grid,
    demand_from_network,
    demand_from_points,
    demand_from_pois,
    load_demand_rules,
    street_length_meters,
    validate_demand,
)
from geo.errors import InputError, NotFoundError
from geo.network import Network

SHENZHEN_POIS = data_dir() / "shenzhen_roadnetworkcreator" / "shenzhen_nanshan_osm_pois.geojson"
BUND_POIS = data_dir() / "shanghai_maptalks_tilezen" / "shanghai_bund_pois.geojson"
CHANGSHA_OSM = data_dir() / "changsha_osm_planner" / "changsha_yuelu_taozihu_map.osm"
SHENZHEN_CORE = (113.92, 22.535, 113.97, 22.56)

FOOD = {"restaurant", "fast_food", "cafe", "bar", "pub", "ice_cream", "biergarten"}


def _pois_per_rule(demand: gpd.GeoDataFrame) -> dict[str, int]:
    return demand.drop_duplicates("poi_index").groupby("rule").size().to_dict()


# ------------------------------------------------------------------------------------------ POIs
def test_shenzhen_pois_counts_by_rule(caplog: pytest.LogCaptureFixture) -> None:
    raw = gpd.read_file(SHENZHEN_POIS)
    with caplog.at_level(logging.INFO, logger="geo.demand"):
        demand = demand_from_pois(SHENZHEN_POIS)
    validate_demand(demand)
    assert _pois_per_rule(demand) == {
        "food": 29, "grocery": 5, "mall": 2, "logistics": 1, "office": 11, "retail_other": 9,
    }
    matched = demand["poi_index"].nunique()
    assert matched == 57
    assert f"{len(raw) - matched} dropped" in caplog.text
    # cross-check against the independent role_hint written by the data's author (SOURCES.md)
    per_poi = demand.drop_duplicates("poi_index").set_index("poi_index")
    food_idx = set(per_poi.index[per_poi["rule"] == "food"])
    assert food_idx == set(np.flatnonzero(raw["role_hint"].to_numpy() == "demand_food"))
    retail_idx = set(per_poi.index[per_poi["rule"].isin(["grocery", "mall"])])
    assert retail_idx == set(np.flatnonzero(raw["role_hint"].to_numpy() == "demand_retail"))
    # a grocery POI is one rider point and one courier point, same place, weight 1 each
    grocery = demand[demand["rule"] == "grocery"]
    assert grocery["group"].value_counts().to_dict() == {"courier": 5, "delivery_rider": 5}
    assert grocery.groupby("poi_index")["geometry"].nunique().eq(1).all()
    mall = demand[demand["rule"] == "mall"]
    assert set(mall["weight"]) == {2.0}
    assert demand.loc[demand["rule"] == "food", "group"].eq("delivery_rider").all()
    # input columns kept, points, WGS-84
    assert {"name", "amenity", "shop", "role_hint"}.issubset(demand.columns)
    assert list(demand.columns[:4]) == list(DEMAND_COLUMNS)
    assert demand.crs.to_epsg() == 4326
    assert (demand.geom_type == "Point").all()
    assert demand["layer"].eq("pois").all()
    first = demand.iloc[0]
    assert first["name"] == raw.loc[first["poi_index"], "name"]
    assert first.geometry.equals_exact(raw.geometry.iloc[first["poi_index"]], 1e-12)


def test_bund_pois_tilezen_kind() -> None:
    raw = gpd.read_file(BUND_POIS)
    demand = demand_from_pois(BUND_POIS)
    validate_demand(demand)
    counts = _pois_per_rule(demand)
    assert counts["food"] == int(raw["kind"].isin(FOOD).sum()) == 82
    assert counts["grocery"] == int(raw["kind"].isin({"convenience", "supermarket", "bakery"}).sum()) == 12
    assert counts["logistics"] == int((raw["kind"] == "post_office").sum()) == 2
    assert counts["mall"] == 1
    # traffic signals, bus stops, banks... match nothing
    kinds_used = set(raw.loc[demand["poi_index"].unique(), "kind"])
    assert not kinds_used & {"traffic_signals", "bus_stop", "bank", "toilets", "hotel"}
    food = demand[demand["rule"] == "food"]
    assert food["weight"].sum() == pytest.approx(82.0)
    bounds = demand.total_bounds
    assert bounds[0] > 121.47 and bounds[2] < 121.53 and bounds[1] > 31.22 and bounds[3] < 31.26


def test_polygon_pois_become_representative_points_and_first_rule_wins(tmp_path: Path) -> None:
    market = box(113.94, 22.54, 113.941, 22.541)
    ring = shapely.Polygon(
        [(113.95, 22.55), (113.952, 22.55), (113.952, 22.552), (113.95, 22.552)],
        holes=[[(113.9505, 22.5505), (113.9515, 22.5505), (113.9515, 22.5515), (113.9505, 22.5515)]],
    )
    pois = gpd.GeoDataFrame(
        {
            "amenity": ["marketplace", "food_court", None, "bench"],
            "shop": [None, "mall", "convenience;bakery", None],
            "name": ["农贸市场", "美食城", "便利店", "长椅"],
        },
        geometry=[market, ring, Point(113.96, 22.55), Point(113.97, 22.55)],
        crs="EPSG:4326",
    )
    path = tmp_path / "pois.geojson"
    pois.to_file(path, driver="GeoJSON")
    demand = demand_from_pois(path)
    assert set(demand["poi_index"]) == {0, 1, 2}  # the bench matches nothing
    m = demand[demand["poi_index"] == 0]
    assert dict(zip(m["group"], m["weight"], strict=True)) == {"gig_worker": 2.0, "delivery_rider": 1.0}
    assert m.geometry.within(market).all()
    fc = demand[demand["poi_index"] == 1]
    assert fc["rule"].tolist() == ["food_court"]  # food_court comes before mall in the rules
    assert fc["weight"].tolist() == [3.0]
    assert fc.geometry.iloc[0].within(ring)  # inside the polygon, not in its hole
    assert demand.loc[demand["poi_index"] == 2, "rule"].eq("grocery").all()  # "a;b" values are split
    assert demand["demand_id"].is_unique


def test_custom_rules_file_and_bad_rules(tmp_path: Path) -> None:
    good = tmp_path / "rules.toml"
    good.write_text(
        '[[rule]]\nname = "banks"\nmatch = { amenity = ["bank"] }\nweights = { "快递员" = 0.5 }\n',
        encoding="utf-8",
    )
    rules = load_demand_rules(good)
    assert rules[0].weights == (("courier", 0.5),)
    demand = demand_from_pois(SHENZHEN_POIS, rules=good)
    assert len(demand) == 14 and demand["weight"].sum() == pytest.approx(7.0)
    bad_group = tmp_path / "bad_group.toml"
    bad_group.write_text('[[rule]]\nname = "x"\nmatch = { amenity = ["bank"] }\nweights = { pilots = 1 }\n')
    with pytest.raises(InputError, match="unknown worker group"):
        load_demand_rules(bad_group)
    bad_weight = tmp_path / "bad_weight.toml"
    bad_weight.write_text('[[rule]]\nname = "x"\nmatch = { amenity = ["bank"] }\nweights = { courier = -1 }')
    with pytest.raises(InputError, match="≥ 0"):
        load_demand_rules(bad_weight)
    with pytest.raises(NotFoundError):
        load_demand_rules(tmp_path / "nope.toml")


def test_default_rules_file_is_valid() -> None:
    rules = load_demand_rules()
    names = [r.name for r in rules]
    assert names.index("food_court") < names.index("food")
    assert names.index("logistics") < names.index("office") < names.index("retail_other")


# ------------------------------------------------------------------------------------------ points
def test_points_csv_chinese_headers_groups_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "points.csv"
    pd.DataFrame(
        {"名称": ["A", "B", "C"], "经度": [113.94, 113.95, 113.96], "纬度": [22.54, 22.545, 22.55],
         "人数": [3, 0, 7.5], "工种": ["外卖骑手", "courier", "环卫工人"]}
    ).to_csv(path, index=False, encoding="gbk")
    demand = demand_from_points(path, group_field="工种", weight_field="人数")
    validate_demand(demand)
    assert demand["group"].tolist() == ["delivery_rider", "courier", "sanitation_worker"]
    assert demand["weight"].tolist() == [3.0, 0.0, 7.5]
    assert demand["名称"].tolist() == ["A", "B", "C"]
    assert demand["layer"].eq("points_file").all() and demand["source_crs"].eq("wgs84").all()
    assert demand.geometry.iloc[1].equals(Point(113.95, 22.545))
    plain = demand_from_points(path, group="courier")
    assert plain["weight"].eq(1.0).all() and plain["group"].eq("courier").all()


@pytest.mark.parametrize(("src", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_points_gcj02_and_bd09_are_converted(tmp_path: Path, src: str, forward: object) -> None:
    truth = np.array([[113.9445, 22.5405], [121.4737, 31.2304], [112.9455, 28.1850]])
    lon, lat = forward(truth[:, 0], truth[:, 1])  # type: ignore[operator]
    path = tmp_path / f"{src}.csv"
    pd.DataFrame({"lng": lon, "lat": lat, "weight": [1, 2, 3]}).to_csv(path, index=False)
    demand = demand_from_points(path, group="delivery_rider", crs=src)
    got = shapely.get_coordinates(demand.geometry.values)
    np.testing.assert_allclose(got, truth, atol=1e-7)
    assert demand["source_crs"].eq(src).all()
    # the offset is real: read as WGS-84 the same numbers are hundreds of metres off
    wrong = demand_from_points(path, group="delivery_rider")
    shift_m = gpd.GeoSeries(wrong.geometry.values, crs=4326).to_crs(32650).distance(
        gpd.GeoSeries(demand.geometry.values, crs=4326).to_crs(32650)
    )
    assert (shift_m > 100).all()


def test_points_vector_file_with_group_column(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"group": ["gig_worker", "零工"], "weight": [2.0, 4.0], "note": ["x", "y"]},
        geometry=[Point(113.93, 22.54), box(113.94, 22.54, 113.942, 22.542)],
        crs="EPSG:4326",
    ).to_crs(32649)
    path = tmp_path / "pts.gpkg"
    gdf.to_file(path)
    demand = demand_from_points(path)
    assert demand["group"].eq("gig_worker").all()
    assert demand["weight"].tolist() == [2.0, 4.0]
    assert demand["input_group"].tolist() == ["gig_worker", "零工"]
    assert demand.crs.to_epsg() == 4326
    assert demand.geometry.iloc[1].within(box(113.94, 22.54, 113.942, 22.542).buffer(1e-6))
    assert demand.geometry.iloc[0].distance(Point(113.93, 22.54)) < 1e-7


def test_points_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        demand_from_points(tmp_path / "missing.csv", group="courier")
    no_lat = tmp_path / "no_lat.csv"
    no_lat.write_text("lon,value\n113.9,1\n")
    with pytest.raises(InputError) as err:
        demand_from_points(no_lat, group="courier")
    assert err.value.field == "lat"
    neg = tmp_path / "neg.csv"
    neg.write_text("lon,lat,weight\n113.9,22.5,1\n113.9,22.6,-2\n")
    with pytest.raises(InputError) as err:
        demand_from_points(neg, group="courier")
    assert err.value.field == "weight_field"
    with pytest.raises(InputError, match="unknown worker group"):
        demand_from_points(neg, group="astronaut")
    with pytest.raises(InputError, match="coordinate system"):
        demand_from_points(neg, group="courier", crs="tokyo")
    blank = tmp_path / "blank.csv"
    blank.write_text("lon,lat\n113.9,\n")
    with pytest.raises(InputError, match="line"):
        demand_from_points(blank, group="courier")


# ------------------------------------------------------------------------------------------ grid
def test_grid_cells_to_centroids(tmp_path: Path) -> None:
    x0, y0 = 806_000.0, 2_496_000.0  # UTM 49N, Shenzhen Nanshan
    cells = [box(x0 + i * 250, y0 + j * 250, x0 + (i + 1) * 250, y0 + (j + 1) * 250)
             for i in range(3) for j in range(4)]
    pop = np.arange(12, dtype=float) * 10
    grid = gpd.GeoDataFrame({"pop": pop, "cell": range(12)}, geometry=cells, crs=32649)
    path = tmp_path / "grid.gpkg"
    grid.to_file(path)
    demand = demand_from_grid(path, weight_field="pop", group="delivery_rider")
    validate_demand(demand)
    assert len(demand) == 12 and demand["layer"].eq("grid").all()
    assert demand["weight"].sum() == pytest.approx(pop.sum())
    back = demand.to_crs(32649)
    for pt, cell in zip(back.geometry, cells, strict=True):
        assert pt.distance(cell.centroid) < 0.01
    assert demand["cell"].tolist() == list(range(12))
    with pytest.raises(InputError) as err:
        demand_from_grid(path, weight_field="people", group="delivery_rider")
    assert err.value.field == "weight_field"
    points = gpd.GeoDataFrame({"pop": [1.0]}, geometry=[Point(113.9, 22.5)], crs=4326)
    with pytest.raises(InputError, match="polygons"):
        demand_from_grid(points, weight_field="pop", group="courier")


# ------------------------------------------------------------------------------------------ network
@pytest.fixture(scope="module")
def changsha_graph() -> nx.MultiDiGraph:
    return ox.graph_from_xml(CHANGSHA_OSM, retain_all=True)


def test_network_default_weight_is_street_length(
    changsha_graph: nx.MultiDiGraph, caplog: pytest.LogCaptureFixture
) -> None:
    edges = ox.graph_to_gdfs(changsha_graph, nodes=False).reset_index()
    # independent reference: the length of the dissolved street lines (two-way streets and OSM ways
    # mapped twice on the same nodes count once), measured in UTM
    reference_km = edges.to_crs(32649).geometry.union_all().length / 1000
    # osmnx's undirected graph keeps ways mapped twice on the same nodes as parallel edges, so it is longer
    undirected = ox.convert.to_undirected(changsha_graph)
    osmnx_km = sum(d["length"] for _, _, d in undirected.edges(data=True)) / 1000
    assert osmnx_km > reference_km
    with caplog.at_level(logging.INFO, logger="geo.demand"):
        demand = demand_from_network(edges, weight_per_km=2.5, meters_per_point=50)
    validate_demand(demand)
    assert demand["weight"].sum() == pytest.approx(reference_km * 2.5, rel=0.01)
    assert street_length_meters(edges) / 1000 == pytest.approx(reference_km, rel=0.01)
    assert demand["layer"].eq("street_length").all() and demand["group"].eq("sanitation_worker").all()
    assert "street length" in caplog.text and "street_length" in caplog.text
    assert demand["street_meters"].max() <= 50 + 1e-6
    # every point lies on a street
    lines = edges.to_crs(32649).geometry.union_all()
    assert demand.to_crs(32649).distance(lines).max() < 0.01
    coarse = demand_from_network(edges, meters_per_point=200)
    assert len(coarse) < len(demand)
    assert coarse["weight"].sum() == pytest.approx(reference_km, rel=0.01)


def test_network_default_on_shenzhen_walk_network(shenzhen_walk: Network) -> None:
    net = shenzhen_walk  # session fixture (tests/geo/conftest.py): the Nanshan core, clipped
    demand = demand_from_network(net)
    validate_demand(demand)
    # reference: the network's own great-circle arc lengths, each two-way pair once
    reference_km = float(net.edges_frame(undirected=True)["length_m"].sum()) / 1000
    assert reference_km > 200
    assert demand["weight"].sum() == pytest.approx(reference_km, rel=0.01)
    assert demand["street_meters"].max() <= 100 + 1e-6
    # about one point per 100 m of street, plus at most one extra per merged street
    assert reference_km * 10 <= len(demand) <= reference_km * 10 + demand["street_index"].nunique()
    snap = net.snap(*shapely.get_coordinates(demand.geometry.values).T, max_meters=300)
    assert snap.snapped.all()
    minx, miny, maxx, maxy = demand.total_bounds
    assert minx >= SHENZHEN_CORE[0] - 1e-9 and maxx <= SHENZHEN_CORE[2] + 1e-9
    assert miny >= SHENZHEN_CORE[1] - 1e-9 and maxy <= SHENZHEN_CORE[3] + 1e-9


def test_network_bad_arguments() -> None:
    edges = gpd.GeoDataFrame(geometry=[shapely.LineString([(113.9, 22.5), (113.91, 22.5)])], crs=4326)
    with pytest.raises(InputError) as err:
        demand_from_network(edges, meters_per_point=0)
    assert err.value.field == "meters_per_point"
    with pytest.raises(InputError):
        demand_from_network(edges, weight_per_km=-1)
    with pytest.raises(InputError):
        demand_from_network("not a network")
    one = demand_from_network(edges, meters_per_point=100)
    length_m = gpd.GeoSeries(edges.geometry, crs=4326).to_crs(32649).length.iloc[0]
    assert len(one) == int(np.ceil(length_m / 100))


# ------------------------------------------------------------------------------------------ combine
def test_combine_demand_unique_ids(tmp_path: Path) -> None:
    pois = demand_from_pois(SHENZHEN_POIS)
    path = tmp_path / "p.csv"
    path.write_text("lon,lat\n113.94,22.54\n113.95,22.55\n")
    a = demand_from_points(path, group="courier")
    b = demand_from_points(path, group="gig_worker")
    both = combine_demand(pois, a, b)
    assert len(both) == len(pois) + 4
    assert both["demand_id"].is_unique
    assert both["weight"].sum() == pytest.approx(pois["weight"].sum() + 4)
    assert both.loc[both["layer"] == "pois", "demand_id"].tolist() == pois["demand_id"].tolist()
    assert set(both["layer"]) == {"pois", "points_file"}
    assert "1:points_file:pt-0" in set(both["demand_id"]) and "2:points_file:pt-0" in set(both["demand_id"])
    with pytest.raises(InputError):
        combine_demand()
