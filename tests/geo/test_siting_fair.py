"""Fairness in exact siting (#21): share floors per area and per worker group and a p95 ceiling per area,
checked against brute force over every k-subset of at most 12 candidates — on random instances (the MIP
layer alone) and on the real Shanghai (Jing'an/Huangpu) and Changsha (Yuelu) walk networks, with grid areas
made here (neither extract has 乡镇/街道 boundaries)."""

from __future__ import annotations

import itertools
import re

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from shapely.geometry import box

from geo.coverage import weighted_quantile
from geo.demand import demand_from_network
from geo.errors import InfeasibleError, InputError
from geo.network import Network
from geo.siting import areas_of_points, build_coverage_sets, candidates_from_network, plan_sites
from geo.siting.coverage_sets import merge_columns
from geo.siting.exact import mclp_exact
from geo.siting.fairness import explain_infeasible, group_quantile, share_rows

# ------------------------------------------------------------------------------------- brute force


def _best(
    reach: np.ndarray,
    w: np.ndarray,
    k: int,
    floors: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    cost: np.ndarray | None = None,
    budget: float | None = None,
) -> float:
    """Best newly covered weight over every subset of at most ``k`` candidates (or within ``budget``) whose
    covered points meet every floor ``(layer reach, group of each point, needed weight per group)``; −1 when
    none does. ``reach`` is candidates × points (points covered before have no entry)."""
    n = reach.shape[0]
    best = -1.0
    sizes = range(n + 1) if budget is not None else range(k + 1)
    for size in sizes:
        for sub in itertools.combinations(range(n), size):
            if budget is not None and cost is not None and cost[list(sub)].sum() > budget + 1e-9:
                continue
            ok = True
            for layer, grp, need in floors:
                hit = layer[list(sub)].any(axis=0)
                got = np.bincount(grp[grp >= 0], weights=(w * hit)[grp >= 0], minlength=need.size)
                ok &= bool(np.all(got >= need - 1e-9))
            if ok:
                best = max(best, float(w[reach[list(sub)].any(axis=0)].sum()))
    return best


def _instance(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n_cand, n_pts = int(rng.integers(6, 13)), 60
    near = rng.random((n_cand, n_pts)) < 0.15
    far = near | (rng.random((n_cand, n_pts)) < 0.3)  # the p95 layer's longer cutoff reaches more
    before_near = rng.random(n_pts) < 0.15
    before_far = before_near | (rng.random(n_pts) < 0.4)
    near[:, before_near] = False
    far[:, before_far] = False
    w = rng.integers(1, 10, n_pts).astype(float)
    area = rng.integers(0, 3, n_pts)
    group = rng.integers(0, 2, n_pts)
    return {"near": near, "far": far, "before_near": before_near, "before_far": before_far, "w": w,
            "area": area, "group": group, "k": int(rng.integers(2, 6)),
            "S": float(rng.choice([0.1, 0.2, 0.3])), "G": float(rng.choice([0.0, 0.2, 0.3])),
            "cost": rng.integers(1, 4, n_cand).astype(float)}  # fmt: skip


def _floor(w: np.ndarray, grp: np.ndarray, before: np.ndarray, share: float) -> np.ndarray:
    total = np.bincount(grp, weights=w)
    return np.maximum(share * total - np.bincount(grp, weights=w * before, minlength=total.size), 0.0)


def _rows(case: dict) -> tuple[tuple, list]:
    """The MIP's share rows and the brute force's floors: area share S at the threshold, p95 (0.95 share)
    at the longer cutoff, group share G at the threshold."""
    w = case["w"]
    specs = [
        (case["near"], case["area"], case["before_near"], case["S"], "min_share_per_area"),
        (case["far"], case["area"], case["before_far"], 0.95, "max_p95_per_area_minutes"),
        (case["near"], case["group"], case["before_near"], case["G"], "min_share_per_group"),
    ]
    rows, floors = [], []
    for layer, grp, before, share, field in specs:
        need = _floor(w, grp, before, share)
        labels = [f"{field[:4]}{g}" for g in range(need.size)]
        rows.append(share_rows(sp.csr_matrix(layer), w, grp, need, labels, field=field))
        floors.append((layer, grp, need))
    return tuple(rows), floors


@pytest.mark.parametrize("seed", range(40))
def test_share_floors_match_brute_force(seed: int) -> None:
    case = _instance(seed)
    rows, floors = _rows(case)
    use = [0, 2] if seed % 2 else [0, 1, 2]  # half the cases without the p95 layer (more are feasible)
    w, near = case["w"], case["near"]
    matrix, weights, _ = merge_columns(sp.csr_matrix(near), w, ~case["before_near"])
    free = _best(near, w, case["k"], [])
    fair = _best(near, w, case["k"], [floors[i] for i in use])
    if fair < 0:
        with pytest.raises(InfeasibleError):
            mclp_exact(matrix, weights, p=case["k"], shares=tuple(rows[i] for i in use))
        return
    sol = mclp_exact(matrix, weights, p=case["k"], shares=tuple(rows[i] for i in use))
    assert sol.status == "optimal"
    assert sol.covered == pytest.approx(fair, abs=1e-9)
    assert all(rows[i].met(sol.selected).all() for i in use)
    unconstrained = mclp_exact(matrix, weights, p=case["k"])
    assert unconstrained.covered == pytest.approx(free, abs=1e-9)
    assert unconstrained.covered - sol.covered == pytest.approx(free - fair, abs=1e-9) and free >= fair


def test_random_instances_exercise_every_case() -> None:
    """The 40 instances above hold feasible cases where fairness costs coverage and infeasible ones."""
    free_fair = []
    for seed in range(40):
        case = _instance(seed)
        _, floors = _rows(case)
        use = [0, 2] if seed % 2 else [0, 1, 2]
        free_fair.append((_best(case["near"], case["w"], case["k"], []),
                          _best(case["near"], case["w"], case["k"], [floors[i] for i in use])))  # fmt: skip
    assert sum(fair < 0 for _, fair in free_fair) >= 3
    assert sum(fair >= 0 and free - fair > 1e-9 for free, fair in free_fair) >= 8


@pytest.mark.parametrize("seed", range(12))
def test_share_floors_within_a_budget_match_brute_force(seed: int) -> None:
    case = _instance(100 + seed)
    rows, floors = _rows(case)
    w, near, cost = case["w"], case["near"], case["cost"]
    budget = float(case["k"]) + 1.5
    matrix, weights, _ = merge_columns(sp.csr_matrix(near), w, ~case["before_near"])
    fair = _best(near, w, 0, [floors[0], floors[2]], cost=cost, budget=budget)
    if fair < 0:
        with pytest.raises(InfeasibleError):
            mclp_exact(matrix, weights, budget=budget, cost=cost, shares=(rows[0], rows[2]))
        return
    sol = mclp_exact(matrix, weights, budget=budget, cost=cost, shares=(rows[0], rows[2]))
    assert sol.covered == pytest.approx(fair, abs=1e-9)
    assert cost[sol.selected].sum() <= budget + 1e-9


def test_infeasible_within_p_names_the_group() -> None:
    """Group 1 is reached only by three candidates covering a third of it each: a floor of 0.9 needs all
    three, so with p = 2 the error names it and the proven least count."""
    reach = np.zeros((5, 9), dtype=bool)
    reach[0, 0:3], reach[1, 3:6], reach[2, 6:9] = True, True, True
    reach[3, 0], reach[4, 1] = True, True
    w = np.ones(9)
    grp = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1])
    grp[0] = 0
    need = _floor(w, grp, np.zeros(9, dtype=bool), 0.9)
    labels = ["东片 (A)", "西片 (B)"]
    rows = share_rows(sp.csr_matrix(reach), w, grp, need, labels, field="min_share_per_area")
    with pytest.raises(InfeasibleError):
        mclp_exact(sp.csr_matrix(reach), w, p=2, shares=(rows,))
    err = explain_infeasible((rows,), np.ones(5), p=2, budget=None)
    assert err.field == "min_share_per_area"
    assert str(err) == ("min_share_per_area cannot be met within 2 stations to add: 西片 (B) alone needs at "
                        "least 3 new stations")  # fmt: skip
    cost = np.array([1.0, 2.0, 2.5, 0.5, 0.5])  # the three sites of 西片 cost 5.5 together
    with pytest.raises(InfeasibleError):
        mclp_exact(sp.csr_matrix(reach), w, budget=5.0, cost=cost, shares=(rows,))
    err = explain_infeasible((rows,), cost, p=None, budget=5.0)
    assert str(err) == ("min_share_per_area cannot be met within the budget 5: 西片 (B) alone needs at least "
                        "5.5 in cost")  # fmt: skip
    assert mclp_exact(sp.csr_matrix(reach), w, budget=5.5, cost=cost, shares=(rows,)).covered == 9.0


def test_group_quantile_is_the_weighted_p95_over_all_weight() -> None:
    rng = np.random.default_rng(3)
    minutes = rng.random(200) * 30
    minutes[rng.random(200) < 0.03] = np.nan  # unreachable: infinitely far
    w = rng.integers(1, 5, 200).astype(float)
    grp = rng.integers(0, 3, 200)
    got = group_quantile(minutes, w, grp, 3)
    for g in range(3):
        sel = grp == g
        t = np.where(np.isnan(minutes[sel]), np.inf, minutes[sel])
        # the smallest listed time t with weight(≤ t) ≥ 0.95 of all the group's weight
        ok = [x for x in np.sort(t) if w[sel][t <= x].sum() >= 0.95 * w[sel].sum() * (1 - 1e-12)]
        assert got[g] == ok[0]
        if np.isfinite(ok[0]) and not np.isnan(minutes[sel]).any():
            assert got[g] == weighted_quantile(minutes[sel], w[sel], 0.95)


# ------------------------------------------------------------------------------------- real cities


def _grid(demand: gpd.GeoDataFrame, nx: int, ny: int, prefix: str) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = demand.total_bounds
    xs, ys = np.linspace(x0 - 1e-4, x1 + 1e-4, nx + 1), np.linspace(y0 - 1e-4, y1 + 1e-4, ny + 1)
    cells = [(i, j) for i in range(nx) for j in range(ny)]
    return gpd.GeoDataFrame(
        {"area_code": [f"{prefix}{i}{j}" for i, j in cells], "area_name": [f"格{i}{j}" for i, j in cells]},
        geometry=[box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i, j in cells],
        crs="EPSG:4326",
    )


def _point_reach(net: Network, cands: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, minutes: float):
    cs = build_coverage_sets(net, cands, demand, minutes=minutes)
    dense = cs.matrix.toarray()
    col = cs.column_of_demand
    reach = np.zeros((len(cands), len(demand)), dtype=bool)
    reach[:, col >= 0] = dense[:, col[col >= 0]]
    return reach, cs


@pytest.fixture(scope="module")
def shanghai(shanghai_walk: Network) -> dict:
    demand = demand_from_network(shanghai_walk, meters_per_point=150.0)
    cands = candidates_from_network(shanghai_walk, spacing_meters=300.0).iloc[::6].head(12)
    return {"net": shanghai_walk, "demand": demand, "cands": cands.reset_index(drop=True),
            "areas": _grid(demand, 2, 2, "SH")}  # fmt: skip


def test_shanghai_min_share_per_area_matches_brute_force(shanghai: dict) -> None:
    net, demand, cands, areas = shanghai["net"], shanghai["demand"], shanghai["cands"], shanghai["areas"]
    s, k, minutes = 0.1, 3, 8.0
    res = plan_sites(net, None, demand, cands, minutes=minutes, add=k, areas=areas, min_share_per_area=s)
    reach, _cs = _point_reach(net, cands, demand, minutes)
    w = demand["weight"].to_numpy()
    area = areas_of_points(demand, areas)
    need = _floor(w[area >= 0], area[area >= 0], np.zeros(int((area >= 0).sum()), dtype=bool), s)
    fair = _best(reach, w, k, [(reach, area, need)])
    free = _best(reach, w, k, [])
    assert res.status == "optimal" and res.objective == pytest.approx(fair)
    assert res.covered_after == pytest.approx(fair)  # nothing covered before: no stations
    pof = res.price_of_fairness
    assert pof["weight"] == pytest.approx(free - fair) and pof["weight"] > 0
    assert pof["share"] == pytest.approx((free - fair) / w.sum())
    assert pof["relative"] == pytest.approx((free - fair) / free)
    assert (res.per_area["share_after"] >= s - 1e-9).all()
    bound = res.per_area[res.per_area["bound"]]
    assert list(res.binding_areas) == bound["area_code"].tolist() and len(bound) >= 1
    assert ((bound["share_unconstrained"] < s) | np.isclose(bound["share_after"], s)).all()
    body = res.as_dict()
    assert body["price_of_fairness"]["weight"] == pytest.approx(free - fair)
    assert [r["area_code"] for r in body["per_area"]] == areas["area_code"].tolist()
    assert body["fairness"] == {"min_share_per_area": s}


def test_shanghai_infeasible_floors_name_the_areas(shanghai: dict) -> None:
    net, demand, cands, areas = shanghai["net"], shanghai["demand"], shanghai["cands"], shanghai["areas"]
    with pytest.raises(InfeasibleError, match=r"min_share_per_area 0.15 cannot be met even with all "
                       r"candidates built: 格01 \(SH01\) reaches at most 0\.1\d\d") as err:  # fmt: skip
        plan_sites(net, None, demand, cands, minutes=5, add=3, areas=areas, min_share_per_area=0.15)
    assert err.value.field == "min_share_per_area"
    with pytest.raises(InfeasibleError, match=re.escape("min_share_per_area cannot be met within 3 stations "
                       "to add: 格01 (SH01) alone needs at least 4 new stations")):  # fmt: skip
        plan_sites(net, None, demand, cands, minutes=8, add=3, areas=areas, min_share_per_area=0.3)
    with pytest.raises(InputError, match="min_share_per_area needs the exact method"):
        plan_sites(net, None, demand, cands, minutes=8, add=3, areas=areas, min_share_per_area=0.1,
                   method="greedy")  # fmt: skip
    with pytest.raises(InputError, match="min_share_per_area must be a share between 0 and 1"):
        plan_sites(net, None, demand, cands, minutes=8, add=3, areas=areas, min_share_per_area=1.2)
    with pytest.raises(InputError, match="max_p95_per_area_minutes needs areas"):
        plan_sites(net, None, demand, cands, minutes=8, add=3, max_p95_per_area_minutes=20)
    with pytest.raises(InputError, match="applies to add or budget"):
        plan_sites(net, None, demand, cands, minutes=8, target_share=0.1, min_share_per_group=0.1)


def test_changsha_p95_ceiling_and_group_floor_match_brute_force(changsha_walk: Network) -> None:
    """Demand on the part of the network the candidates reach at all (so a p95 ceiling can be met); two
    worker groups (west and east of the median longitude); 2 × 2 grid areas."""
    net = changsha_walk
    demand = demand_from_network(net, meters_per_point=60.0)
    cands = candidates_from_network(net, spacing_meters=150.0)
    cands = cands.iloc[:: max(1, len(cands) // 12)].head(12).reset_index(drop=True)
    demand = demand[build_coverage_sets(net, cands, demand, minutes=20).coverable].reset_index(drop=True)
    lon = demand.geometry.x.to_numpy()
    demand["group"] = np.where(lon < np.median(lon), "courier", "sanitation_worker")
    areas = _grid(demand, 2, 2, "CS")
    minutes, ceiling, floor, k = 2.0, 8.0, 0.3, 3
    res = plan_sites(net, None, demand, cands, minutes=minutes, add=k, areas=areas,
                     max_p95_per_area_minutes=ceiling, min_share_per_group=floor)  # fmt: skip
    reach, _ = _point_reach(net, cands, demand, minutes)
    reach_m, _ = _point_reach(net, cands, demand, ceiling)
    w = demand["weight"].to_numpy()
    area = areas_of_points(demand, areas)
    grp = (demand["group"] == "sanitation_worker").to_numpy().astype(np.int64)
    no = np.zeros(len(demand), dtype=bool)
    floors = [(reach_m, area, _floor(w[area >= 0], area[area >= 0], no[area >= 0], 0.95)),
              (reach, grp, _floor(w, grp, no, floor))]  # fmt: skip
    fair, free = _best(reach, w, k, floors), _best(reach, w, k, [])
    assert res.objective == pytest.approx(fair) and res.status == "optimal"
    assert res.price_of_fairness["weight"] == pytest.approx(free - fair)
    assert (res.per_area["p95_after"] <= ceiling + 1e-9).all()  # by the coverage pass, independently
    assert (res.per_group["share_after"] >= floor - 1e-9).all()
    assert set(res.binding_groups) <= {"courier", "sanitation_worker"}
    assert res.binding_areas == () or set(res.binding_areas) <= set(areas["area_code"])
