"""``--demand visits``: each station's catchment weighted by its observed use, checked by hand on a
small frame, from the store, and through ``yizhan coverage`` on the Shenzhen Nanshan network."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Point, box
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app
from geo.db import repository as repo
from geo.errors import InputError
from geo.ops.demand import StationUse, station_use, weight_demand_by_use
from geo.ops.visits import import_visits

runner = CliRunner()


def _demand(points: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(len(points))], "group": "other", "weight": 2.0, "layer": "t"},
        geometry=[Point(p) for p in points],
        crs="EPSG:4326",
    )


def test_weights_follow_the_nearest_stations_use() -> None:
    use = {
        1: StationUse(113.930, 22.540, 3.0),
        2: StationUse(113.950, 22.540, 1.0),
        3: StationUse(113.940, 22.560, 0.0),
    }
    pts = [(113.931, 22.540), (113.949, 22.541), (113.940, 22.559), (114.300, 22.700)]
    out, info = weight_demand_by_use(_demand(pts), use)
    mean = 4.0 / 3
    # brute force: nearest station by straight line, factor = its rate / mean; far point kept
    expected = []
    for lon, lat in pts:
        d = {
            sid: np.hypot((lon - u.lon) * 111_320 * np.cos(np.radians(22.547)), (lat - u.lat) * 110_574)
            for sid, u in use.items()
        }
        sid = min(d, key=d.__getitem__)
        expected.append(2.0 * use[sid].visits_per_day / mean if d[sid] <= 2000 else 2.0)
    assert out["weight"].tolist() == pytest.approx(expected)
    assert (info.points_reweighted, info.points_kept) == (3, 1)
    assert _demand(pts)["weight"].tolist() == [2.0] * 4  # input untouched
    with pytest.raises(InputError):
        weight_demand_by_use(_demand(pts), {1: StationUse(113.93, 22.54, 0.0)})
    with pytest.raises(InputError):
        weight_demand_by_use(_demand(pts), {})


def _yesterday() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=1)


def test_station_use_from_the_store(db_session: Session, tmp_path: Path) -> None:
    a = repo.create_station(
        db_session, {"name": "忙驿站", "kind": "union_station", "lon": 113.936, "lat": 22.5405}, actor="t"
    )["station_id"]
    b = repo.create_station(
        db_session, {"name": "闲驿站", "kind": "union_station", "lon": 113.953, "lat": 22.544}, actor="t"
    )["station_id"]
    path = tmp_path / "v.csv"
    path.write_text(
        "站点编号,到访时间\n" + "".join(f"S{a},{_yesterday()} 08:{m:02d}\n" for m in range(14)),
        encoding="utf-8",
    )
    import_visits(db_session, path)
    use = station_use(db_session)
    assert use[int(a)].visits_per_day == pytest.approx(14 / 28) and use[int(b)].visits_per_day == 0
    assert (use[int(a)].lon, use[int(a)].lat) == pytest.approx((113.936, 22.5405))


@pytest.fixture()
def ops_store(clean_store: Engine) -> Iterator[Engine]:
    def wipe() -> None:
        with clean_store.begin() as conn:
            conn.execute(text("TRUNCATE visits RESTART IDENTITY"))

    wipe()
    yield clean_store
    wipe()


def test_coverage_cli_with_visits_demand(ops_store: Engine, data_dir: Path, tmp_path: Path) -> None:
    stations = tmp_path / "s.csv"
    stations.write_text(
        "编号,名称,经度,纬度,类型\nA,深大驿站,113.9365,22.5405,工会驿站\n"
        "B,科技园驿站,113.9530,22.5440,工会驿站\n",
        encoding="utf-8",
    )
    assert runner.invoke(app, ["stations", "import", str(stations)]).exit_code == 0
    visits = tmp_path / "v.csv"
    rows = [f"A,{_yesterday()} 09:{m:02d}" for m in range(30)] + [
        f"B,{_yesterday()} 10:{m:02d}" for m in range(10)
    ]
    visits.write_text("站点编号,到访时间\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert runner.invoke(app, ["visits", "import", str(visits)]).exit_code == 0
    base = [
        "coverage",
        "--network",
        str(data_dir / "shenzhen_roadnetworkcreator" / "shenzhen_nanshan_osm.osm"),
        "--clip",
        "113.93,22.535,113.96,22.55",
        "--stations",
        "db",
        "--mode",
        "walk",
        "--minutes",
        "5",
        "--json",
    ]
    plain = runner.invoke(app, [*base, "--demand", "network"])
    weighted = runner.invoke(app, [*base, "--demand", "network", "--demand", "visits"])
    assert plain.exit_code == 0 and weighted.exit_code == 0, weighted.output
    p, w = json.loads(plain.stdout), json.loads(weighted.stdout)
    assert any("observed use" in n for n in w["demand"]["notes"])
    assert w["demand_total"] != pytest.approx(p["demand_total"])
    # brute force: street-length demand of the same clipped network, nearest of A (30 visits) and
    # B (10 visits) by geodesic distance (pyproj), factor 1.5 / 0.5 (mean 20), beyond 2 km unchanged
    from geo.demand import demand_from_network
    from geo.network import load_network

    net = load_network(Path(base[2]), mode="walk", clip=box(113.93, 22.535, 113.96, 22.55))
    demand = demand_from_network(net)
    lon, lat = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()

    def hav(x: float, y: float) -> np.ndarray:  # geodesic metres on the WGS-84 ellipsoid
        return np.asarray(Geod(ellps="WGS84").inv(np.full_like(lon, x), np.full_like(lat, y), lon, lat)[2])

    da, db = hav(113.9365, 22.5405), hav(113.9530, 22.5440)
    factor = np.where(np.minimum(da, db) > 2000, 1.0, np.where(da <= db, 1.5, 0.5))
    assert w["demand_total"] == pytest.approx(float((demand["weight"].to_numpy() * factor).sum()), rel=1e-6)
