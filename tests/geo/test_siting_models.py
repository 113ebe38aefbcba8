"""Siting models against brute force over every subset on small seeded instances."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp

from geo.errors import InfeasibleError
from geo.siting.exact import mclp_exact
from geo.siting.models import build_order, mclp_greedy, set_cover_exact, set_cover_greedy


def _instance(seed: int, n_cand: int = 12, n_dem: int = 40, density: float = 0.15):
    rng = np.random.default_rng(seed)
    dense = rng.random((n_cand, n_dem)) < density
    w = rng.integers(1, 20, n_dem).astype(float)
    cost = rng.integers(1, 6, n_cand).astype(float)
    area = rng.integers(0, 3, n_cand)
    return sp.csr_matrix(dense), dense, w, cost, area


def _value(dense: np.ndarray, w: np.ndarray, subset: tuple[int, ...]) -> float:
    if not subset:
        return 0.0
    return float(w[dense[list(subset)].any(axis=0)].sum())


def _area_ok(area: np.ndarray, need: np.ndarray, subset: tuple[int, ...]) -> bool:
    got = np.bincount(area[list(subset)], minlength=need.size) if subset else np.zeros(need.size, int)
    return bool(np.all(got >= need))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 3, 5])
def test_mclp_exact_equals_brute_force(seed: int, p: int) -> None:
    a, dense, w, _, _ = _instance(seed)
    best = max(_value(dense, w, s) for s in itertools.combinations(range(a.shape[0]), p))
    sol = mclp_exact(a, w, p=p, time_limit_seconds=30)
    assert sol.status == "optimal"
    assert sol.selected.size == p
    assert sol.objective == pytest.approx(best)
    assert _value(dense, w, tuple(sol.selected)) == pytest.approx(best)
    assert sol.bound >= best - 1e-6
    # the build order's gains are non-increasing and sum to the objective
    assert np.all(np.diff(sol.gains) <= 1e-9)
    assert sol.gains.sum() == pytest.approx(best)
    g = mclp_greedy(a, w, p=p)
    assert g.selected.size == p
    assert g.objective <= best + 1e-9
    assert g.objective == pytest.approx(_value(dense, w, tuple(g.selected)))
    assert g.objective >= (1 - 1 / math.e) * best - 1e-9
    assert g.bound >= best - 1e-6  # the submodular bound is a true upper bound


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("budget", [4.0, 9.0])
def test_budget_exact_equals_brute_force(seed: int, budget: float) -> None:
    a, dense, w, cost, _ = _instance(seed)
    best = 0.0
    for r in range(a.shape[0] + 1):
        for s in itertools.combinations(range(a.shape[0]), r):
            if cost[list(s)].sum() <= budget:
                best = max(best, _value(dense, w, s))
    sol = mclp_exact(a, w, budget=budget, cost=cost)
    assert sol.objective == pytest.approx(best)
    assert cost[sol.selected].sum() <= budget
    g = mclp_greedy(a, w, budget=budget, cost=cost)
    assert cost[g.selected].sum() <= budget
    assert g.objective <= best + 1e-9
    assert g.bound >= best - 1e-6


@pytest.mark.parametrize("seed", range(6))
def test_per_area_minimum_equals_brute_force(seed: int) -> None:
    a, dense, w, cost, area = _instance(seed)
    need = np.array([1, 2, 1])
    p = 5
    best = max(
        _value(dense, w, s) for s in itertools.combinations(range(a.shape[0]), p) if _area_ok(area, need, s)
    )
    sol = mclp_exact(a, w, p=p, area_of=area, area_need=need)
    assert sol.objective == pytest.approx(best)
    assert _area_ok(area, need, tuple(sol.selected))
    g = mclp_greedy(a, w, p=p, area_of=area, area_need=need)
    assert g.selected.size == p and _area_ok(area, need, tuple(g.selected))
    assert g.objective <= best + 1e-9
    # with a budget as well
    budget = 10.0
    best_b = 0.0
    for r in range(a.shape[0] + 1):
        for s in itertools.combinations(range(a.shape[0]), r):
            if cost[list(s)].sum() <= budget and _area_ok(area, need, s):
                best_b = max(best_b, _value(dense, w, s))
    sol_b = mclp_exact(a, w, budget=budget, cost=cost, area_of=area, area_need=need)
    assert sol_b.objective == pytest.approx(best_b)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("share", [0.5, 0.8, None])
def test_set_cover_equals_brute_force(seed: int, share: float | None) -> None:
    a, dense, w, _, area = _instance(seed)
    reach = float(w[dense.any(axis=0)].sum())
    target = reach if share is None else share * reach
    fewest = next(
        r
        for r in range(a.shape[0] + 1)
        if any(_value(dense, w, s) >= target - 1e-9 for s in itertools.combinations(range(a.shape[0]), r))
    )
    sol = set_cover_exact(a, w, target_weight=None if share is None else target)
    assert sol.objective == fewest and sol.selected.size == fewest
    assert _value(dense, w, tuple(sol.selected)) >= target - 1e-9
    g = set_cover_greedy(a, w, target_weight=None if share is None else target)
    assert g.selected.size >= fewest
    assert _value(dense, w, tuple(g.selected)) >= target - 1e-9
    assert g.bound <= fewest
    # with a per-area minimum
    need = np.array([1, 1, 1])
    fewest_a = next(
        r
        for r in range(a.shape[0] + 1)
        if any(
            _value(dense, w, s) >= target - 1e-9 and _area_ok(area, need, s)
            for s in itertools.combinations(range(a.shape[0]), r)
        )
    )
    sol_a = set_cover_exact(a, w, target_weight=target, area_of=area, area_need=need)
    assert sol_a.objective == fewest_a


def test_build_order_is_greedy_on_the_set() -> None:
    a, dense, w, _, _ = _instance(3)
    order, gains = build_order(a, w, [0, 4, 7, 9])
    assert sorted(order.tolist()) == [0, 4, 7, 9]
    first = max([0, 4, 7, 9], key=lambda j: (_value(dense, w, (j,)), -j))
    assert _value(dense, w, (int(order[0]),)) == _value(dense, w, (first,))
    assert gains.sum() == pytest.approx(_value(dense, w, (0, 4, 7, 9)))


def test_infeasible_messages() -> None:
    a, dense, w, cost, area = _instance(1)
    with pytest.raises(InfeasibleError, match="cannot add 13 stations: only 12 candidates"):
        mclp_exact(a, w, p=13)
    reach = float(w[dense.any(axis=0)].sum())
    with pytest.raises(InfeasibleError, match=r"above the .* that all 12 candidates reach"):
        set_cover_exact(a, w, target_weight=reach + 1)
    have = np.bincount(area, minlength=3)
    need = np.array([have[0] + 1, 0, 0])
    with pytest.raises(InfeasibleError, match=rf"area 0 needs {have[0] + 1} more station\(s\) but has only"):
        mclp_greedy(a, w, p=12, area_of=area, area_need=need)
    with pytest.raises(
        InfeasibleError, match="per-area minimum needs 3 new stations in total, more than the 2"
    ):
        mclp_exact(a, w, p=2, area_of=area, area_need=np.array([1, 1, 1]))
    with pytest.raises(InfeasibleError, match="above the budget"):
        mclp_exact(a, w, budget=0.5, cost=cost, area_of=area, area_need=np.array([1, 1, 1]))


def test_time_limit_reports_incumbent_bound_and_gap() -> None:
    """A hard random instance with a tiny time limit: the greedy warm start is the incumbent, and the
    reported bound (the better of HiGHS's dual bound and greedy's submodular bound) and gap are proven."""
    rng = np.random.default_rng(0)
    a = sp.random(300, 3000, density=0.03, random_state=1, format="csr")
    a.data[:] = 1
    w = rng.uniform(1, 2, 3000)
    sol = mclp_exact(a, w, p=20, time_limit_seconds=0.05)
    greedy = mclp_greedy(a, w, p=20, lp_bound=False)
    assert sol.status == "time_limit"
    assert sol.selected.size == 20
    assert sol.objective >= greedy.objective - 1e-9
    assert sol.bound <= greedy.bound + 1e-9
    assert sol.bound > sol.objective and sol.gap == pytest.approx((sol.bound - sol.objective) / sol.objective)
