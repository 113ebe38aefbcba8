"""geo.capacity on real Shanghai and Changsha streets: travel pairs against networkx on a graph where
every point really splits its edge, 2SFCA against a plain-Python double loop over those networkx
times, and station capacity against pandas (visit log from a file and from PostGIS)."""

from __future__ import annotations

import datetime as dt
import math
import random
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy.orm import Session

from geo.capacity import (
    CapacityRule,
    daily_visit_statistic,
    station_capacity,
    travel_pairs,
    two_step_fca,
    visits_from_db,
    visits_from_file,
)
from geo.config import data_dir
from geo.coverage import OUTSIDE_AREAS, compute_coverage
from geo.db import repository as repo
from geo.errors import InputError
from geo.network import Network
from geo.ops.codes import station_code
from geo.ops.visits import import_visits
from tests.geo._split import split_graph

E = math.exp(-0.5)


def _stations(lon: np.ndarray, lat: np.ndarray, prefix: str) -> gpd.GeoDataFrame:
    n = len(lon)
    return gpd.GeoDataFrame(
        {"station_id": [f"{prefix}-{i}" for i in range(n)], "kind": "union_station", "status": "open"},
        geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326",
    )


def city_case(place: str, net: Network) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Stations and weighted demand: Shanghai bank and food POIs; Changsha street nodes moved ~10 m.
    Both add random points over the extract and two points far off the network."""
    rng = np.random.default_rng(21)
    minx, miny, maxx, maxy = net.lon.min(), net.lat.min(), net.lon.max(), net.lat.max()
    if place == "shanghai":
        pois = gpd.read_file(data_dir() / "shanghai_maptalks_tilezen" / "shanghai_bund_pois.geojson")
        pois = pois.cx[minx:maxx, miny:maxy]
        banks = pois[pois["kind"] == "bank"]
        stations = _stations(banks.geometry.x.to_numpy(), banks.geometry.y.to_numpy(), "bank")
        food = pois[pois["kind"].isin(["restaurant", "cafe", "fast_food", "convenience", "hotel"])]
        pts = list(food.geometry.values)
    else:
        pick = rng.choice(np.flatnonzero(net.component == 0), size=6, replace=False)
        stations = _stations(net.lon[pick] + 1e-4, net.lat[pick] + 5e-5, "site")
        nodes = rng.choice(net.n_nodes, size=150, replace=False)
        pts = list(gpd.points_from_xy(net.lon[nodes] - 6e-5, net.lat[nodes]))
    pts += list(gpd.points_from_xy(rng.uniform(minx, maxx, 200), rng.uniform(miny, maxy, 200)))
    pts += [shapely.Point(minx - 0.01, miny - 0.01), shapely.Point(maxx + 0.02, maxy)]
    demand = gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(len(pts))],
         "weight": rng.integers(1, 6, len(pts)).astype(float)},
        geometry=pts, crs="EPSG:4326",
    )
    stations["capacity"] = rng.integers(5, 60, len(stations)).astype(float)
    return stations, demand


def networkx_times(
    net: Network, stations: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, minutes: float
) -> dict[tuple[int, int], float]:
    """(point, station) → minutes within the cutoff, by networkx Dijkstra from every station on the
    reversed split graph (worker → station)."""
    sx, sy = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    groups = [("s", sx, sy, net.snap(sx, sy)), ("d", dx, dy, net.snap(dx, dy))]
    rev = split_graph(net.to_networkx(), net, groups, node_key=int).reverse(copy=True)
    mpm = net.meters_per_minute
    out: dict[tuple[int, int], float] = {}
    for j in range(len(stations)):
        if ("s", j) not in rev:
            continue
        dist = nx.single_source_dijkstra_path_length(
            rev, ("s", j), cutoff=minutes * mpm + 1e-6, weight="length"
        )
        for node, meters in dist.items():
            if isinstance(node, tuple) and node[0] == "d":
                out[(node[1], j)] = meters / mpm
    return out


def _loop_2sfca(
    times: dict[tuple[int, int], float], w: list[float], s: list[float], minutes: float, decay: str
) -> tuple[list[float], list[float]]:
    """The plain double loop of Luo & Wang's two steps."""
    def f(t: float) -> float:
        if t > minutes:
            return 0.0
        return 1.0 if decay == "none" else (math.exp(-0.5 * (t / minutes) ** 2) - E) / (1 - E)

    ratio = []
    for j in range(len(s)):
        d = 0.0
        for k in range(len(w)):
            if (k, j) in times:
                d += w[k] * f(times[(k, j)])
        ratio.append(s[j] / d if d > 0 else 0.0)
    access = []
    for i in range(len(w)):
        a = 0.0
        for j in range(len(s)):
            if (i, j) in times:
                a += ratio[j] * f(times[(i, j)])
        access.append(a)
    return access, ratio


PLACES = [("shanghai", "shanghai_walk", 10.0), ("changsha", "changsha_walk", 4.0)]


@pytest.mark.parametrize(("place", "fixture", "minutes"), PLACES)
def test_pairs_and_2sfca_equal_networkx_and_a_double_loop(
    request: pytest.FixtureRequest, place: str, fixture: str, minutes: float
) -> None:
    net: Network = request.getfixturevalue(fixture)
    stations, demand = city_case(place, net)
    ref = networkx_times(net, stations, demand, minutes)
    ref = {k: t for k, t in ref.items() if t <= minutes}
    pairs = travel_pairs(net, demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy(),
                         stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy(), minutes=minutes)
    got = {(int(i), int(j)): float(t)
           for i, j, t in zip(pairs.point, pairs.station, pairs.minutes, strict=True)}
    near_edge = {k for k, t in ref.items() if abs(t - minutes) < 1e-7}  # float ties at the cutoff
    assert set(got) - near_edge == set(ref) - near_edge
    assert len(ref) > 3 * len(stations)  # real overlap: points reach several stations
    for k, t in ref.items():
        if k in got:
            assert got[k] == pytest.approx(t, abs=1e-6)
    assert not pairs.point_snapped[-2:].any()

    w = demand["weight"].tolist()
    s = stations["capacity"].tolist()
    for decay in ("none", "gaussian"):
        res = two_step_fca(net, stations, demand, minutes=minutes, decay=decay, capacity="capacity")
        access, ratio = _loop_2sfca(ref, w, s, minutes, decay)
        np.testing.assert_allclose(res.points["access"], access, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.stations["ratio"], ratio, rtol=1e-9, atol=1e-12)
        # capacity is shared out, never created: Σ w A = Σ S over stations with demand in reach
        used = res.stations["demand_in_reach"].to_numpy() > 0
        assert float(np.dot(w, access)) == pytest.approx(float(np.sum(np.array(s)[used])))
        assert res.summary["access_mean"] == pytest.approx(np.dot(w, access) / sum(w))
        assert res.points["access"].iloc[-2:].tolist() == [0.0, 0.0]
        assert not res.points["snapped"].iloc[-2:].any()


@pytest.mark.parametrize(("place", "fixture", "minutes"), PLACES)
def test_nearest_minutes_equal_coverage_and_areas_equal_pandas(
    request: pytest.FixtureRequest, place: str, fixture: str, minutes: float
) -> None:
    net: Network = request.getfixturevalue(fixture)
    stations, demand = city_case(place, net)
    cov = compute_coverage(net, stations, demand, minutes=minutes, horizon_minutes=minutes)
    midx = float(np.median(net.lon))
    box = (float(net.lon.min()), float(net.lat.min()), float(net.lon.max()), float(net.lat.max()))
    areas = gpd.GeoDataFrame(
        {"area_code": ["W", "E"], "area_name": ["西", "东"]},
        geometry=[shapely.box(box[0], box[1], midx, box[3]), shapely.box(midx, box[1], box[2], box[3])],
        crs="EPSG:4326",
    )
    res = two_step_fca(net, stations, demand, minutes=minutes, capacity="capacity", areas=areas)
    np.testing.assert_allclose(res.points["nearest_minutes"], cov.demand["minutes"], atol=1e-9,
                               equal_nan=True)
    frame = pd.DataFrame({"a": res.points["access"], "w": demand["weight"],
                          "code": res.points["area_code"].fillna(OUTSIDE_AREAS)})
    for row in res.by_area.itertuples():
        g = frame[frame["code"] == row.area_code]
        assert row.demand_count == len(g)
        if len(g):
            assert row.access_mean == pytest.approx((g["a"] * g["w"]).sum() / g["w"].sum())
            assert row.access_min == pytest.approx(g["a"].min())
    assert res.by_area["demand_total"].sum() == pytest.approx(demand["weight"].sum())
    assert res.by_area["capacity_per_day"].sum() == pytest.approx(stations["capacity"].sum())


def test_station_capacity_order_and_bad_values(changsha_walk: Network) -> None:
    st = _stations(np.full(4, 112.945), np.full(4, 28.185), "s")
    st["seats"] = pd.array([10, None, 4, None], dtype="Int64")
    st["capacity"] = [None, 50.0, 30.0, None]
    st["kind"] = ["union_station", "union_station", "union_station", "gig_station"]
    rule = CapacityRule(quantile=0.9, visits_per_seat_per_day=24.0, default_per_day=12.8,
                        per_kind={"gig_station": 40.0})
    out = station_capacity(st, rule=rule)
    assert out["capacity_per_day"].tolist() == [240.0, 50.0, 30.0, 40.0]
    assert out["capacity_source"].tolist() == ["seats", "column", "column", "default"]
    assert "capacity_per_day" not in st.columns  # input never mutated
    only_default = station_capacity(st, order=("default",))
    assert only_default["capacity_per_day"].tolist() == [12.8, 12.8, 12.8, 12.8]  # data/capacity.toml
    st.loc[1, "capacity"] = -3
    with pytest.raises(InputError, match="capacity must be a number ≥ 0 in every row; row 1"):
        station_capacity(st)
    with pytest.raises(InputError, match="order"):
        station_capacity(st, order=("guess",))
    with pytest.raises(InputError, match="decay must be one of gaussian, none"):
        two_step_fca(changsha_walk, st.iloc[:1], st.iloc[:1], decay="linear")


def _visit_log(path: Path, refs: dict[str, str], start: dt.date, days: int) -> pd.DataFrame:
    """A visit file with Chinese headers; some times carry a UTC offset (the Shanghai day differs)."""
    rng = random.Random(5)
    rows = []
    for ref, n in refs.items():
        busy = {"A": 60, "B": 15, "C": 2}[n]
        for _ in range(busy):
            day = start + dt.timedelta(days=rng.randint(0, days - 1))
            when = dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)))
            cell = ((when - dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:00+00:00") if rng.random() < 0.3
                    else when.strftime("%Y/%m/%d %H:%M"))
            rows.append({"站点编号": ref, "到访时间": cell})
    frame = pd.DataFrame(rows)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return frame


def _pandas_busy_day(path: Path, q: float) -> dict[str, float]:
    f = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    stamps = [pd.Timestamp(v.replace("/", "-")) for v in f["到访时间"]]
    f["day"] = [(s.tz_localize("Asia/Shanghai") if s.tzinfo is None else s.tz_convert("Asia/Shanghai")).date()
                for s in stamps]
    days = pd.date_range(min(f["day"]), max(f["day"])).date
    return {ref: float(g.groupby("day").size().reindex(days, fill_value=0).quantile(q))
            for ref, g in f.groupby("站点编号")}


def test_visit_log_busy_day_from_file_and_store(tmp_path: Path, db_session: Session) -> None:
    spots = {"CS1": (112.9440, 28.1840), "CS2": (112.9460, 28.1850), "SH1": (121.4870, 31.2400)}
    ids = {ext: int(repo.create_station(db_session, {"external_id": ext, "name": f"驿站{ext}",
                                                      "kind": "union_station", "lon": lon, "lat": lat},
                                         actor="test")["station_id"]) for ext, (lon, lat) in spots.items()}
    path = tmp_path / "visits.csv"
    _visit_log(path, {"CS1": "A", station_code(ids["CS2"]): "B", "SH1": "C"}, dt.date(2026, 9, 1), 30)
    want = _pandas_busy_day(path, 0.9)
    # file stations: ids are the external ids (a code S<id> names a registry id)
    from_file = daily_visit_statistic(visits_from_file(path))
    assert from_file["CS1"] == pytest.approx(want["CS1"])
    assert from_file[str(ids["CS2"])] == pytest.approx(want[station_code(ids["CS2"])])
    # the store: import, read back, capacities of the registry's stations
    assert import_visits(db_session, path).imported == len(pd.read_csv(path))
    stored = repo.stations_frame(db_session)
    out = station_capacity(stored, visits=visits_from_db(db_session))
    by_ext = dict(zip(out["external_id"], zip(out["capacity_per_day"], out["capacity_source"], strict=True),
                      strict=True))
    assert by_ext["CS1"] == (pytest.approx(want["CS1"]), "visits")
    assert by_ext["CS2"] == (pytest.approx(want[station_code(ids["CS2"])]), "visits")
    assert want["SH1"] == 0.0 and by_ext["SH1"] == (12.8, "default")  # busy day of 0: no figure
    with pytest.raises(InputError, match="visits lack column"):
        daily_visit_statistic(pd.DataFrame({"station_id": [1]}))


def test_checks_for_capacity_arguments() -> None:
    from geo.checks import check_capacities, check_choice

    assert check_choice(" Gaussian ", field="decay", choices=("gaussian", "none")) == "gaussian"
    with pytest.raises(InputError, match="--decay must be one of gaussian, none, got 'x'") as err:
        check_choice("x", field="--decay", choices=("gaussian", "none"))
    assert err.value.field == "--decay"
    assert check_capacities([1, "2.5", 0]).tolist() == [1.0, 2.5, 0.0]
    for bad, shown in ((["1", "abc"], "'abc'"), ([1, math.inf], "inf"), ([1, -2], "-2"), ([None], "None")):
        wording = f"capacity must be a number ≥ 0 in every row; row \\d has {shown}"
        with pytest.raises(InputError, match=wording):
            check_capacities(bad)
    with pytest.raises(InputError, match="row 7 has -1"):  # a Series names its index label
        check_capacities(pd.Series([3.0, -1.0], index=[4, 7]))
