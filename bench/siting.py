"""Siting benchmark: yizhan exact (HiGHS) and greedy vs PySAL spopt MCLP (PuLP + CBC), and sparse coverage
sets vs a dense travel-time matrix, timed in one run on the same instances.

Instances
---------
* ``shenzhen``: the real sample — Nanshan walk network (core clip), demand = Nanshan POIs by the demand
  rules + street-length demand every 100 m, existing stations = the bank branches (fixed), candidates =
  the other host POIs + street nodes on a 300 m spacing; walk 15 min.
* ``xian``: the scaled instance — the real Xi'an drive network (8,469 nodes, directed one-way streets) for
  e-bikes, demand = points every 22 m along every street (≈ 61,700 points), candidates = street nodes on a
  450 m spacing (≈ 1,100), every 25th of them an existing station (fixed); e-bike 5 min.

What is compared
----------------
* coverage: :func:`geo.siting.build_coverage_sets` (limited Dijkstra in chunks, sparse at once, columns
  merged) vs the dense route — full Dijkstra from every candidate to every node without a limit, then the
  demand × candidate travel-time matrix, thresholded (snapping included in both).
* models: ``mclp_exact`` (HiGHS, model + solve) and ``mclp_greedy`` vs ``spopt.locate.MCLP.from_cost_matrix``
  + ``solve(PULP_CBC_CMD)`` (model build + solve), objectives checked equal. On the real sample spopt
  gets the full dense demand × site matrix with the existing stations predefined. On the scaled instance
  the full matrix is out of reach for spopt (its model build loops over every demand × site pair in Python:
  ≈ 70 M pairs); spopt gets the *reduced equivalent* instance instead (demand already covered dropped,
  identical demand columns merged — the same optimisation problem, the form yizhan solves), and the time
  spopt would need on the full matrix is estimated from its measured build rate on a 2,000-row slice.

Run: ``.venv/bin/python bench/siting.py`` (about 5 minutes).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
from scipy.sparse.csgraph import dijkstra
from spopt.locate import MCLP

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHENZHEN_CORE, print_table, timed

from geo.config import data_dir
from geo.demand import combine_demand, demand_from_network, demand_from_pois
from geo.network import Network, load_network
from geo.siting import (
    CoverageSets,
    build_coverage_sets,
    candidates_from_network,
    candidates_from_pois,
    mclp_exact,
    mclp_greedy,
)
from geo.snapping import same_edge_meters, same_edge_pairs

warnings.filterwarnings("ignore", category=DeprecationWarning)
log = logging.getLogger("bench.siting")


def dense_cover(
    net: Network, sites: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, minutes: float
) -> tuple[np.ndarray, np.ndarray]:
    """The dense route: full Dijkstra per site (no limit) → demand × site minutes → boolean coverage."""
    # edge snapping: a site is reached from either end of its edge, a point leaves by either end of
    # its own, or they meet along a shared edge
    ds = net.snap(demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy())
    ss = net.snap(sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy())
    s_node, s_m = ss.entries()
    d_node, d_m = ds.exits()
    dist = dijkstra(net.reverse_csr(), directed=True, indices=np.maximum(s_node, 0).ravel())
    to_site = (dist + s_m.reshape(-1, 1)).reshape(len(ss), 2, net.n_nodes).min(axis=1)  # node -> site
    via = [to_site[:, np.maximum(d_node[:, k], 0)].T + d_m[:, k, None] for k in range(2)]
    meters = np.minimum(*[np.where(d_node[:, k, None] >= 0, via[k], np.inf) for k in range(2)])
    i, j = same_edge_pairs(ds, ss)
    np.minimum.at(meters, (i, j), same_edge_meters(ds, i, ss, j))
    per_min = net.speed_kph * 1000.0 / 60.0
    t = meters / per_min
    return t, t <= minutes


def spopt_mclp(
    cost: np.ndarray, weights: np.ndarray, radius: float, p: int, predefined: np.ndarray | None
) -> tuple[float, float]:
    """spopt MCLP from a cost matrix, solved with CBC: (seconds for build + solve, objective)."""
    t0 = time.perf_counter()
    model = MCLP.from_cost_matrix(
        cost, weights, service_radius=radius, p_facilities=p, predefined_facilities_arr=predefined
    )
    model.solve(pulp.PULP_CBC_CMD(msg=False), results=False)
    return time.perf_counter() - t0, float(pulp.value(model.problem.objective))


def spopt_build_rate(cost: np.ndarray, weights: np.ndarray, radius: float, p: int, rows: int) -> float:
    """Seconds per demand row of spopt's model build, measured on the first ``rows`` rows."""
    t0 = time.perf_counter()
    MCLP.from_cost_matrix(cost[:rows], weights[:rows], service_radius=radius, p_facilities=p)
    return (time.perf_counter() - t0) / rows


def run_models(
    name: str,
    cs: CoverageSets,
    p: int,
    spopt_seconds: float,
    spopt_obj: float,
    spopt_note: str,
    rows: list[list[Any]],
) -> None:
    t_exact, ex = timed(lambda: mclp_exact(cs.matrix, cs.weights, p=p, time_limit_seconds=300))
    t_greedy, gr = timed(lambda: mclp_greedy(cs.matrix, cs.weights, p=p), repeat=3)
    gap = 1 - gr.objective / ex.objective if ex.objective > 0 else 0.0
    rows.append(
        [name, p, "yizhan exact (HiGHS)", t_exact, ex.objective, ex.status, spopt_seconds / t_exact, ""]
    )
    rows.append(
        [
            name,
            p,
            "yizhan greedy (CELF)",
            t_greedy,
            gr.objective,
            f"gap {100 * gap:.2f} %",
            spopt_seconds / t_greedy,
            "",
        ]
    )
    rows.append([name, p, "spopt MCLP (PuLP+CBC)", spopt_seconds, spopt_obj, "", 1.0, spopt_note])
    same = abs(ex.objective - spopt_obj) <= 1e-6 * max(1.0, abs(spopt_obj))
    print(
        f"[{name} p={p}] exact objective {ex.objective:.6f} vs spopt {spopt_obj:.6f}: "
        f"{'EQUAL' if same else 'DIFFERENT'}; greedy gap to optimum {100 * gap:.3f} % "
        f"(greedy's own proven bound gap {100 * gr.gap:.2f} %)"
    )


def shenzhen(rows_cov: list[list[Any]], rows_mod: list[list[Any]]) -> None:
    raw = data_dir() / "shenzhen_roadnetworkcreator"
    net = load_network(raw / "shenzhen_nanshan_osm.osm", mode="walk", clip=SHENZHEN_CORE)
    pois = raw / "shenzhen_nanshan_osm_pois.geojson"
    demand = combine_demand(demand_from_pois(pois), demand_from_network(net, meters_per_point=100.0))
    hosts = candidates_from_pois(pois)
    banks = hosts[hosts["host_type"] == "bank"]
    stations = gpd.GeoDataFrame(
        {"station_id": range(len(banks)), "status": "open"},
        geometry=banks.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    cands = gpd.GeoDataFrame(
        pd.concat(
            [hosts.drop(banks.index), candidates_from_network(net, spacing_meters=300.0)], ignore_index=True
        ),
        geometry="geometry",
        crs="EPSG:4326",
    )
    minutes = 15.0
    print(
        f"shenzhen: {net.n_nodes} nodes, {len(demand)} demand points, {len(cands)} candidates, "
        f"{len(stations)} existing stations, walk {minutes:g} min"
    )
    t_sparse, cs = timed(
        lambda: build_coverage_sets(net, cands, demand, minutes=minutes, stations=stations), repeat=3
    )
    sites = gpd.GeoDataFrame(
        pd.concat([stations[["geometry"]], cands[["geometry"]]], ignore_index=True),
        geometry="geometry",
        crs="EPSG:4326",
    )
    t_dense, (cost, _cover) = timed(lambda: dense_cover(net, sites, demand, minutes), repeat=3)
    rows_cov.append(
        ["shenzhen", len(cands) + len(stations), len(demand), cs.pairs, t_sparse, t_dense, t_dense / t_sparse]
    )
    print(f"  coverage sets: {cs.matrix.shape[1]} merged columns from {len(demand)} points")
    weights = demand["weight"].to_numpy(dtype=float)
    predefined = np.zeros(len(sites), dtype=int)
    predefined[: len(stations)] = 1
    for p in (5, 10):
        t_sp, obj = spopt_mclp(
            np.where(np.isfinite(cost), cost, 1e9), weights, minutes, len(stations) + p, predefined
        )
        run_models(
            "shenzhen",
            cs,
            p,
            t_sp,
            obj - cs.covered_before_weight,
            "full dense matrix, stations predefined",
            rows_mod,
        )


def xian(rows_cov: list[list[Any]], rows_mod: list[list[Any]]) -> None:
    net = load_network(data_dir() / "xian_gotrackit" / "xian_gotrackit_drive.graphml", mode="ebike")
    demand = demand_from_network(net, meters_per_point=22.0)
    allc = candidates_from_network(net, spacing_meters=450.0)
    stations = allc.iloc[::25]
    cands = allc.drop(stations.index).reset_index(drop=True)
    minutes = 5.0
    print(
        f"xian: {net.n_nodes} nodes ({'symmetric' if net.symmetric else 'directed'}), {len(demand)} demand "
        f"points, {len(cands)} candidates, {len(stations)} existing stations, e-bike {minutes:g} min"
    )
    t_sparse, cs = timed(
        lambda: build_coverage_sets(net, cands, demand, minutes=minutes, stations=stations), repeat=3
    )
    t_dense, (cost, cover) = timed(lambda: dense_cover(net, cands, demand, minutes), repeat=1)
    rows_cov.append(["xian", len(cands), len(demand), cs.pairs, t_sparse, t_dense, t_dense / t_sparse])
    print(
        f"  coverage sets: {cs.pairs} pairs, {cs.matrix.shape[1]} merged columns from {len(demand)} points; "
        f"dense matrix {cost.nbytes / 1e6:.0f} MB"
    )
    per_row = spopt_build_rate(cost, demand["weight"].to_numpy(dtype=float), minutes, 20, 2000)
    full_est = per_row * len(demand)
    print(f"  dense and sparse coverage agree on every pair: {int(cover.sum()) == cs.pairs}")
    del cost, cover
    reduced = np.where(cs.matrix.T.toarray(), 0.0, 1e9)  # merged columns × candidates: same coverage data
    for p in (20, 50):
        t_sp, obj = spopt_mclp(reduced, cs.weights, 1.0, p, None)
        run_models(
            "xian",
            cs,
            p,
            t_sp,
            obj,
            f"reduced equivalent {reduced.shape[0]}x{reduced.shape[1]}; full matrix build alone "
            f"≈ {full_est:,.0f} s (est.)",
            rows_mod,
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    rows_cov: list[list[Any]] = []
    rows_mod: list[list[Any]] = []
    shenzhen(rows_cov, rows_mod)
    xian(rows_cov, rows_mod)
    print("\ncoverage sets vs dense travel-time matrix (seconds, best of runs; ratio = dense / sparse)")
    print_table(["instance", "sites", "demand", "pairs", "sparse s", "dense s", "ratio"], rows_cov)
    print("\nmodels (seconds; ratio = spopt / this)")
    print_table(["instance", "p", "method", "seconds", "objective", "status", "spopt/this", "note"], rows_mod)
    print(f"\ntotal bench time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
