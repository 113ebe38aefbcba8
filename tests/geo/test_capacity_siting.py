"""Capacitated MCLP (geo.siting.capacitated) against brute force: every subset of candidates, each
assignment solved as a maximum flow by networkx, on random instances and on real Shanghai and Changsha
streets (reach from networkx Dijkstra on the split graph); and equal to plain MCLP when capacities are
huge."""

from __future__ import annotations

import itertools

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from geo.errors import InputError
from geo.network import Network
from geo.siting import plan_sites
from geo.siting.capacitated import assignment_lp, capacitated_mclp, plan_capacitated
from tests.geo.test_capacity import city_case, networkx_times


def max_flow(reach: np.ndarray, capacity: np.ndarray, weight: np.ndarray) -> float:
    """source → demand i (w_i) → facility j within reach → sink (C_j): networkx maximum flow."""
    g = nx.DiGraph()
    g.add_node("s")
    g.add_node("t")
    for i, wi in enumerate(weight):
        g.add_edge("s", ("d", i), capacity=float(wi))
    for j, row in enumerate(np.atleast_2d(reach)):
        g.add_edge(("f", j), "t", capacity=float(capacity[j]))
        for i in np.flatnonzero(row):
            g.add_edge(("d", i), ("f", j))
    return float(nx.maximum_flow_value(g, "s", "t"))


def brute_force(a: np.ndarray, b: np.ndarray, w: np.ndarray, ce: np.ndarray, cc: np.ndarray, p: int) -> float:
    """The best served weight over every set of at most p candidates (more sites never serve less)."""
    k = min(p, b.shape[0])
    best = 0.0
    for pick in itertools.combinations(range(b.shape[0]), k):
        sel = list(pick)
        best = max(best, max_flow(np.vstack([a, b[sel]]), np.concatenate([ce, cc[sel]]), w))
    return best


def test_random_instances_equal_brute_force() -> None:
    rng = np.random.default_rng(7)
    for trial in range(40):
        n_e, n_c, n = int(rng.integers(0, 3)), int(rng.integers(2, 7)), int(rng.integers(3, 14))
        a = rng.random((n_e, n)) < 0.3
        b = rng.random((n_c, n)) < 0.35
        w = rng.integers(0, 9, n).astype(float)
        ce, cc = rng.integers(0, 15, n_e).astype(float), rng.integers(0, 15, n_c).astype(float)
        p = int(rng.integers(0, n_c + 1))
        sol = capacitated_mclp(sp.csr_matrix(a), sp.csr_matrix(b), w, station_capacity=ce,
                               candidate_capacity=cc, p=p)
        want = brute_force(a, b, w, ce, cc, p)
        assert sol.served == pytest.approx(want, abs=1e-6), trial
        assert sol.status == "optimal" and sol.selected.size <= p
        assert np.all(sol.station_load <= ce + 1e-7) and np.all(sol.candidate_load <= cc + 1e-7)
        assert np.all(sol.column_served <= w + 1e-7)
        # the chosen sites really serve that much (max flow on them alone)
        got = max_flow(np.vstack([a, b[sol.selected]]), np.concatenate([ce, cc[sol.selected]]), w)
        assert got == pytest.approx(want, abs=1e-6)
        assert assignment_lp(sp.csr_matrix(a), w, ce)[0] == pytest.approx(max_flow(a, ce, w), abs=1e-6)
    with pytest.raises(InputError, match="station_capacity must be a number ≥ 0"):
        capacitated_mclp(sp.csr_matrix(np.ones((1, 2))), sp.csr_matrix(np.ones((1, 2))), [1, 1],
                         station_capacity=[-1], candidate_capacity=[1], p=1)


def _candidates(net: Network, k: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pick = rng.choice(np.flatnonzero(net.component == 0), size=k, replace=False)
    return gpd.GeoDataFrame(
        {"candidate_id": [f"c{i}" for i in range(k)], "name": [f"候选 {i}" for i in range(k)],
         "host_type": "street", "cost": 1.0},
        geometry=gpd.points_from_xy(net.lon[pick] + 3e-5, net.lat[pick] - 3e-5), crs="EPSG:4326",
    )


PLACES = [("shanghai", "shanghai_walk", 8.0), ("changsha", "changsha_walk", 3.0)]


@pytest.mark.parametrize(("place", "fixture", "minutes"), PLACES)
def test_real_streets_equal_brute_force_and_plain_mclp(
    request: pytest.FixtureRequest, place: str, fixture: str, minutes: float
) -> None:
    net: Network = request.getfixturevalue(fixture)
    stations, demand = city_case(place, net)
    stations = stations.iloc[:3].reset_index(drop=True)
    stations["capacity_per_day"] = [10.0, 25.0, 40.0]
    cands = _candidates(net, 7, seed=3)
    # reference reach: networkx Dijkstra on the split graph, for stations and candidates
    both = gpd.GeoDataFrame(geometry=[*stations.geometry, *cands.geometry], crs="EPSG:4326")
    times = networkx_times(net, both, demand, minutes)
    reach = np.zeros((len(both), len(demand)), dtype=bool)
    for (i, j), t in times.items():
        reach[j, i] = t <= minutes
    w = demand["weight"].to_numpy()
    a, b = reach[: len(stations)], reach[len(stations) :]
    ce, cc = stations["capacity_per_day"].to_numpy(), np.full(len(cands), 30.0)
    for p in (1, 2, 3):
        res = plan_capacitated(net, stations, demand, cands, add=p, minutes=minutes, capacity_per_site=30.0)
        want = brute_force(a, b, w, ce, cc, p)
        assert res.summary["served_after"] == pytest.approx(want, abs=1e-6)
        assert res.siting.covered_after == pytest.approx(want, abs=1e-6)
        assert res.summary["served_before"] == pytest.approx(max_flow(a, ce, w), abs=1e-6)
        assert res.demand["served_after"].sum() == pytest.approx(want, abs=1e-6)
        # demand is served only within the cutoff of an open station or site, never beyond its weight
        served = res.demand["served_after"].to_numpy()
        assert np.all(served[~res.demand["reached_after"].to_numpy()] == 0)
        assert np.all(served <= w + 1e-7)
        fac = res.facilities
        assert np.all(fac["load"] <= fac["capacity"] + 1e-7)
        assert fac["load"].sum() == pytest.approx(want, abs=1e-6)
        gained = want - res.summary["served_before"]
        assert res.siting.selected["gain"].sum() == pytest.approx(gained, abs=1e-6)
    assert want > res.summary["served_before"] + 1  # the sites matter
    assert res.summary["over_capacity"] > 0  # capacity binds somewhere: not plain coverage

    # huge capacities: the plain MCLP's optimum (plan_sites, HiGHS on its own coverage sets)
    huge = stations.assign(capacity_per_day=1e9)
    for p in (1, 3):
        cap = plan_capacitated(net, huge, demand, cands, add=p, minutes=minutes, capacity_per_site=1e9)
        plain = plan_sites(net, huge, demand, cands, minutes=minutes, add=p)
        assert cap.siting.covered_after == pytest.approx(plain.covered_after, abs=1e-6)
        assert cap.siting.covered_before == pytest.approx(plain.covered_before, abs=1e-6)
        assert cap.summary["over_capacity"] == pytest.approx(0.0, abs=1e-6)


def test_candidate_capacity_column_and_missing_capacity(changsha_walk: Network) -> None:
    stations, demand = city_case("changsha", changsha_walk)
    cands = _candidates(changsha_walk, 4, seed=9)
    with pytest.raises(InputError, match="capacity_per_site"):
        plan_capacitated(changsha_walk, stations, demand, cands, add=1, minutes=3.0)
    cands["capacity"] = [5.0, 0.0, 7.0, 2.0]
    res = plan_capacitated(changsha_walk, None, demand, cands, add=4, minutes=3.0)
    sites = res.facilities[res.facilities["role"] == "site"]
    by_id = dict(zip(cands["candidate_id"], cands["capacity"], strict=True))
    assert all(row.capacity == by_id[row.id] and row.load <= row.capacity + 1e-9
               for row in sites.itertuples())
    assert "c1" not in set(sites["id"])  # a site with capacity 0 serves nobody and is not proposed
