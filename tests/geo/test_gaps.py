"""Tests of geo.gaps: uncovered demand aggregated to ranked H3 hexagons."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point

from geo.config import data_dir
from geo.coverage import CoverageResult, compute_coverage
from geo.demand import combine_demand, demand_from_network, demand_from_pois
from geo.errors import InputError
from geo.gaps import GAP_COLUMNS, find_gaps, top_gaps
from geo.network import Network

SHENZHEN_POIS = data_dir() / "shenzhen_roadnetworkcreator" / "shenzhen_nanshan_osm_pois.geojson"


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def sz_banks() -> gpd.GeoDataFrame:
    pois = gpd.read_file(SHENZHEN_POIS)
    banks = pois[pois["amenity"] == "bank"].reset_index(drop=True)
    return gpd.GeoDataFrame(
        {"station_id": [f"bank-{i}" for i in range(len(banks))], "name": banks["name"].to_numpy(),
         "status": "open"},
        geometry=banks.geometry.to_numpy(), crs="EPSG:4326",
    )


@pytest.fixture(scope="module")
def sz_result(shenzhen_walk: Network, sz_banks: gpd.GeoDataFrame) -> CoverageResult:
    """Coverage of POI and street-length demand by the 14 banks, 10 minutes on foot (the session
    fixture ``shenzhen_walk`` of tests/geo/conftest.py is the Nanshan core walk network)."""
    demand = combine_demand(demand_from_pois(SHENZHEN_POIS), demand_from_network(shenzhen_walk))
    # a far-away point that cannot snap (reported separately, never a hexagon)
    lost = demand.iloc[[0]].copy()
    lost["demand_id"] = "lost"
    lost["weight"] = 5.0
    lost = lost.set_geometry([Point(113.99, 22.60)], crs="EPSG:4326")
    demand = gpd.GeoDataFrame(pd.concat([demand, lost], ignore_index=True), crs="EPSG:4326")
    return compute_coverage(shenzhen_walk, sz_banks, demand, minutes=10, horizon_minutes=30)


# ------------------------------------------------------------------------------------------ real data
def test_hex_weights_sum_to_uncovered_weight(sz_result: CoverageResult) -> None:
    d = sz_result.demand
    gaps = find_gaps(sz_result)
    uncovered = (~d["covered"]) & d["snapped"]
    assert uncovered.sum() > 100  # the test would be empty otherwise
    assert gaps["uncovered_weight"].sum() == pytest.approx(d.loc[uncovered, "weight"].sum())
    assert gaps["demand_count"].sum() == int(uncovered.sum())
    assert gaps.attrs["uncovered_weight"] == pytest.approx(d.loc[uncovered, "weight"].sum())
    # unreachable points (NaN minutes) are gaps too
    unreachable = d["snapped"] & d["minutes"].isna()
    assert unreachable.sum() > 0
    assert gaps["unreachable_count"].sum() == int(unreachable.sum())
    # the unsnappable point is reported separately, not in any hexagon
    assert gaps.attrs["unsnappable_count"] == 1 and gaps.attrs["unsnappable_weight"] == 5.0
    assert sz_result.summary.unsnappable_count == 1
    # uncovered weight in gaps = total - covered - unsnappable (the summary's own figures)
    s = sz_result.summary
    assert gaps["uncovered_weight"].sum() == pytest.approx(s.demand_total - s.demand_covered - s.unsnappable)
    # per-group columns add up to the cell totals and to the by_group table
    group_cols = [c for c in gaps.columns if c.startswith("weight_")]
    np.testing.assert_allclose(gaps[group_cols].sum(axis=1), gaps["uncovered_weight"])
    for col in group_cols:
        g = col.removeprefix("weight_")
        assert gaps[col].sum() == pytest.approx(d.loc[uncovered & (d["group"] == g), "weight"].sum())
    assert list(gaps.columns[: len(GAP_COLUMNS)]) == list(GAP_COLUMNS)
    assert gaps.crs.to_epsg() == 4326 and (gaps.geom_type == "Polygon").all()


def test_ranking_order(sz_result: CoverageResult) -> None:
    gaps = find_gaps(sz_result)
    assert gaps["rank"].tolist() == list(range(1, len(gaps) + 1))
    w = gaps["uncovered_weight"].to_numpy()
    assert (np.diff(w) <= 1e-12).all()
    top = top_gaps(gaps, n=5)
    assert top["rank"].tolist() == [1, 2, 3, 4, 5]
    assert top["uncovered_weight"].iloc[0] == pytest.approx(w.max())
    assert top.attrs["resolution"] == 9
    assert len(top_gaps(gaps, n=10_000)) == len(gaps)
    with pytest.raises(InputError):
        top_gaps(gaps, n=0)


def test_resolution_changes_cell_count(sz_result: CoverageResult) -> None:
    counts = {r: len(find_gaps(sz_result, resolution=r)) for r in (7, 8, 9, 10)}
    assert counts[7] < counts[8] < counts[9] < counts[10]
    for r in (8, 10):
        gaps = find_gaps(sz_result, resolution=r)
        assert {h3.get_resolution(c) for c in gaps["h3"]} == {r}
        assert gaps["uncovered_weight"].sum() == pytest.approx(find_gaps(sz_result)["uncovered_weight"].sum())


def test_nearest_station_fields_brute_force(sz_result: CoverageResult, sz_banks: gpd.GeoDataFrame) -> None:
    gaps = find_gaps(sz_result, stations=sz_banks).set_index("h3")
    default = find_gaps(sz_result).set_index("h3")  # names from the result's own stations
    assert default["nearest_station_name"].equals(gaps["nearest_station_name"])
    d = sz_result.demand
    rows = d[(~d["covered"]) & d["snapped"]]
    pairs = zip(sz_banks["station_id"], sz_banks["name"], strict=True)
    names = {k: (None if pd.isna(v) else v) for k, v in pairs}
    assert any(v is None for v in names.values()) and any(v is not None for v in names.values())
    by_cell: dict[str, list[tuple[float, object]]] = {}
    for geom, m, s in zip(rows.geometry, rows["minutes"], rows["nearest_station"], strict=True):
        cell = h3.latlng_to_cell(geom.y, geom.x, 9)
        by_cell.setdefault(cell, []).append((m, s))
        # each uncovered point lies in (or on the edge of) its hexagon polygon
        assert gaps.loc[cell, "geometry"].buffer(1e-9).contains(geom)
    assert set(by_cell) == set(gaps.index)
    for cell, items in by_cell.items():
        finite = [(m, s) for m, s in items if np.isfinite(m)]
        row = gaps.loc[cell]
        if not finite:
            assert row["nearest_station"] is None and np.isnan(row["nearest_minutes"])
            assert row["nearest_station_name"] is None
            continue
        best = min(m for m, _ in finite)
        assert row["nearest_minutes"] == pytest.approx(best)
        assert row["nearest_station"] in {s for m, s in finite if m == best}
        assert row["nearest_station_name"] == names[row["nearest_station"]]
        assert row["nearest_minutes"] > 10  # uncovered means beyond the 10-minute threshold


def test_minutes_override_recomputes_coverage(sz_result: CoverageResult) -> None:
    same = find_gaps(sz_result.demand, minutes=10)
    base = find_gaps(sz_result)
    assert same["uncovered_weight"].sum() == pytest.approx(base["uncovered_weight"].sum())
    stricter = find_gaps(sz_result, minutes=5)
    assert stricter["uncovered_weight"].sum() > base["uncovered_weight"].sum()
    d = sz_result.demand
    expected = d.loc[d["snapped"] & ~(d["minutes"] <= 5), "weight"].sum()
    assert stricter["uncovered_weight"].sum() == pytest.approx(expected)


# ------------------------------------------------------------------------------------------ small frames
def _frame(rows: list[tuple[float, float, str, float, float, bool, object, bool]]) -> gpd.GeoDataFrame:
    lon, lat, group, weight, minutes, covered, station, snapped = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(len(rows))], "group": group, "weight": weight,
         "layer": "test", "minutes": minutes, "covered": covered, "nearest_station": list(station),
         "snapped": snapped},
        geometry=shapely.points(lon, lat), crs="EPSG:4326",
    )


def test_small_frame_exact_values() -> None:
    a = h3.cell_to_latlng(h3.latlng_to_cell(22.54, 113.94, 9))  # cell centres, so points stay inside
    b = h3.cell_to_latlng(h3.latlng_to_cell(22.55, 113.95, 9))
    nan = float("nan")
    frame = _frame([
        (a[1], a[0], "courier", 2.0, 20.0, False, 7, True),
        (a[1], a[0], "delivery_rider", 1.0, 16.0, False, 8, True),
        (a[1], a[0], "courier", 9.0, 3.0, True, 7, True),  # covered: not a gap
        (b[1], b[0], "sanitation_worker", 4.0, nan, False, None, True),  # unreachable
        (b[1], b[0], "courier", 0.5, nan, False, None, True),
        (113.99, 22.60, "courier", 100.0, nan, False, None, False),  # unsnappable
    ])
    stations = gpd.GeoDataFrame({"station_id": [7, 8], "name": ["甲站", "乙站"]},
                                geometry=[Point(0, 0), Point(0, 0)], crs="EPSG:4326")
    gaps = find_gaps(frame, stations=stations)
    assert gaps["h3"].tolist() == [h3.latlng_to_cell(b[0], b[1], 9), h3.latlng_to_cell(a[0], a[1], 9)]
    first, second = gaps.iloc[0], gaps.iloc[1]
    assert first["uncovered_weight"] == 4.5 and first["demand_count"] == 2 and first["unreachable_count"] == 2
    assert first["nearest_station"] is None and np.isnan(first["nearest_minutes"])
    assert first["main_group"] == "sanitation_worker"
    assert first["groups"] == "sanitation_worker:4; courier:0.5"
    assert second["uncovered_weight"] == 3.0 and second["demand_count"] == 2
    assert second["nearest_station"] == 8 and second["nearest_minutes"] == 16.0
    assert second["nearest_station_name"] == "乙站"
    assert second["weight_courier"] == 2.0 and second["weight_delivery_rider"] == 1.0
    assert gaps.attrs["unsnappable_count"] == 1 and gaps.attrs["unsnappable_weight"] == 100.0
    # a threshold of 17 minutes covers the 16-minute rider point
    relaxed = find_gaps(frame, minutes=17)
    assert relaxed["uncovered_weight"].sum() == pytest.approx(6.5)


def test_no_gaps_and_bad_input() -> None:
    frame = _frame([(113.94, 22.54, "courier", 1.0, 3.0, True, 1, True)])
    empty = find_gaps(frame)
    assert len(empty) == 0 and list(empty.columns[: len(GAP_COLUMNS)]) == list(GAP_COLUMNS)
    assert empty.attrs["uncovered_weight"] == 0.0
    with pytest.raises(InputError) as err:
        find_gaps(frame, resolution=16)
    assert err.value.field == "resolution"
    with pytest.raises(InputError) as err:
        find_gaps(frame, minutes=0)
    assert err.value.field == "minutes"
    with pytest.raises(InputError):
        find_gaps(frame.drop(columns=["minutes"]))
    with pytest.raises(InputError):
        find_gaps(pd.DataFrame({"x": [1]}))


def test_point_beside_a_footway_island_is_no_gap(shenzhen_walk: Network) -> None:
    """Gaps read the coverage engine's edge snapping: a Tech Park point on a main street whose
    nearest node is on a 45-node footway island is served by the stations 600-650 m away (node
    snapping made it unreachable, hence a gap), while a far-off point stays unsnappable, not a gap."""
    point = (113.95450936, 22.54347740)
    around = [(113.953765, 22.543139), (113.95953, 22.542596), (113.959836, 22.544657)]
    stations = gpd.GeoDataFrame(
        {"station_id": ["a", "b", "c"], "name": ["甲", "乙", "丙"], "status": "open"},
        geometry=[Point(x + 1e-5, y) for x, y in around], crs="EPSG:4326",
    )
    demand = gpd.GeoDataFrame(
        {"demand_id": ["p", "far"], "group": "courier", "weight": [3.0, 1.0]},
        geometry=[Point(*point), Point(113.99, 22.60)], crs="EPSG:4326",
    )
    res = compute_coverage(shenzhen_walk, stations, demand, minutes=10, horizon_minutes=30)
    row = res.demand.iloc[0]
    assert row["snapped"] and row["covered"] and 600 / 75 < row["minutes"] < 650 / 75
    gaps = find_gaps(res)
    assert len(gaps) == 0 and gaps.attrs["unsnappable_count"] == 1
    # with a shorter threshold the same point is an ordinary gap, its nearest station named
    short = find_gaps(res, minutes=5)
    assert len(short) == 1 and short["nearest_station_name"].iloc[0] in {"甲", "乙", "丙"}
