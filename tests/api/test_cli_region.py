"""``yizhan region coverage`` and ``yizhan map region`` in-process, on a synthetic region tiled at test
time from the real Changsha walk network (3 × 3 counties), through a LocalCluster and through a real
``dask scheduler`` with two ``dask worker`` processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from api.cli import app
from geo.config import data_dir
from geo.network import load_network
from geo.region import required_halo_meters, synthetic_inputs, tile_region, write_region_networks

runner = CliRunner()
CHANGSHA_BOUNDS = (112.94196, 28.18252, 112.94899, 28.18780)
HORIZON = 8.0


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("region-cli")
    base = load_network(
        data_dir() / "changsha_osm_planner" / "changsha_yuelu_taozihu_map.osm",
        mode="walk",
        clip=CHANGSHA_BOUNDS,
        cache_dir=tmp / "cache",
    )
    merged, areas = tile_region(base, 3, 3, seed=2)
    nets = write_region_networks(
        merged, areas, tmp / "nets", halo_meters=required_halo_meters(merged.speed_kph, HORIZON, 300.0)
    )
    stations, demand = synthetic_inputs(
        merged, areas, station_areas=[0, 8], stations_per_area=2, points=400, outside_points=2, seed=4
    )
    pd.DataFrame(
        {
            "编号": stations["station_id"],
            "名称": [f"驿站{i}" for i in range(len(stations))],
            "经度": stations.geometry.x.round(7),
            "纬度": stations.geometry.y.round(7),
            "类型": "outdoor_worker_station",
            "状态": "open",
        }
    ).to_csv(tmp / "stations.csv", index=False, encoding="utf-8-sig")
    folder = tmp / "demand"
    folder.mkdir()
    half = len(demand) // 2
    for name, part in (("a.csv", demand.iloc[:half]), ("b.csv", demand.iloc[half:])):
        pd.DataFrame(
            {"id": part["id"], "lon": part.geometry.x, "lat": part.geometry.y, "weight": part["weight"]}
        ).to_csv(folder / name, index=False)
    return {"tmp": tmp, "nets": nets, "stations": tmp / "stations.csv", "demand": folder, "n": len(demand)}


def _args(files: dict[str, Any], out: Path, *extra: str) -> list[str]:
    return [
        "region", "coverage", "--networks", str(files["nets"]), "--stations", str(files["stations"]),
        "--demand", str(files["demand"]), "--mode", "walk", "--minutes", "5",
        "--horizon-minutes", str(HORIZON), "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def local_out(files: dict[str, Any]) -> Path:
    out = files["tmp"] / "out-local"
    res = runner.invoke(app, _args(files, out, "--scheduler", "local:1", "--json"))
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["outside_areas"]["count"] == 2
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def external_scheduler() -> Iterator[str]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, torn down after."""
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    ]  # fmt: skip
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_external_scheduler_gives_the_identical_result(
    files: dict[str, Any], local_out: Path, external_scheduler: str
) -> None:
    out = files["tmp"] / "out-tcp"
    res = runner.invoke(app, _args(files, out, "--scheduler", external_scheduler, "--json"))
    assert res.exit_code == 0, res.output
    a = pd.read_parquet(local_out / "points.parquet")
    b = pd.read_parquet(out / "points.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert (local_out / "areas.csv").read_text() == (out / "areas.csv").read_text()


def test_outputs_and_text_summary(files: dict[str, Any], local_out: Path, tmp_path: Path) -> None:
    pts = pd.read_parquet(local_out / "points.parquet")
    assert list(pts.columns) == ["id", "area_code", "minutes", "station_id", "weight"]
    assert len(pts) == files["n"] and str(pts["id"].dtype) in ("string", "str")
    assert pts["minutes"].notna().sum() > 20
    summary = json.loads((local_out / "summary.json").read_text())
    assert set(summary["rollups"]) == {"province", "prefecture", "county"}
    # a rerun into the same folder reuses every county
    res = runner.invoke(app, _args(files, local_out, "--scheduler", "local:1"))
    assert res.exit_code == 0, res.output
    assert "(0 computed, 9 reused)" in res.stdout
    assert "2 demand point(s) lie outside every area" in res.stdout
    pd.testing.assert_frame_equal(pts, pd.read_parquet(local_out / "points.parquet"))


@pytest.mark.parametrize(
    ("change", "code", "needle"),
    [
        ("no-manifest", 3, "has no manifest.json"),
        ("halo", 2, "smaller than the"),
        ("horizon", 2, "--horizon-minutes must be a number of minutes in [5, 1440] (at least the threshold)"),
    ],
)
def test_errors_are_one_line_before_any_task(
    files: dict[str, Any], tmp_path: Path, change: str, code: int, needle: str
) -> None:
    args = _args(files, tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    if change == "no-manifest":
        args[args.index("--networks") + 1] = str(tmp_path)
    elif change == "halo":
        args[args.index("--horizon-minutes") + 1] = "30"
    else:
        args[args.index("--horizon-minutes") + 1] = "1"
    res = runner.invoke(app, args)
    assert res.exit_code == code, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


def test_map_region_draws_the_counties(local_out: Path, tmp_path: Path) -> None:
    html = tmp_path / "region.html"
    res = runner.invoke(
        app,
        ["map", "region", "--result", str(local_out), "--out", str(html), "--tiles", "none",
         "--county-maps", "counties/{code}.html"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = html.read_text(encoding="utf-8")
    assert "全国一张图" in text and 'data-level="province"' in text and 'data-level="prefecture"' in text
    assert "counties/110101.html" in text
    areas = pd.read_csv(local_out / "areas.csv", dtype={"area_code": str})
    for code in areas["area_code"]:
        assert code in text
    res = runner.invoke(app, ["map", "region", "--result", str(tmp_path), "--out", str(html)])
    assert res.exit_code == 3 and "not a region result folder" in res.stderr


def test_maps_region_page_when_the_server_has_a_result(local_out: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    client = TestClient(create_app(Settings(region_result=local_out, load_networks=False)))  # no lifespan
    res = client.get("/maps/region", params={"tiles": "none"})
    assert res.status_code == 200 and "全国一张图" in res.text and "/static/" in res.text
    without = TestClient(create_app(Settings(load_networks=False)))
    res = without.get("/maps/region")
    assert res.status_code == 404 and "YIZHAN_REGION_RESULT" in res.text
    assert client.get("/maps/region", params={"tiles": "bing"}).status_code == 422


def test_region_site_writes_one_proposals_file(files: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "proposals.geojson"
    args = ["region", "site", "--networks", str(files["nets"]), "--stations", str(files["stations"]),
            "--demand", str(files["demand"]), "--minutes", "5", "--add-per-area", "1",
            "--candidates", "network:150", "--scheduler", "local:1", "--out", str(out), "--json"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    doc = json.loads(out.read_text(encoding="utf-8"))
    codes = [f["properties"]["area_code"] for f in doc["features"]]
    assert summary["sites"] == len(codes) == 9 and len(set(codes)) == 9
    assert summary["share_after"] >= summary["share_before"]
    assert len(summary["per_area"]) == 9
    i = args.index("--add-per-area")
    res = runner.invoke(app, args[:i] + args[i + 2 :])
    assert res.exit_code == 2 and "exactly one of --add-per-area or --budget-per-area" in res.stderr


def test_candidate_spacing_is_checked_like_every_number() -> None:
    """``--candidates network[:METERS]`` (shared by map coverage, site and region site): a bad number is
    an InputError naming the option (one line on stderr), never a ValueError traceback."""
    from api.cli.inputs import candidate_spacing
    from geo.errors import InputError

    assert candidate_spacing("network") == 300.0 and candidate_spacing("Network:150") == 150.0
    assert candidate_spacing("pois") is None and candidate_spacing("networks.csv") is None
    for bad in ("network:abc", "network:0", "network:-5"):
        with pytest.raises(InputError, match=r"^--candidates must be a number"):
            candidate_spacing(bad)


def test_gcj02_inputs_are_converted_on_input(files: dict[str, Any], local_out: Path, tmp_path: Path) -> None:
    """CRS policy: the same stations and demand given in GCJ-02 (Amap) with --stations-crs/--demand-crs
    give the run of the WGS-84 files (Changsha; coordinates agree to the ~1e-7° of the round trip)."""
    import numpy as np

    from geo.crs import wgs84_to_gcj02

    stations = pd.read_csv(files["stations"], encoding="utf-8-sig")
    lon, lat = wgs84_to_gcj02(stations["经度"].to_numpy(), stations["纬度"].to_numpy())
    stations = stations.assign(经度=lon, 纬度=lat)
    stations.to_csv(tmp_path / "stations_gcj.csv", index=False, encoding="utf-8-sig")
    folder = tmp_path / "demand_gcj"
    folder.mkdir()
    for part in sorted(files["demand"].iterdir()):
        frame = pd.read_csv(part)
        frame["lon"], frame["lat"] = wgs84_to_gcj02(frame["lon"].to_numpy(), frame["lat"].to_numpy())
        frame.to_csv(folder / part.name, index=False)
    gcj = {**files, "stations": tmp_path / "stations_gcj.csv", "demand": folder}
    res = runner.invoke(app, _args(gcj, tmp_path / "out", "--scheduler", "local:1", "--stations-crs", "gcj02",
                                   "--demand-crs", "gcj02", "--json"))
    assert res.exit_code == 0, res.output
    want = pd.read_parquet(local_out / "points.parquet")
    got = pd.read_parquet(tmp_path / "out" / "points.parquet")
    keys = ["id", "area_code", "station_id"]
    pd.testing.assert_frame_equal(got[keys], want[keys])
    assert np.allclose(got["minutes"].fillna(-1), want["minutes"].fillna(-1), atol=0.05)
    # read as WGS-84, the same numbers put the points ~500 m off, across area borders: another answer
    as_wgs = {**files, "demand": folder}
    wrong = runner.invoke(app, _args(as_wgs, tmp_path / "wrong", "--scheduler", "local:1"))
    assert wrong.exit_code == 0, wrong.output
    off = pd.read_parquet(tmp_path / "wrong" / "points.parquet")
    assert not off["area_code"].equals(want["area_code"])
