"""geo.region.region_sites: per-county siting as Dask tasks equals plan_sites on the merged network for
each county's demand and candidates (2 × 2 tiled Changsha walk network, built at test time)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.areas import area_index
from geo.errors import InputError
from geo.network import Network
from geo.region import (
    required_halo_meters,
    station_points,
    synthetic_inputs,
    tile_region,
    write_region_networks,
)
from geo.region.siting import region_sites
from geo.siting import plan_sites

MINUTES = 5.0


@pytest.fixture(scope="module")
def case(changsha_walk: Network, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    merged, areas = tile_region(changsha_walk, 2, 2, seed=5)
    nets = write_region_networks(
        merged,
        areas,
        tmp_path_factory.mktemp("nets"),
        halo_meters=required_halo_meters(merged.speed_kph, MINUTES, 300.0),
    )
    stations, demand = synthetic_inputs(
        merged, areas, station_areas=[0], stations_per_area=1, points=400, seed=3
    )
    cx, cy = station_points(merged, 60, seed=9)
    candidates = gpd.GeoDataFrame(
        {
            "candidate_id": [f"C{i}" for i in range(60)],
            "name": [f"候选{i}" for i in range(60)],
            "host_type": "street_node",
            "cost": 1.0,
        },
        geometry=gpd.points_from_xy(cx, cy),
        crs="EPSG:4326",
    )
    return {
        "merged": merged,
        "areas": areas,
        "nets": nets,
        "stations": stations,
        "demand": demand,
        "candidates": candidates,
    }


def test_region_sites_equal_per_county_siting_on_the_merged_network(case: dict[str, Any]) -> None:
    got = region_sites(
        case["nets"],
        case["stations"],
        case["demand"],
        candidates=case["candidates"],
        minutes=MINUTES,
        add_per_area=2,
        scheduler="local:1",
    )
    areas = case["areas"]
    d_area = area_index(case["demand"].geometry.x, case["demand"].geometry.y, areas)
    c_area = area_index(case["candidates"].geometry.x, case["candidates"].geometry.y, areas)
    assert len(got.per_area) == 4
    for i, code in enumerate(areas["area_code"]):
        ref = plan_sites(
            case["merged"],
            case["stations"],
            case["demand"][d_area == i].reset_index(drop=True),
            case["candidates"][c_area == i].reset_index(drop=True),
            minutes=MINUTES,
            add=2,
        )
        mine = got.proposals[got.proposals["area_code"] == code]
        assert mine["candidate_id"].tolist() == ref.selected["candidate_id"].tolist()
        row = got.per_area.set_index("area_code").loc[code]
        assert row["covered_after"] == pytest.approx(ref.covered_after)
        assert row["covered_before"] == pytest.approx(ref.covered_before)
        assert bool(np.all(shapely.contains_xy(areas.geometry.iloc[i], mine["lon"], mine["lat"])))
    assert got.summary["sites"] == len(got.proposals) == 8
    assert got.summary["share_after"] >= got.summary["share_before"]


def test_region_sites_from_street_nodes_and_bad_requests(case: dict[str, Any], tmp_path: Path) -> None:
    got = region_sites(
        case["nets"],
        case["stations"],
        case["demand"],
        spacing_meters=150.0,
        minutes=MINUTES,
        add_per_area=1,
        scheduler="local:1",
    )
    assert len(got.proposals) == 4 and set(got.proposals["area_code"]) == set(case["areas"]["area_code"])
    with pytest.raises(InputError, match="exactly one"):
        region_sites(
            case["nets"], case["stations"], case["demand"], minutes=MINUTES, scheduler="tcp://127.0.0.1:9"
        )
    with pytest.raises(InputError, match="smaller than the"):
        region_sites(
            case["nets"],
            case["stations"],
            case["demand"],
            minutes=30.0,
            add_per_area=1,
            scheduler="tcp://127.0.0.1:9",
        )
