"""Candidates (host rules, planner files, street nodes) and plan_sites options on the real Shenzhen data:
per-area minimum with point-in-polygon areas, fixed open stations, exports, input errors."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo.config import data_dir
from geo.crs import wgs84_to_gcj02
from geo.demand import demand_from_pois
from geo.errors import InfeasibleError, InputError
from geo.network import Network, load_network
from geo.siting import (
    areas_of_points,
    build_coverage_sets,
    candidates_from_file,
    candidates_from_network,
    candidates_from_pois,
    load_host_rules,
    plan_sites,
)

SZ = "shenzhen_roadnetworkcreator"
CORE = (113.92, 22.535, 113.97, 22.56)


@pytest.fixture(scope="module")
def net() -> Network:
    return load_network(data_dir() / SZ / "shenzhen_nanshan_osm.osm", mode="walk", clip=CORE)


@pytest.fixture(scope="module")
def pois() -> Path:
    return data_dir() / SZ / "shenzhen_nanshan_osm_pois.geojson"


@pytest.fixture(scope="module")
def areas() -> gpd.GeoDataFrame:
    """Three north-south strips over the Nanshan core, standing in for townships."""
    xs = np.linspace(CORE[0], CORE[2], 4)
    return gpd.GeoDataFrame(
        {"area_code": ["A", "B", "C"], "area_name": ["西片", "中片", "东片"], "level": "township"},
        geometry=[box(xs[i], CORE[1], xs[i + 1], CORE[3]) for i in range(3)],
        crs="EPSG:4326",
    )


def test_host_rules_on_real_pois(pois: Path) -> None:
    rules = load_host_rules()
    assert {r.host_type for r in rules} >= {
        "bank",
        "fuel_station",
        "community_centre",
        "party_service_centre",
        "convenience_store",
        "public_toilet",
        "park",
        "post_office",
        "library",
    }
    cands = candidates_from_pois(pois)
    raw = gpd.read_file(pois)
    # every POI the source marks as a candidate host is a candidate (the rule set is a superset)
    host_ids = {f"poi-{t}-{i}" for t, i in zip(raw["osm_type"], raw["osm_id"], strict=True)}
    marked = raw[raw["role_hint"] == "candidate_host"]
    marked_ids = {f"poi-{t}-{i}" for t, i in zip(marked["osm_type"], marked["osm_id"], strict=True)}
    got = set(cands["candidate_id"])
    assert got <= host_ids
    assert marked_ids <= got
    counts = cands["host_type"].value_counts().to_dict()
    assert counts["bank"] == 14 and counts["fuel_station"] == 3 and counts["public_toilet"] == 5
    assert cands["candidate_id"].is_unique and cands.crs.to_epsg() == 4326
    assert list(cands.columns[:4]) == ["candidate_id", "name", "host_type", "cost"]
    assert (cands.loc[cands["host_type"] == "bank", "cost"] == 1.0).all()
    # unnamed hosts get the host type's Chinese label
    assert cands.loc[cands["host_type"] == "public_toilet", "name"].str.startswith("公共厕所").all()


def test_candidates_from_file_converts_gcj02(tmp_path: Path) -> None:
    lon = np.array([113.9400, 113.9500])
    lat = np.array([22.5400, 22.5450])
    glon, glat = wgs84_to_gcj02(lon, lat)
    path = tmp_path / "cands.csv"
    pd.DataFrame(
        {
            "编号": ["K1", "K2"],
            "名称": ["社区党群服务中心", "某加油站"],
            "经度": glon,
            "纬度": glat,
            "host_type": ["party_service_centre", "fuel_station"],
            "cost": [0.5, None],
        }
    ).to_csv(path, index=False, encoding="gb18030")
    cands = candidates_from_file(path, crs="gcj02")
    assert cands["candidate_id"].tolist() == ["K1", "K2"]
    assert cands["name"].tolist() == ["社区党群服务中心", "某加油站"]
    assert cands["cost"].tolist() == [0.5, 1.0]
    np.testing.assert_allclose(cands.geometry.x, lon, atol=1e-5)
    np.testing.assert_allclose(cands.geometry.y, lat, atol=1e-5)
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"id": ["a", "a"], "lon": [113.94, 113.95], "lat": [22.54, 22.55]}).to_csv(dup, index=False)
    with pytest.raises(InputError, match="duplicate candidate_id 'a'"):
        candidates_from_file(dup)


def test_candidates_from_network(net: Network) -> None:
    every = candidates_from_network(net, every=100)
    assert len(every) == len(range(0, net.n_nodes, 100))
    spaced = candidates_from_network(net, spacing_meters=400.0)
    xy = spaced.to_crs(spaced.estimate_utm_crs()).geometry
    cells = {(int(p.x // 400), int(p.y // 400)) for p in xy}
    # one node per occupied 400 m cell, so no more than the cells and nodes are real network nodes
    assert 0.5 * len(cells) <= len(spaced) <= 2 * len(cells)
    assert set(spaced["host_type"]) == {"street_node"}
    nodes = spaced["node"].to_numpy()
    np.testing.assert_allclose(spaced.geometry.x, net.lon[nodes])


def _instance(net: Network, pois: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    demand = demand_from_pois(pois)
    hosts = candidates_from_pois(pois)
    banks = hosts[hosts["host_type"] == "bank"].iloc[::4]
    stations = gpd.GeoDataFrame(
        {
            "station_id": [f"s{i}" for i in range(len(banks))],
            "name": banks["name"].to_numpy(),
            "status": ["open", "planned"] * (len(banks) // 2) + ["open"] * (len(banks) % 2),
        },
        geometry=banks.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    return stations, demand, hosts.drop(banks.index).reset_index(drop=True)


def test_per_area_minimum_matches_brute_force(net: Network, pois: Path, areas: gpd.GeoDataFrame) -> None:
    stations, demand, cands = _instance(net, pois)
    k = 2
    res = plan_sites(net, stations, demand, cands, minutes=10, add=4, min_per_area=k, areas=areas)
    open_st = stations[stations["status"] == "open"]
    a_st = areas_of_points(open_st, areas)
    a_c = areas_of_points(cands, areas)
    have = np.bincount(a_st[a_st >= 0], minlength=3)
    need = np.maximum(0, k - have)
    added = res.per_area["stations_added"].to_numpy()
    assert np.all(added >= need) and added.sum() == 4
    assert res.per_area["stations_before"].tolist() == have.tolist()
    # brute force over all 4-subsets meeting the area needs, on the coverage sets
    cs = build_coverage_sets(net, cands, demand, minutes=10, stations=open_st)
    dense = cs.matrix.toarray()
    best = 0.0
    for s in itertools.combinations(range(len(cands)), 4):
        if np.all(np.bincount(a_c[list(s)][a_c[list(s)] >= 0], minlength=3) >= need):
            best = max(best, float(cs.weights[dense[list(s)].any(axis=0)].sum()))
    assert res.objective == pytest.approx(best)
    assert res.covered_after == pytest.approx(res.covered_before + best)
    greedy = plan_sites(
        net, stations, demand, cands, minutes=10, add=4, min_per_area=k, areas=areas, method="greedy"
    )
    assert np.all(greedy.per_area["stations_added"].to_numpy() >= need)
    assert greedy.objective <= res.objective + 1e-9
    # per-area coverage sums to the totals of demand inside the areas
    inside = areas_of_points(demand, areas) >= 0
    assert res.per_area["weight"].sum() == pytest.approx(demand["weight"].to_numpy()[inside].sum())


def test_per_area_minimum_infeasible(net: Network, pois: Path, areas: gpd.GeoDataFrame) -> None:
    _stations, demand, cands = _instance(net, pois)
    a_c = areas_of_points(cands, areas)
    few = int(np.argmin(np.bincount(a_c[a_c >= 0], minlength=3)))
    n_few = int((a_c == few).sum())
    name = re.escape(f"{areas['area_name'].iloc[few]} ({areas['area_code'].iloc[few]})")
    with pytest.raises(InfeasibleError, match=rf"{name} needs \d+ more station\(s\) but has only {n_few}"):
        plan_sites(net, None, demand, cands, minutes=10, add=len(cands), min_per_area=n_few + 1, areas=areas)


def test_open_only_and_fixed_stations(net: Network, pois: Path) -> None:
    stations, demand, cands = _instance(net, pois)
    only_open = plan_sites(net, stations, demand, cands, minutes=10, add=2)
    everything = plan_sites(net, stations, demand, cands, minutes=10, add=2, open_only=False)
    none = plan_sites(net, None, demand, cands, minutes=10, add=2)
    assert none.covered_before == 0.0
    assert 0 < only_open.covered_before < everything.covered_before
    # what existing stations cover never counts as gain
    assert only_open.objective <= only_open.total_weight - only_open.covered_before
    assert only_open.covered_after == pytest.approx(only_open.covered_before + only_open.objective)


def test_input_errors(net: Network, pois: Path) -> None:
    stations, demand, cands = _instance(net, pois)
    with pytest.raises(InputError, match="exactly one of add, target_share or budget"):
        plan_sites(net, stations, demand, cands, add=2, budget=3.0)
    with pytest.raises(InputError, match="min_per_area needs areas"):
        plan_sites(net, stations, demand, cands, add=2, min_per_area=1)
    with pytest.raises(InputError, match="target_share must be in"):
        plan_sites(net, stations, demand, cands, target_share=1.5)
    with pytest.raises(InfeasibleError, match=f"cannot add {len(cands) + 1} stations: only {len(cands)}"):
        plan_sites(net, stations, demand, cands, add=len(cands) + 1)
