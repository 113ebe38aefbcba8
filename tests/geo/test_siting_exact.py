"""Exact siting at scale, checked on small random instances against brute force and the plain compact MIP:
presolve (dominated candidates, re-merged columns), independent components combined by dynamic
programming, swap local search, the certificate, and no site that adds nothing."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from geo.siting.exact import combine, mclp_exact, prefix_bounds
from geo.siting.highs import Cover
from geo.siting.local_search import swap_improve
from geo.siting.models import mclp_greedy, mclp_lp, prepare
from geo.siting.presolve import components, presolve


def _value(dense: np.ndarray, w: np.ndarray, subset: tuple[int, ...] | list[int]) -> float:
    return float(w[dense[list(subset)].any(axis=0)].sum()) if len(subset) else 0.0


def _best(
    dense: np.ndarray, w: np.ndarray, p: int, cost: np.ndarray | None = None, budget: float = 0.0
) -> float:
    n = dense.shape[0]
    best = 0.0
    for r in range(0, (p if cost is None else n) + 1):
        for s in itertools.combinations(range(n), r):
            if cost is None or cost[list(s)].sum() <= budget + 1e-9:
                best = max(best, _value(dense, w, s))
    return best


def _blocks(seed: int, n_blocks: int = 3, n_cand: int = 4, n_dem: int = 10, dup: bool = True):
    """Block-diagonal instance (independent towns) with duplicated and subset candidates."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(n_blocks):
        b = rng.random((n_cand, n_dem)) < 0.3
        if dup:
            sub = b[0] & (rng.random(n_dem) < 0.5)  # a subset of candidate 0
            b = np.vstack([b, b[1], sub])
        parts.append(b)
    dense = np.zeros((sum(p.shape[0] for p in parts), n_blocks * n_dem), dtype=bool)
    r = 0
    for i, b in enumerate(parts):
        dense[r : r + b.shape[0], i * n_dem : (i + 1) * n_dem] = b
        r += b.shape[0]
    perm = rng.permutation(dense.shape[0])
    dense = dense[perm]
    w = rng.integers(1, 9, dense.shape[1]).astype(float)
    return dense, w


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("p", [1, 2, 4, 7])
def test_presolved_decomposed_equals_plain_mip_and_brute_force(seed: int, p: int) -> None:
    dense, w = _blocks(seed)
    a = sp.csr_matrix(dense)
    best = _best(dense, w, p)
    fast = mclp_exact(a, w, p=p)
    plain = mclp_exact(a, w, p=p, use_presolve=False, decompose=False)
    assert fast.status == plain.status == "optimal"
    assert fast.objective == pytest.approx(best) and plain.objective == pytest.approx(best)
    assert _value(dense, w, list(fast.selected)) == pytest.approx(best)
    assert fast.bound >= best - 1e-9 and fast.gap == pytest.approx(0, abs=1e-6)
    assert fast.selected.size <= p and np.all(fast.gains > 0)
    assert fast.presolve["dominated"] > 0  # the duplicated and subset rows went
    assert fast.presolve["components"] >= 2


@pytest.mark.parametrize("seed", range(4))
def test_budget_with_dominance_by_cost_equals_brute_force(seed: int) -> None:
    dense, w = _blocks(seed, n_blocks=2)
    rng = np.random.default_rng(seed + 100)
    cost = rng.integers(1, 4, dense.shape[0]).astype(float)
    best = _best(dense, w, 0, cost=cost, budget=5.0)
    sol = mclp_exact(sp.csr_matrix(dense), w, budget=5.0, cost=cost)
    assert sol.objective == pytest.approx(best)
    assert cost[sol.selected].sum() <= 5.0 + 1e-9


def test_presolve_keeps_the_optimum_and_maps_back() -> None:
    dense = np.array(
        [
            [1, 1, 0, 0, 0],
            [1, 1, 0, 0, 0],  # identical to row 0: the later one goes
            [1, 0, 0, 0, 0],  # subset of row 0
            [0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0],  # covers nothing
            [0, 0, 0, 1, 1],
        ],
        dtype=bool,
    )
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    a, w2, c, ar, need = prepare(sp.csr_matrix(dense), w, None, None, None)
    pre = presolve(a, w2, c, ar, need, compare_cost=False)
    assert pre.kept.tolist() == [0, 3, 5]
    assert pre.weights.sum() == pytest.approx(w.sum())
    n, of_cand, _ = components(pre.matrix)
    assert n == 2 and of_cand[1] == of_cand[2] != of_cand[0]
    # protected (an area that still needs a site) keeps everything in that area
    area = np.array([0, 0, 0, 1, 1, 1])
    pre_a = presolve(a, w2, c, area, np.array([2, 0]), compare_cost=False)
    assert {0, 1, 2} <= set(pre_a.kept.tolist()) and 4 not in pre_a.kept.tolist()


def test_combine_equals_enumeration() -> None:
    rng = np.random.default_rng(3)
    curves = [np.concatenate([[0.0], np.cumsum(rng.uniform(0, 5, k))]) for k in (3, 1, 4, 2)]
    for p in range(0, 8):
        total, alloc = combine(curves, p)
        brute = max(
            sum(c[k] for c, k in zip(curves, ks, strict=True))
            for ks in itertools.product(*[range(c.size) for c in curves])
            if sum(ks) <= p
        )
        assert total == pytest.approx(brute)
        assert sum(alloc) <= p and sum(c[k] for c, k in zip(curves, alloc, strict=True)) == pytest.approx(
            brute
        )


@pytest.mark.parametrize("seed", range(4))
def test_prefix_bounds_and_swap_against_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dense = rng.random((9, 30)) < 0.2
    w = rng.uniform(1, 3, 30)
    a, w2, *_ = prepare(sp.csr_matrix(dense), w, None, None, None)
    g = mclp_greedy(a, w2, p=5, lp_bound=False)
    ub = prefix_bounds(a, w2, g.selected, 5)
    for k in range(6):
        assert ub[k] >= _best(dense, w, k) - 1e-9
    start = g.selected[:3]
    better = swap_improve(a, w2, start)
    assert better.size == 3 and len(set(better.tolist())) == 3
    assert _value(dense, w, list(better)) >= _value(dense, w, list(start)) - 1e-9
    # a bad start is repaired by exchanges to at least the greedy value
    worst = np.argsort(dense.sum(axis=1))[:3]
    assert _value(dense, w, list(swap_improve(a, w2, worst))) >= _value(dense, w, list(worst))


@pytest.mark.parametrize("solver", ["exact", "greedy"])
def test_no_site_without_gain(solver: str) -> None:
    """Two candidates already cover everything reachable: asking for 4 gives 2, and says why."""
    dense = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 1, 0]], dtype=bool)
    w = np.array([1.0, 1.0, 1.0, 1.0])
    fn = mclp_exact if solver == "exact" else mclp_greedy
    sol = fn(sp.csr_matrix(dense), w, p=4)
    assert sol.selected.size == 2 and np.all(sol.gains > 0)
    assert sol.objective == pytest.approx(4.0)
    assert "only 2 of the 4 sites" in sol.stop_reason
    if solver == "exact":
        assert sol.status == "optimal" and sol.bound_source == "exhausted"


def test_time_limited_components_give_a_proven_bound() -> None:
    """Many random towns, a tiny time limit: the result is feasible and the bound is a true bound."""
    rng = np.random.default_rng(5)
    blocks = [
        sp.random(30, 200, density=0.05, random_state=int(s), format="csr") for s in rng.integers(0, 99, 6)
    ]
    a = sp.block_diag(blocks, format="csr")
    a.data[:] = 1
    w = rng.uniform(1, 2, a.shape[1])
    quick = mclp_exact(a, w, p=12, time_limit_seconds=0.2)
    full = mclp_exact(a, w, p=12, time_limit_seconds=60)
    assert full.status == "optimal"
    assert quick.objective <= full.objective + 1e-9 <= quick.bound + 2e-9
    assert quick.selected.size <= 12
    plain = mclp_exact(a, w, p=12, use_presolve=False, decompose=False, time_limit_seconds=60)
    assert plain.objective == pytest.approx(full.objective)


@pytest.mark.parametrize("seed", range(6))
def test_reduced_cost_fixing_never_removes_a_better_selection(seed: int) -> None:
    """Every selection of p sites covering more than the incumbent uses only kept candidates."""
    rng = np.random.default_rng(seed)
    dense = rng.random((10, 25)) < 0.25
    w = rng.uniform(1, 3, 25)
    a, w2, c, ar, need = prepare(sp.csr_matrix(dense), w, None, None, None)
    p = 3
    incumbent = mclp_greedy(a, w2, p=p, lp_bound=False)
    lp = mclp_lp(Cover(a, w2, c, ar, need, p, None))
    keep = lp.keep(incumbent.objective, incumbent.selected)
    assert keep[incumbent.selected].all()
    for s in itertools.combinations(range(10), p):
        if _value(dense, w, s) > incumbent.objective + 1e-6:
            assert keep[list(s)].all()
    assert lp.bound >= _best(dense, w, p) - 1e-9
