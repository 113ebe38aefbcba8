"""Exact maximal covering at county scale: presolve, warm start, decomposition, MIP, certificate.

:func:`mclp_exact` solves the maximal covering models of :mod:`geo.siting.models` (add ``p``, or within a
budget, with an optional per-area minimum) to proven optimality or a proven bound:

1. presolve (:mod:`geo.siting.presolve`): dominated candidates removed, columns re-merged;
2. warm start: lazy greedy (CELF), then swap local search (:mod:`geo.siting.local_search`) for ``p``;
3. a selection covering everything the candidates reach is optimal at once (certificate ``exhausted``);
4. ``add p`` without a per-area minimum on an instance of several independent components (none holding
   90 % of the candidates): each
   component's value curve ``F_c(k)`` (best cover with at most ``k`` sites in it) is bracketed by a lower
   curve (greedy prefixes, improved by MIP solves) and an upper curve (submodular bounds of the greedy
   prefixes, tightened by LP bounds and MIP dual bounds), and a dynamic programme over the components
   combines them: its value on the lower curves is a plan, on the upper curves a proven bound. The points
   the bound's allocation uses are refined one by one (swap and LP bound first, then the MIP) until both
   agree (optimal) or a share of the time runs out; then step 5 continues from the best plan found;
5. otherwise the LP relaxation (interior point, fast where HiGHS's simplex is slow) bounds the warm start,
   which is optimal when within ``mip_rel_gap`` of it; else the compact MIP
   (:func:`geo.siting.models.cover_milp`) on the presolved instance after reduced-cost fixing (candidates
   the LP proves cannot beat the warm start are left out), started from the warm start. The bound is the
   tightest of HiGHS's dual bound, the LP bound and the greedy's submodular bound.

Every result carries ``status`` (``optimal`` / ``time_limit``), ``objective``, ``bound`` (proven upper
bound on the optimum), ``gap`` and ``bound_source``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from geo.siting.highs import Cover, ShareRows
from geo.siting.local_search import swap_improve
from geo.siting.models import (
    LpBound,
    Solution,
    build_order,
    check_model_args,
    cover_milp,
    mclp_greedy,
    mclp_lp,
    prepare,
    relative_gap,
    short_reason,
)
from geo.siting.presolve import Presolved, components, presolve

log = logging.getLogger(__name__)

#: share of the time left that the swap local search, and then the LP bound, may use
SWAP_SHARE = 0.15
LP_SHARE = 0.5

#: share of the time limit the component decomposition may use before the whole MIP takes over; it is
#: used only when the largest component holds less than LARGEST_SHARE of the candidates
COMPONENTS_SHARE = 0.4
LARGEST_SHARE = 0.9


def mclp_exact(
    matrix: sp.spmatrix | sp.sparray,
    weights: NDArray[np.float64] | list[float],
    *,
    p: int | None = None,
    budget: float | None = None,
    cost: NDArray[np.float64] | list[float] | None = None,
    area_of: NDArray[np.int64] | list[int] | None = None,
    area_need: NDArray[np.int64] | list[int] | None = None,
    area_labels: list[str] | None = None,
    time_limit_seconds: float = 60.0,
    mip_rel_gap: float = 1e-9,
    use_presolve: bool = True,
    decompose: bool = True,
    shares: tuple[ShareRows, ...] = (),
) -> Solution:
    """Maximal covering solved exactly (see the module docstring for the method).

    Parameters
    ----------
    matrix, weights, p, budget, cost, area_of, area_need, area_labels
        As :func:`geo.siting.models.mclp_greedy`; exactly one of ``p`` (at most ``p`` new sites: sites
        that add nothing are not proposed) or ``budget``.
    time_limit_seconds : float, default 60
        Wall-time limit of the whole solve (presolve, warm start and MIP).
    mip_rel_gap : float, default 1e-9
        Relative gap at which a solution counts as optimal.
    use_presolve, decompose : bool, default True
        Switch the presolve and the component decomposition off (for comparisons).
    shares : tuple of ShareRows, optional
        Coverage-share (fairness) rows (:class:`geo.siting.highs.ShareRows`): every group must gain its
        ``need`` of newly covered weight within its layer's cutoff. The greedy warm start is used only when
        it meets them; no decomposition; the dominance presolve compares every layer.

    Returns
    -------
    Solution
        ``selected`` in build order, ``status`` ``optimal`` or ``time_limit``, ``bound`` a proven upper
        bound on the newly covered weight, ``gap`` relative, ``bound_source`` and ``presolve`` counts.

    Raises
    ------
    InfeasibleError
        ``p`` exceeds the candidates, the per-area minimum cannot be met, or (HiGHS) no selection meets the
        share rows.
    """
    t0 = time.perf_counter()
    deadline = t0 + float(time_limit_seconds)
    a, w, c, ar, need = prepare(matrix, weights, cost, area_of, area_need)
    check_model_args(a, c, ar, need, p=p, budget=budget, labels=area_labels)
    if use_presolve:
        pre = presolve(a, w, c, ar, need, compare_cost=budget is not None,
                       also=tuple(sp.csr_matrix(s.matrix) for s in shares))  # fmt: skip
    else:
        keep = np.arange(a.shape[0], dtype=np.int64)
        pre = Presolved(a, w, keep, c, ar, {"candidates": a.shape[0], "dominated": 0})
    n_comp, of_cand, _ = components(pre.matrix)
    stats = {**pre.stats, "components": n_comp}
    needy = bool(need.size and np.any(need > 0))
    largest = int(np.bincount(of_cand).max(initial=0)) if of_cand.size else 0
    fair = tuple(s.rows_of(pre.kept) for s in shares if np.any(s.need > 0))
    if (p is not None and not needy and not fair and decompose and n_comp > 1
            and largest < LARGEST_SHARE * of_cand.size):  # fmt: skip
        until = time.perf_counter() + COMPONENTS_SHARE * max(0.0, deadline - time.perf_counter())
        sol = _by_components(pre, of_cand, n_comp, p=p, deadline=until, mip_rel_gap=mip_rel_gap)
        if sol.status != "optimal":  # the whole MIP from the components' plan; both bounds are proven
            whole = _whole(pre, need, p=p, budget=None, labels=area_labels, deadline=deadline,
                           mip_rel_gap=mip_rel_gap, incumbent=sol.selected)  # fmt: skip
            sol = _better(sol, whole, mip_rel_gap)
    else:
        sol = _whole(pre, need, p=p, budget=budget, labels=area_labels, deadline=deadline,
                     mip_rel_gap=mip_rel_gap, shares=fair)  # fmt: skip
    stats.update(sol.presolve)
    return _back_to_original(a, w, ar, need, pre, sol, p=p, stats=stats, seconds=time.perf_counter() - t0,
                             shares=shares)  # fmt: skip


def _better(first: Solution, second: Solution, mip_rel_gap: float) -> Solution:
    """The better plan of two runs on the same instance, with the tighter of their proven bounds."""
    best = first if first.objective >= second.objective else second
    tight = first if first.bound <= second.bound else second
    proven = tight.bound - best.objective <= mip_rel_gap * max(best.objective, 1e-9)
    status = "optimal" if proven or "optimal" in (first.status, second.status) else "time_limit"
    merged = {**first.presolve, **second.presolve}
    return replace(best, bound=tight.bound, bound_source=tight.bound_source, status=status, presolve=merged)


def _back_to_original(
    a: sp.csr_matrix,
    w: NDArray[np.float64],
    ar: NDArray[np.int64],
    need: NDArray[np.int64],
    pre: Presolved,
    sol: Solution,
    *,
    p: int | None,
    stats: dict[str, int],
    seconds: float,
    shares: tuple[ShareRows, ...] = (),
) -> Solution:
    """Map the presolved selection to original rows, order it, drop sites adding nothing (unless an area
    needs them, or the share rows need them) and state the certificate."""
    order, gains = build_order(a, w, pre.kept[sol.selected])
    keep = drop_zero_gain(order, gains, ar, need)
    if not all(bool(s.met(order[keep]).all()) for s in shares):
        keep[:] = True  # a site adding nothing at the cutoff may be what a share at another cutoff needs
    order, gains = order[keep], gains[keep]
    covered = float(gains.sum())
    bound = max(sol.bound, covered)
    return Solution(
        selected=order,
        gains=gains,
        covered=covered,
        objective=covered,
        bound=bound,
        gap=relative_gap(covered, bound),
        status=sol.status,
        seconds=seconds,
        method="exact",
        bound_source=sol.bound_source,
        stop_reason=short_reason(order.size, p),
        presolve=stats,
    )


def drop_zero_gain(
    order: NDArray[np.int64], gains: NDArray[np.float64], area_of: NDArray[np.int64], need: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Bool per site in build order: keep it (it adds coverage, or its area still needs it)."""
    keep = gains > 0.0
    if need.size and np.any(need > 0):
        left = need.copy()
        for t, j in enumerate(order.tolist()):
            area = int(area_of[j])
            if area >= 0 and left[area] > 0:
                left[area] -= 1
                keep[t] = True
    return keep


def _whole(
    pre: Presolved,
    need: NDArray[np.int64],
    *,
    p: int | None,
    budget: float | None,
    labels: list[str] | None,
    deadline: float,
    mip_rel_gap: float,
    incumbent: NDArray[np.int64] | None = None,
    shares: tuple[ShareRows, ...] = (),
) -> Solution:
    """Warm start (greedy + swap, or ``incumbent`` when it covers more), then the LP bound and the compact
    MIP on the whole presolved instance. With ``shares`` the warm start counts only when it meets them
    (the greedy's bound stays valid: the share rows only shrink the feasible set)."""
    a, w = pre.matrix, pre.weights
    p = None if p is None else min(p, a.shape[0])  # "at most p": dominated candidates are gone
    warm = mclp_greedy(a, w, p=p, budget=budget, cost=pre.cost, area_of=pre.area_of, area_need=need,
                       area_labels=labels, lp_bound=False)  # fmt: skip
    start, value = _warm_start(pre, warm.selected, need, p=p, deadline=deadline, incumbent=incumbent)
    feasible = all(bool(s.met(start).all()) for s in shares)
    cover = Cover(a, w, pre.cost, pre.area_of, need, p, budget, shares)
    reach = float(w.sum())
    bound, source = (reach, "exhausted") if value >= reach * (1 - 1e-12) else (warm.bound, warm.bound_source)
    lp = LpBound(math.inf, np.zeros(0))
    if not feasible or bound - value > mip_rel_gap * max(value, 1e-9):
        lp_s = LP_SHARE * max(0.0, deadline - time.perf_counter())
        lp = mclp_lp(cover, time_limit_seconds=lp_s)
        if lp.bound < bound:
            bound, source = lp.bound, "lp"
    if feasible and bound - value <= mip_rel_gap * max(value, 1e-9):
        return replace(warm, selected=start, status="optimal", bound=bound, bound_source=source)
    left = max(0.05, deadline - time.perf_counter())
    if not feasible:  # no incumbent: no reduced-cost fixing either
        start, lp = np.zeros(0, dtype=np.int64), LpBound(math.inf, np.zeros(0))
    mip = reduced_milp(cover, start=start, lp=lp, seconds=left, mip_rel_gap=mip_rel_gap)
    if mip.bound < bound:
        bound, source = mip.bound, "highs"
    status = "optimal" if mip.status == "optimal" else "time_limit"
    return replace(mip, bound=bound, bound_source=source, status=status)


def _warm_start(
    pre: Presolved,
    greedy: NDArray[np.int64],
    need: NDArray[np.int64],
    *,
    p: int | None,
    deadline: float,
    incumbent: NDArray[np.int64] | None,
) -> tuple[NDArray[np.int64], float]:
    """The greedy picks improved by swaps (``p`` sites, no area minimum), or ``incumbent`` when it covers
    more; returns the start and its covered weight."""
    a, w = pre.matrix, pre.weights
    start = greedy
    if p is not None and not (need.size and np.any(need > 0)) and start.size == p:
        limit = SWAP_SHARE * max(0.0, deadline - time.perf_counter())
        start = swap_improve(a, w, start, time_limit_seconds=limit)
    value = float(w[np.unique(a[start].indices)].sum()) if start.size else 0.0
    if incumbent is not None and incumbent.size:
        other = float(w[np.unique(a[incumbent].indices)].sum())
        if other > value:
            start, value = np.sort(incumbent), other
    return start, value


def reduced_milp(
    cover: Cover, *, start: NDArray[np.int64], lp: LpBound, seconds: float, mip_rel_gap: float
) -> Solution:
    """The compact MIP after reduced-cost fixing: candidates that the LP proves cannot be in any selection
    better than ``start`` are left out. The MIP's bound stays a bound of the whole instance (a selection
    using a left-out candidate covers less than ``start``, hence less than the result). ``selected`` in
    rows of ``cover.a``; ``presolve["fixed_by_reduced_cost"]`` counts the candidates left out."""
    a, w = cover.a, cover.w
    n = a.shape[0]
    value = float(w[np.unique(a[start].indices)].sum()) if start.size else 0.0
    keep = lp.keep(value, start)
    rows = np.flatnonzero(keep) if keep.size == n else np.arange(n, dtype=np.int64)
    pos = np.searchsorted(rows, start)
    mip = cover_milp(cover.rows_of(rows), start=pos, time_limit_seconds=seconds, mip_rel_gap=mip_rel_gap)
    log.info("reduced-cost fixing left out %d of %d candidates", n - rows.size, n)
    return replace(mip, selected=rows[mip.selected], presolve={"fixed_by_reduced_cost": int(n - rows.size)})


# ------------------------------------------------------------------------------------------ components


@dataclass
class _Curve:
    """One component's value curve bracket for k = 0..K sites: ``lower[k]`` reached by ``sets[k]``,
    ``upper[k]`` proven; ``stage[k]`` 0 untouched, 1 after swap and LP bound, 2 after the MIP."""

    rows: NDArray[np.int64]
    a: sp.csr_matrix
    w: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    sets: list[NDArray[np.int64]]
    stage: NDArray[np.int64]
    lps: dict[int, LpBound] = field(default_factory=dict)

    def exact(self, k: int, tol: float) -> bool:
        return bool(self.upper[k] - self.lower[k] <= tol * max(self.lower[k], 1e-9))

    def tighten(self) -> None:
        """Make the curves monotone: a set of k-1 sites is feasible for k; F(k) ≤ F(k+1) ≤ upper[k+1]."""
        for k in range(1, self.lower.size):
            if self.lower[k - 1] > self.lower[k]:
                self.lower[k], self.sets[k] = self.lower[k - 1], self.sets[k - 1]
        self.upper = np.minimum.accumulate(self.upper[::-1])[::-1]
        self.upper = np.maximum(self.upper, self.lower)


def prefix_bounds(
    a: sp.csr_matrix, w: NDArray[np.float64], picks: NDArray[np.int64], k_max: int
) -> NDArray[np.float64]:
    """Upper bounds on the best cover with at most k sites, k = 0..k_max: the least over the greedy
    prefixes ``S_i`` of ``f(S_i) +`` the k largest marginal gains w.r.t. ``S_i`` (submodularity)."""
    covered = np.zeros(a.shape[1], dtype=bool)
    best = np.full(k_max + 1, np.inf)
    f = 0.0
    for i in range(picks.size + 1):
        g = np.asarray(a @ np.where(covered, 0.0, w)).ravel()
        top = np.sort(g)[::-1][:k_max]
        cum = np.concatenate([[0.0], np.cumsum(top)])
        cum = np.concatenate([cum, np.full(k_max + 1 - cum.size, cum[-1])])
        best = np.minimum(best, f + cum)
        if i < picks.size:
            idx = a.indices[a.indptr[picks[i]] : a.indptr[picks[i] + 1]]
            f += float(w[idx[~covered[idx]]].sum())
            covered[idx] = True
    return np.minimum(best, float(w.sum()))


def _curve(a: sp.csr_matrix, w: NDArray[np.float64], rows: NDArray[np.int64], k_max: int) -> _Curve:
    """A component's curves from its greedy picks."""
    g = mclp_greedy(a, w, p=k_max, lp_bound=False)
    picks = g.selected
    lower = np.concatenate([[0.0], np.cumsum(g.gains)])
    sets = [picks[:k] for k in range(picks.size + 1)]
    if picks.size < k_max:  # greedy stopped: everything reachable is covered
        lower = np.concatenate([lower, np.full(k_max - picks.size, lower[-1])])
        sets += [picks] * (k_max - picks.size)
    upper = prefix_bounds(a, w, picks, k_max)
    if picks.size < k_max:
        upper[picks.size :] = lower[-1]
    cv = _Curve(rows, a, w, lower, upper, sets, np.zeros(k_max + 1, dtype=np.int64))
    cv.tighten()
    return cv


def combine(values: list[NDArray[np.float64]], p: int) -> tuple[float, list[int]]:
    """Dynamic programme: the best total of ``values[c][k_c]`` with ``Σ k_c ≤ p`` (each curve
    non-decreasing, ``values[c][0]`` the value of no site). Returns the total and the allocation."""
    best = np.zeros(p + 1)
    choice: list[NDArray[np.int64]] = []
    for v in values:
        kk = min(v.size - 1, p)
        cand = np.full((kk + 1, p + 1), -np.inf)
        for k in range(kk + 1):
            cand[k, k:] = best[: p + 1 - k] + v[k]
        arg = np.argmax(cand, axis=0)
        choice.append(arg.astype(np.int64))
        best = cand[arg, np.arange(p + 1)]
    alloc = [0] * len(values)
    s = p
    for c in range(len(values) - 1, -1, -1):
        alloc[c] = int(choice[c][s])
        s -= alloc[c]
    return float(best[p]), alloc


def _bound_point(cv: _Curve, k: int, *, seconds: float) -> None:
    """Cheap refinement of one point: swap local search on the best known set, then the LP bound."""
    n = cv.a.shape[0]
    start = cv.sets[k]
    if start.size == k and k < n:
        start = swap_improve(cv.a, cv.w, start, time_limit_seconds=SWAP_SHARE * seconds)
        value = float(cv.w[np.unique(cv.a[start].indices)].sum())
        if value > cv.lower[k]:
            cv.lower[k], cv.sets[k] = value, start
    lp = mclp_lp(Cover.plain(cv.a, cv.w, p=k), time_limit_seconds=seconds)
    cv.lps[k] = lp
    cv.upper[k] = min(cv.upper[k], lp.bound)
    cv.stage[k] = 1
    cv.tighten()


def _solve_point(cv: _Curve, k: int, *, seconds: float, mip_rel_gap: float) -> None:
    """Solve one component at k sites with the MIP, started from the best known set, and record it."""
    lp = cv.lps.get(k, LpBound(math.inf, np.zeros(0)))
    mip = reduced_milp(Cover.plain(cv.a, cv.w, p=k), start=cv.sets[k], lp=lp, seconds=seconds,
                       mip_rel_gap=mip_rel_gap)  # fmt: skip
    if mip.objective > cv.lower[k]:
        cv.lower[k], cv.sets[k] = mip.objective, mip.selected
    cv.upper[k] = min(cv.upper[k], mip.bound)
    cv.stage[k] = 2
    cv.tighten()


def _by_components(
    pre: Presolved, of_cand: NDArray[np.int64], n_comp: int, *, p: int, deadline: float, mip_rel_gap: float
) -> Solution:
    """Bracket every component's curve, combine by dynamic programming, refine the points the bound uses."""
    tol = max(mip_rel_gap, 1e-12)
    a_csc = pre.matrix.tocsc()
    curves: list[_Curve] = []
    for comp in range(n_comp):
        rows = np.flatnonzero(of_cand == comp)
        if rows.size == 0:
            continue
        sub = pre.matrix[rows]
        cols = np.unique(sub.indices)
        curves.append(_curve(sp.csr_matrix(a_csc[:, cols][rows]), pre.weights[cols], rows, min(p, rows.size)))
    rounds = 0
    while True:
        v_up, alloc_up = combine([cv.upper for cv in curves], p)
        v_lo, alloc_lo = combine([cv.lower for cv in curves], p)
        if v_up - v_lo <= tol * max(v_lo, 1e-9):
            status = "optimal"
            break
        todo = [
            (c, k) for c, k in enumerate(alloc_up) if not curves[c].exact(k, tol) and curves[c].stage[k] < 2
        ]
        left = deadline - time.perf_counter()
        if not todo or left <= 0.05:
            status = "time_limit"
            break
        # cheap points first (swap + LP), then MIPs, widest bracket first; MIPs share the time left
        todo.sort(
            key=lambda ck: (
                curves[ck[0]].stage[ck[1]],
                curves[ck[0]].lower[ck[1]] - curves[ck[0]].upper[ck[1]],
            )
        )
        c, k = todo[0]
        if curves[c].stage[k] == 0:
            _bound_point(curves[c], k, seconds=LP_SHARE * left)
        else:
            _solve_point(curves[c], k, seconds=max(0.05, left / len(todo)), mip_rel_gap=mip_rel_gap)
        rounds += 1
    log.info("components: %d, %d MIP solves, lower %.6g, upper %.6g (%s)", len(curves), rounds, v_lo, v_up,
             status)  # fmt: skip
    picked = [curves[c].rows[curves[c].sets[k]] for c, k in enumerate(alloc_lo) if k > 0]
    selected = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    return Solution(
        selected=selected.astype(np.int64),
        gains=np.zeros(selected.size),
        covered=v_lo,
        objective=v_lo,
        bound=v_up,
        gap=relative_gap(v_lo, v_up),
        status=status,
        seconds=0.0,
        method="exact",
        bound_source="components",
    )
