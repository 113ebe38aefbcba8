"""geo.region: per-county coverage on Dask equals one pass over the merged network.

The region is tiled at test time from the real Shanghai (Jing'an/Huangpu) walk network: 3 × 3 copies
(22,086 nodes, so the merged pass runs on the contracted junction graph while the county networks,
under 20,000 nodes, run on the full graph), cut into per-county networks with the halo rule and
written in the ``yizhan network build-areas`` format. Stations stand in two counties only.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.coverage import compute_coverage
from geo.errors import InputError, NotFoundError
from geo.network import Network, read_network_npz, save_network
from geo.region import (
    buffer_meters,
    clip_to_area,
    read_manifest,
    read_points,
    read_region_result,
    region_coverage,
    required_halo_meters,
    synthetic_inputs,
    tile_region,
    write_region_networks,
    write_region_result,
)
from geo.region.manifest import MANIFEST_FIELDS
from tests.geo._split import split_graph, to_nearest_station

HORIZON = 20.0
MINUTES = 10.0


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def region(shanghai_walk: Network, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    merged, areas = tile_region(shanghai_walk, 3, 3, seed=3)
    halo = required_halo_meters(merged.speed_kph, HORIZON, 300.0)
    nets = write_region_networks(merged, areas, tmp_path_factory.mktemp("nets"), halo_meters=halo)
    stations, demand = synthetic_inputs(
        merged, areas, station_areas=[0, 4], stations_per_area=6, points=2500, outside_points=4, seed=7
    )
    return {
        "merged": merged,
        "areas": areas,
        "nets": nets,
        "stations": stations,
        "demand": demand,
        "halo": halo,
    }


@pytest.fixture(scope="module")
def region_result(region: dict[str, Any], dask_client: Any) -> Any:
    return region_coverage(
        region["nets"],
        region["stations"],
        region["demand"],
        minutes=MINUTES,
        horizon_minutes=HORIZON,
        scheduler=dask_client,
    )


def _same_points(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Identical results: same ids, areas, stations, weights; minutes bit-identical."""
    assert a["id"].tolist() == b["id"].tolist()
    assert a["area_code"].tolist() == b["area_code"].tolist()
    assert a["station_id"].tolist() == b["station_id"].tolist()
    assert np.array_equal(
        a["minutes"].to_numpy(dtype=float), b["minutes"].to_numpy(dtype=float), equal_nan=True
    )
    assert np.array_equal(a["weight"].to_numpy(dtype=float), b["weight"].to_numpy(dtype=float))


# ------------------------------------------------------------------------------------------ halo clip
def test_clip_to_area_keeps_arcs_with_both_ends_inside_the_halo(region: dict[str, Any]) -> None:
    merged, areas, halo = region["merged"], region["areas"], region["halo"]
    poly = areas.geometry.iloc[4]
    net = clip_to_area(merged, poly, halo_meters=halo, code="x")
    grown = buffer_meters(poly, halo)
    inside = shapely.contains_xy(grown, merged.lon, merged.lat) | shapely.intersects_xy(
        grown, merged.lon, merged.lat
    )
    keep = inside[merged.tails] & inside[merged.indices]
    assert net.n_arcs == int(keep.sum())
    assert set(net.node_id.tolist()) == set(
        merged.node_id[np.unique(np.r_[merged.tails[keep], merged.indices[keep]])].tolist()
    )
    # the buffer holds every node within the halo in great-circle metres (checked on the polygon's corners)
    from geo._graph import haversine_m

    corners = np.asarray(poly.exterior.coords)
    d = np.min([haversine_m(cx, cy, merged.lon, merged.lat) for cx, cy in corners], axis=0)
    near = d <= halo
    assert np.all(inside[near])
    assert net.options["area_code"] == "x" and net.options["halo_m"] == halo
    assert shapely.from_wkt(net.options["area_polygon_wkt"]).equals(poly)


def test_manifest_has_the_build_areas_fields(region: dict[str, Any]) -> None:
    doc = json.loads((region["nets"] / "manifest.json").read_text())
    assert len(doc["areas"]) == 9
    for entry in doc["areas"]:
        assert set(entry) == set(MANIFEST_FIELDS)
        assert isinstance(entry["code"], str) and len(entry["code"]) == 6
        net = read_network_npz(region["nets"] / entry["file"])
        assert (net.n_nodes, net.n_arcs) == (entry["nodes"], entry["arcs"])
    assert [e.code for e in read_manifest(region["nets"]).for_mode("walk")] == region["areas"][
        "area_code"
    ].tolist()


# ------------------------------------------------------------------------------------------ exactness
def test_region_equals_one_pass_over_the_merged_network(region: dict[str, Any], region_result: Any) -> None:
    ref = compute_coverage(
        region["merged"], region["stations"], region["demand"], minutes=MINUTES, horizon_minutes=HORIZON
    )
    got = region_result.points
    a = got["minutes"].to_numpy(dtype=float)
    b = ref.demand["minutes"].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    fin = np.isfinite(a)
    assert fin.sum() > 400
    # float tolerance, not bit equality: the merged pass runs on the contracted junction graph, whose
    # chain arcs are pre-summed lengths, the county passes on the full graph (same paths, another order);
    # and edge snapping projects each point in a local metric frame about its own network's centre, so a
    # county network and the merged one place the projection a few millimetres apart (1e-4 min ≈ 7.5 mm
    # on foot)
    assert np.max(np.abs(a[fin] - b[fin])) <= 1e-4
    assert got["station_id"].tolist() == [
        None if s is None else str(s) for s in ref.demand["nearest_station"]
    ]
    # many points are served from another county (stations stand in two counties of nine)
    station_area = dict(
        zip(
            region["stations"]["station_id"],
            region["areas"]["area_code"].to_numpy()[
                shapely.STRtree(region["areas"].geometry.values).query(
                    region["stations"].geometry.values, predicate="within"
                )[1]
            ],
            strict=True,
        )
    )
    served = got[fin]
    other = sum(
        1 for c, s in zip(served["area_code"], served["station_id"], strict=True) if station_area[s] != c
    )
    assert other > 50


def test_region_equals_networkx_on_a_small_region(
    changsha_walk: Network, tmp_path: Path, dask_client: Any
) -> None:
    merged, areas = tile_region(changsha_walk, 2, 2, seed=1)
    horizon = 8.0
    nets = write_region_networks(
        merged, areas, tmp_path / "nets", halo_meters=required_halo_meters(merged.speed_kph, horizon, 300.0)
    )
    stations, demand = synthetic_inputs(
        merged, areas, station_areas=[3], stations_per_area=2, points=300, seed=2
    )
    got = region_coverage(nets, stations, demand, minutes=5.0, horizon_minutes=horizon, scheduler=dask_client)
    # reference: networkx on the merged graph with every station and demand point really splitting its
    # edge (tests/geo/_split.py), worker → nearest station
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    g = split_graph(merged.to_networkx(), merged, [("s", sx, sy, merged.snap(sx, sy)),
                                                   ("d", dx, dy, merged.snap(dx, dy))], node_key=int)
    limit = horizon * merged.meters_per_minute
    dist = to_nearest_station(g, len(stations), limit)
    want = np.array([dist.get(("d", i), np.nan) / merged.meters_per_minute for i in range(len(demand))])
    have = got.points["minutes"].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(have), np.isnan(want))
    assert np.isfinite(want).sum() > 50
    # county passes project points about their own network's centre: millimetres (see above)
    assert np.allclose(have[np.isfinite(want)], want[np.isfinite(want)], rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------------------ outputs
def test_outputs_and_rollups(region: dict[str, Any], region_result: Any, tmp_path: Path) -> None:
    out = write_region_result(region_result, tmp_path / "out")
    pts = read_points(out)
    assert list(pts.columns) == ["id", "area_code", "minutes", "station_id", "weight"]
    assert len(pts) == len(region["demand"])
    table = pd.read_csv(
        out / "areas.csv", dtype={"area_code": str, "prefecture_code": str, "province_code": str}
    )
    assert list(table.columns) == [
        "area_code",
        "name",
        "prefecture_code",
        "province_code",
        "demand",
        "covered",
        "covered_share",
        "p95_minutes",
    ]
    assert table["area_code"].tolist() == region["areas"]["area_code"].tolist()
    assert table.loc[0, "prefecture_code"] == "110100" and table.loc[0, "province_code"] == "110000"
    s = json.loads((out / "summary.json").read_text())
    inside = pts["area_code"].notna()
    # the four points beyond every area are listed, not dropped
    assert s["outside_areas"]["count"] == 4 and sorted(s["outside_areas"]["ids"]) == sorted(
        pts["id"][~inside]
    )
    assert math.isclose(table["demand"].sum(), pts["weight"][inside].sum())
    covered = pts["weight"][inside & (pts["minutes"] <= MINUTES)].sum()
    assert math.isclose(s["covered_share"], covered / pts["weight"][inside].sum())
    for level in ("province", "prefecture", "county"):
        rows = s["rollups"][level]
        assert math.isclose(sum(r["demand"] for r in rows), s["demand"])
        assert math.isclose(sum(r["covered"] for r in rows), s["covered"])
    assert [r["code"] for r in s["rollups"]["prefecture"]] == ["110100", "110200", "110300"]
    areas, summary = read_region_result(out)
    assert isinstance(areas, gpd.GeoDataFrame) and len(areas) == 9 and summary == s
    # rewriting replaces the folder as a whole
    write_region_result(region_result, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_rerun_recomputes_only_changed_counties(
    region: dict[str, Any], region_result: Any, dask_client: Any, tmp_path: Path
) -> None:
    nets = tmp_path / "nets"
    import shutil

    shutil.copytree(region["nets"], nets)
    out = write_region_result(region_result, tmp_path / "out")
    again = region_coverage(
        nets,
        region["stations"],
        region["demand"],
        minutes=MINUTES,
        horizon_minutes=HORIZON,
        scheduler=dask_client,
        previous=out,
    )
    assert again.summary["run"] == {"areas": 9, "tasks_computed": 0, "tasks_reused": 9}
    _same_points(again.points, region_result.points)
    # one county's file changes (same streets, new bytes): only it is recomputed
    code = region["areas"]["area_code"].iloc[5]
    net = read_network_npz(nets / code / "walk.npz")
    save_network(net.with_speed(net.speed_kph), nets / code / "walk.npz")
    net2 = read_network_npz(nets / code / "walk.npz")
    options = dict(net2.options, rebuilt=True)
    from dataclasses import replace

    save_network(replace(net2, options=options), nets / code / "walk.npz")
    third = region_coverage(
        nets,
        region["stations"],
        region["demand"],
        minutes=MINUTES,
        horizon_minutes=HORIZON,
        scheduler=dask_client,
        previous=out,
    )
    assert third.summary["run"] == {"areas": 9, "tasks_computed": 1, "tasks_reused": 8}
    _same_points(third.points, region_result.points)
    # another threshold changes every county's inputs
    fourth = region_coverage(
        nets,
        region["stations"],
        region["demand"],
        minutes=12.0,
        horizon_minutes=HORIZON,
        scheduler=dask_client,
        previous=out,
    )
    assert fourth.summary["run"]["tasks_computed"] == 9


# ------------------------------------------------------------------------------------------ bad input
def test_bad_networks_folders_fail_before_any_task(region: dict[str, Any], tmp_path: Path) -> None:
    unreachable = "tcp://127.0.0.1:9"  # nothing listens: reaching the scheduler would fail differently
    args = (region["stations"], region["demand"])
    with pytest.raises(NotFoundError, match=r"no manifest\.json"):
        region_coverage(tmp_path, *args, scheduler=unreachable)
    import shutil

    nets = tmp_path / "nets"
    shutil.copytree(region["nets"], nets)
    with pytest.raises(InputError, match=r"halo of \d+ m, smaller than the \d+ m that --horizon-minutes 30"):
        region_coverage(nets, *args, horizon_minutes=30.0, scheduler=unreachable)
    code = region["areas"]["area_code"].iloc[2]
    (nets / code / "walk.npz").unlink()
    with pytest.raises(InputError, match=f"1 network file.*missing.*{code}"):
        region_coverage(nets, *args, scheduler=unreachable)
    (nets / "manifest.json").write_text('{"areas": [{"code": "1"}]}')
    with pytest.raises(InputError, match="lacks field"):
        region_coverage(nets, *args, scheduler=unreachable)


def test_default_horizon_is_the_largest_the_halo_allows(region: dict[str, Any], dask_client: Any) -> None:
    small = region["demand"].iloc[:50]
    got = region_coverage(region["nets"], region["stations"], small, minutes=MINUTES, scheduler=dask_client)
    assert got.summary["horizon_minutes"] == HORIZON


# ------------------------------------------------------------------------------------------ Dask faults
def test_a_killed_worker_does_not_change_the_result(region: dict[str, Any], region_result: Any) -> None:
    from distributed import Client, LocalCluster

    killed: list[int] = []
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        Client(cluster) as client,
    ):
        pids = client.run(os.getpid)

        def killer() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = [w for w, tasks in client.processing().items() if tasks]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                    return
                time.sleep(0.005)

        thread = threading.Thread(target=killer)
        thread.start()
        got = region_coverage(
            region["nets"],
            region["stations"],
            region["demand"],
            minutes=MINUTES,
            horizon_minutes=HORIZON,
            scheduler=client,
        )
        thread.join()
    assert killed, "no worker was busy to kill"
    _same_points(got.points, region_result.points)


def test_polygons_from_an_areas_frame_when_the_files_record_none(
    region: dict[str, Any], region_result: Any, dask_client: Any, tmp_path: Path
) -> None:
    import shutil
    from dataclasses import replace

    nets = tmp_path / "nets"
    shutil.copytree(region["nets"], nets)
    for code in region["areas"]["area_code"]:
        net = read_network_npz(nets / code / "walk.npz")
        options = {k: v for k, v in net.options.items() if k != "area_polygon_wkt"}
        save_network(replace(net, options=options), nets / code / "walk.npz")
    args = (nets, region["stations"], region["demand"])
    with pytest.raises(InputError, match="no polygon for 9 area"):
        region_coverage(*args, minutes=MINUTES, horizon_minutes=HORIZON, scheduler="tcp://127.0.0.1:9")
    got = region_coverage(
        *args, minutes=MINUTES, horizon_minutes=HORIZON, areas=region["areas"], scheduler=dask_client
    )
    _same_points(got.points, region_result.points)


def test_neighbouring_counties_as_one_task_give_the_same_minutes(
    region: dict[str, Any], region_result: Any, dask_client: Any
) -> None:
    arcs = max(e.arcs for e in read_manifest(region["nets"]).areas)
    got = region_coverage(
        region["nets"],
        region["stations"],
        region["demand"],
        minutes=MINUTES,
        horizon_minutes=HORIZON,
        scheduler=dask_client,
        task_arcs=3 * arcs,
    )
    assert 2 <= got.summary["run"]["tasks_computed"] < 9
    a = got.points["minutes"].to_numpy(dtype=float)
    b = region_result.points["minutes"].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(a), np.isnan(b))
    assert np.max(np.abs(a[np.isfinite(a)] - b[np.isfinite(b)])) <= 1e-4  # per-network projection frames
    assert got.points["station_id"].tolist() == region_result.points["station_id"].tolist()
    assert got.summary["rollups"] == region_result.summary["rollups"] or all(
        r1["covered"] == pytest.approx(r2["covered"])
        for r1, r2 in zip(
            got.summary["rollups"]["county"], region_result.summary["rollups"]["county"], strict=True
        )
    )
