"""Several thresholds from one search, and the N-th nearest station (issue #21), on Shanghai and Changsha.

References: a separate :func:`compute_coverage` run per threshold (the per-threshold shares must be
the same numbers), and networkx on the graph in which every station and demand point really splits
its edge (``tests/geo/_split.py``): one single-source Dijkstra per station gives every point its
sorted station times, whose N-th entry is the brute-force N-th nearest distinct station.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from geo.config import data_dir
from geo.coverage import (
    compute_coverage,
    coverage_cutoffs,
    cutoff_column,
    cutoffs_of,
    nth_nearest,
    ordinal,
)
from geo.errors import InputError
from geo.network import Network
from tests.geo._split import split_graph

CHANGSHA_BOUNDS = (112.94196, 28.18252, 112.94899, 28.18780)
CUTS = (3.0, 5.0, 7.5, 10.0)


def _stations(points: list[shapely.Point], prefix: str, status: list[str] | None = None) -> gpd.GeoDataFrame:
    n = len(points)
    return gpd.GeoDataFrame(
        {"station_id": [f"{prefix}-{i}" for i in range(n)], "name": [f"{prefix} {i}" for i in range(n)],
         "status": status or ["open"] * n},
        geometry=points, crs="EPSG:4326",
    )  # fmt: skip


def _case(place: str, net: Network) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Stations (one closed), demand (every node moved a little, random and far-off points, two
    groups, fractional weights) and two areas halving the network's box."""
    rng = np.random.default_rng(21)
    minx, maxx = float(net.lon.min()), float(net.lon.max())
    miny, maxy = float(net.lat.min()), float(net.lat.max())
    if place == "shanghai":
        pois = gpd.read_file(data_dir() / "shanghai_maptalks_tilezen" / "shanghai_bund_pois.geojson")
        pois = pois.cx[minx:maxx, miny:maxy]
        pts = list(pois[pois["kind"].isin(["bank", "toilets"])].geometry.values)
    else:
        pick = rng.choice(np.flatnonzero(net.component == 0), size=6, replace=False)
        pts = list(gpd.points_from_xy(net.lon[pick] + 1e-4, net.lat[pick] + 5e-5))
    status = ["open"] * len(pts)
    status[1] = "closed"
    stations = _stations(pts, "s", status)
    demand_pts = list(gpd.points_from_xy(net.lon + 2e-5, net.lat - 3e-5))
    demand_pts += list(gpd.points_from_xy(rng.uniform(minx, maxx, 300), rng.uniform(miny, maxy, 300)))
    demand_pts += [shapely.Point(minx - 0.01, miny - 0.01)]
    n = len(demand_pts)
    demand = gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(n)],
         "group": np.where(np.arange(n) % 3 == 0, "courier", "sanitation_worker"),
         "weight": rng.uniform(0.1, 5.0, n), "layer": "test"},
        geometry=demand_pts, crs="EPSG:4326",
    )  # fmt: skip
    mid = (minx + maxx) / 2
    areas = gpd.GeoDataFrame(
        {"area_code": ["W", "E"], "area_name": ["西", "东"]},
        geometry=[shapely.box(minx, miny, mid, maxy), shapely.box(mid, miny, maxx, maxy)], crs="EPSG:4326",
    )  # fmt: skip
    return stations, demand, areas


CASES = [("shanghai", "shanghai_walk"), ("shanghai", "shanghai_ebike"), ("changsha", "changsha_walk")]


@pytest.mark.parametrize(("place", "fixture"), CASES)
def test_each_threshold_equals_a_separate_run(
    request: pytest.FixtureRequest, place: str, fixture: str
) -> None:
    net: Network = request.getfixturevalue(fixture)
    stations, demand, areas = _case(place, net)
    cc = coverage_cutoffs(net, stations, demand, minutes=CUTS, areas=areas, horizon_minutes=30)
    assert cc.minutes == CUTS and cc.nth is None
    assert cc.result.summary.minutes == CUTS[-1]
    shares = []
    for row, t in zip(cc.cutoff_dicts(), CUTS, strict=True):
        alone = compute_coverage(net, stations, demand, minutes=t, areas=areas, horizon_minutes=30)
        s = alone.summary
        assert row["minutes"] == t
        assert row["demand_total"] == s.demand_total
        assert row["demand_covered"] == s.demand_covered and row["covered_share"] == s.covered_share
        for table, key, mine in (("by_area", "area_code", cc.by_area), ("by_group", "group", cc.by_group)):
            ref = getattr(alone, table)
            assert list(mine[key]) == list(ref[key])
            np.testing.assert_array_equal(mine[cutoff_column("demand_covered", t)], ref["demand_covered"])
            np.testing.assert_array_equal(mine[cutoff_column("covered_share", t)], ref["covered_share"])
        shares.append(s.covered_share)
    assert shares == sorted(shares) and shares[0] < shares[-1]  # the thresholds really differ here
    # the largest threshold's columns are the base table's; the demand frame is the single run's
    largest = cc.by_area[cutoff_column("demand_covered", CUTS[-1])]
    np.testing.assert_array_equal(largest, cc.by_area["demand_covered"])
    assert cc.demand is cc.result.demand
    # a threshold given as text, unsorted, with a duplicate: the same result
    again = cutoffs_of(cc.result, "10, 3,7.5,5,5")
    assert again.cutoffs.equals(cc.cutoffs) and again.by_group.equals(cc.by_group)


def _brute_nth(
    ref: nx.DiGraph, net: Network, stations: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, limit_m: float
) -> list[list[float]]:
    """Per demand point the sorted metres to every station within ``limit_m``: one networkx
    Dijkstra per station on the reversed split graph (worker → station)."""
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    g = split_graph(ref, net, [("s", sx, sy, net.snap(sx, sy)), ("d", dx, dy, net.snap(dx, dy))])
    rev = g.reverse(copy=True)
    per_point: list[list[float]] = [[] for _ in range(len(demand))]
    for j in range(len(stations)):
        if ("s", j) not in rev:
            continue
        dist = nx.single_source_dijkstra_path_length(rev, ("s", j), cutoff=limit_m, weight="length")
        for i in range(len(demand)):
            if ("d", i) in dist:
                per_point[i].append(dist[("d", i)])
    return [sorted(v) for v in per_point]


@pytest.mark.parametrize(("place", "fixture"), CASES)
def test_nth_nearest_equals_networkx_brute_force(
    request: pytest.FixtureRequest,
    raw_graphs: dict[str, nx.MultiDiGraph],
    reference_graph: Callable[..., nx.DiGraph],
    place: str,
    fixture: str,
) -> None:
    net: Network = request.getfixturevalue(fixture)
    stations, demand, areas = _case(place, net)
    open_st = stations[stations["status"] == "open"].reset_index(drop=True)
    horizon = 20.0
    mpm = net.meters_per_minute
    bbox = CHANGSHA_BOUNDS if place == "changsha" else None
    ref = reference_graph(raw_graphs[place], mode=net.mode, bbox=bbox)
    sorted_m = _brute_nth(ref, net, open_st, demand, horizon * mpm)
    for n in (1, 2, 3):
        want = np.array([v[n - 1] / mpm if len(v) >= n else np.nan for v in sorted_m])
        got, who = nth_nearest(net, open_st, demand, nth=n, horizon_minutes=horizon)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, equal_nan=True)
        assert np.array_equal(who >= 0, np.isfinite(want))
        assert np.isfinite(want).sum() > 50 and np.isnan(want).sum() > 0
    # N = 1 is coverage's own nearest station
    one, _ = nth_nearest(net, open_st, demand, nth=1, horizon_minutes=horizon)
    res = compute_coverage(net, stations, demand, minutes=10, horizon_minutes=horizon, areas=areas)
    np.testing.assert_allclose(one, res.demand["minutes"].to_numpy(float), rtol=0, atol=1e-9, equal_nan=True)
    # the fallback columns and shares through coverage_cutoffs (closed station dropped as in coverage)
    cc = coverage_cutoffs(net, stations, demand, minutes=(5, 10), nth=2, horizon_minutes=horizon, areas=areas)
    second = np.array([v[1] / mpm if len(v) >= 2 else np.nan for v in sorted_m])
    got2 = cc.demand["minutes_2nd"].to_numpy(float)
    np.testing.assert_allclose(got2, second, rtol=0, atol=1e-6, equal_nan=True)
    ids = open_st["station_id"].to_numpy()
    _, who2 = nth_nearest(net, open_st, demand, nth=2, horizon_minutes=horizon)
    assert list(cc.demand["station_2nd"]) == [ids[i] if i >= 0 else None for i in who2]
    both = cc.demand["station_2nd"].notna()
    assert both.sum() > 50 and (cc.demand["station_2nd"][both] != cc.demand["nearest_station"][both]).all()
    w = demand["weight"].to_numpy()
    for row in cc.cutoff_dicts():
        t = row["minutes"]
        has_two = np.nan_to_num(second, nan=np.inf) <= t + 1e-9
        assert row["demand_covered_nth"] == pytest.approx(float(w[has_two].sum()))
        assert row["demand_covered_nth"] <= row["demand_covered"]
        per_group = cc.by_group[cutoff_column("demand_covered", t, 2)].to_numpy()
        assert per_group.sum() == pytest.approx(row["demand_covered_nth"])
        per_area = cc.by_area[cutoff_column("demand_covered", t, 2)].to_numpy()
        assert per_area.sum() == pytest.approx(row["demand_covered_nth"])
    assert any(r["demand_covered_nth"] < r["demand_covered"] for r in cc.cutoff_dicts())


def test_validation_names_the_field(changsha_walk: Network) -> None:
    stations, demand, _ = _case("changsha", changsha_walk)
    res = compute_coverage(changsha_walk, stations, demand, minutes=10, horizon_minutes=20)
    bad: list[tuple[dict[str, Any], str]] = [
        ({"minutes": "5,,10"}, "minutes"), ({"minutes": "0,5"}, "minutes"), ({"minutes": []}, "minutes"),
        ({"minutes": (5, 130)}, "minutes"), ({"minutes": (5, 25)}, "minutes"),
        ({"minutes": (5,), "nth": 1}, "nth"), ({"minutes": (5,), "nth": 11}, "nth"),
        ({"minutes": (5,), "nth": 2.5}, "nth"),
    ]
    for kwargs, field in bad:
        with pytest.raises(InputError) as err:
            cutoffs_of(res, **kwargs)
        assert err.value.field == field, kwargs
    with pytest.raises(InputError, match="horizon_minutes"):
        coverage_cutoffs(changsha_walk, stations, demand, minutes=(5, 40), horizon_minutes=30)
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"]
    assert cutoff_column("covered_share", 7.5, 2) == "covered_share_2nd_7.5min"


def test_threshold_checks_one_wording() -> None:
    from geo.checks import check_minutes, check_minutes_spec, check_nth

    assert check_minutes_spec("15, 5,10,5") == (5.0, 10.0, 15.0)
    assert check_minutes_spec(["5,10", 15]) == (5.0, 10.0, 15.0)
    assert check_minutes_spec(7.5) == (7.5,)
    with pytest.raises(InputError) as single:
        check_minutes("0", field="--minutes")
    with pytest.raises(InputError) as listed:
        check_minutes_spec("5,0", field="--minutes")
    assert listed.value.message == single.value.message  # the same rule, the same words
    with pytest.raises(InputError, match="at most 3 thresholds"):
        check_minutes_spec("1,2,3,4", max_count=3)
    assert check_nth(2) == 2
    for bad in (1, 11, 2.5, True, "2"):
        with pytest.raises(InputError) as err:
            check_nth(bad)
        assert err.value.field == "nth"
