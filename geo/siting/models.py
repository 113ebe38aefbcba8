"""Siting models on a sparse candidate × demand coverage matrix.

Every function here works on plain arrays, independent of networks and geometries:

``matrix``
    ``scipy.sparse`` matrix, shape ``(n_candidates, n_columns)``; a non-zero at ``(j, i)`` means candidate
    ``j`` covers demand column ``i`` (a column may stand for several merged demand points).
``weights``
    ``numpy`` array of the columns' demand weight (≥ 0), only demand not yet covered by existing stations.

Models
------
* maximal covering (MCLP): add at most ``p`` stations (sites adding nothing are never proposed), or
  stations within a total ``budget`` of per-site ``cost``, maximising newly covered weight; solved with
  the compact HiGHS MIP (:func:`cover_milp`; presolved, decomposed and certified by
  :func:`geo.siting.exact.mclp_exact`) or by lazy greedy / CELF (:func:`mclp_greedy`).
* set covering: fewest new stations so that at least ``target_weight`` is newly covered
  (:func:`set_cover_exact`, :func:`set_cover_greedy`).
* per-area minimum (either model): candidate ``j`` lies in area ``area_of[j]`` (−1 for none) and area ``a``
  needs ``area_need[a]`` more new stations.
* coverage-share floors (exact maximal covering): per area or worker group a least newly covered weight,
  at the threshold or at a p95 ceiling's cutoff (:class:`geo.siting.highs.ShareRows`; the mathematics and
  the price of fairness in :mod:`geo.siting.fairness`).

Infeasible requests raise :class:`geo.errors.InfeasibleError` whose message says what is reachable.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from geo.errors import InfeasibleError, InputError
from geo.siting.highs import Cover, MilpModel, area_rows, link_rows, mclp_model
from geo.siting.presolve import presolve

log = logging.getLogger(__name__)

#: relative tolerance used when comparing covered weights
_TOL = 1e-9

#: the greedy's LP-relaxation bound is computed up to this many coverage non-zeros (cheap below it)
LP_BOUND_MAX_NNZ = 300_000


@dataclass(frozen=True)
class Solution:
    """A set of selected candidates in build order, with the solver's account of it.

    Attributes
    ----------
    selected : numpy.ndarray
        Candidate row indices in build order (phase 1, 2, ...).
    gains : numpy.ndarray
        Newly covered weight each selected candidate adds at its step of the build order.
    covered : float
        Newly covered weight of the whole selection.
    objective : float
        Objective value: covered weight for MCLP, number of stations for set covering.
    bound : float
        Proven bound on the optimal objective (upper for MCLP, lower for set covering); for the greedy
        methods a data-dependent bound from submodularity (``nan`` when none is known).
    gap : float
        Relative gap ``|bound - objective| / max(|objective|, 1e-9)``; 0 when proven optimal.
    status : str
        ``optimal``, ``time_limit`` (feasible, not proven optimal), ``heuristic`` (greedy).
    seconds : float
        Wall time of the solve.
    method : str
        ``exact`` (HiGHS) or ``greedy`` (lazy greedy).
    bound_source : str
        Where ``bound`` comes from: ``highs`` (the MIP dual bound), ``lp`` (the LP relaxation),
        ``submodular`` (the greedy prefixes' bound), ``components`` (the dynamic programme over independent
        components' bounds), ``exhausted`` (everything reachable is covered); empty when none is known.
    stop_reason : str
        Why fewer sites than asked were selected (no candidate adds coverage), else empty.
    presolve : dict
        Presolve counts (candidates, dominated, columns, components), empty when none ran.
    """

    selected: NDArray[np.int64]
    gains: NDArray[np.float64]
    covered: float
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    method: str
    bound_source: str = ""
    stop_reason: str = ""
    presolve: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- checks


def prepare(
    matrix: sp.spmatrix | sp.sparray,
    weights: NDArray[np.float64] | list[float],
    cost: NDArray[np.float64] | list[float] | None,
    area_of: NDArray[np.int64] | list[int] | None,
    area_need: NDArray[np.int64] | list[int] | None,
) -> tuple[sp.csr_matrix, NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    a = sp.csr_matrix(matrix, dtype=np.float64)
    a.data[:] = 1.0
    a.eliminate_zeros()
    a.sum_duplicates()
    a.sort_indices()
    n_cand, n_col = a.shape
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_col,):
        msg = f"weights has shape {w.shape}, expected ({n_col},) (one per demand column)"
        raise InputError(msg, field="weights")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        msg = "weights must be finite and >= 0"
        raise InputError(msg, field="weights")
    c = np.ones(n_cand) if cost is None else np.asarray(cost, dtype=np.float64)
    if c.shape != (n_cand,) or not np.all(np.isfinite(c)) or np.any(c < 0):
        msg = f"cost must hold {n_cand} finite values >= 0 (one per candidate)"
        raise InputError(msg, field="cost")
    if area_of is None:
        ar = np.full(n_cand, -1, dtype=np.int64)
        need = np.zeros(0, dtype=np.int64)
    else:
        ar = np.asarray(area_of, dtype=np.int64)
        need = np.zeros(0, dtype=np.int64) if area_need is None else np.asarray(area_need, dtype=np.int64)
        if ar.shape != (n_cand,) or (ar.size and ar.max() >= need.size):
            msg = "area_of must give each candidate an area index below len(area_need), or -1"
            raise InputError(msg, field="area_of")
    need = np.maximum(need, 0)
    return a, w, c, ar, need


def _check_areas(ar: NDArray[np.int64], need: NDArray[np.int64], labels: list[str] | None) -> None:
    if need.size == 0:
        return
    have = np.bincount(ar[ar >= 0], minlength=need.size)
    short = np.flatnonzero(need > have)
    if short.size:
        parts = []
        for a in short[:5]:
            name = labels[a] if labels is not None else f"area {a}"
            parts.append(f"{name} needs {need[a]} more station(s) but has only {have[a]} candidate(s)")
        more = f" (and {short.size - 5} more areas)" if short.size > 5 else ""
        raise InfeasibleError(
            "per-area minimum cannot be met: " + "; ".join(parts) + more, field="min_per_area"
        )


def _area_min_cost(c: NDArray[np.float64], ar: NDArray[np.int64], need: NDArray[np.int64]) -> float:
    total = 0.0
    for a in np.flatnonzero(need > 0):
        costs = np.sort(c[ar == a])
        total += float(costs[: need[a]].sum())
    return total


def relative_gap(objective: float, bound: float) -> float:
    if not math.isfinite(bound):
        return math.nan
    return abs(bound - objective) / max(abs(objective), 1e-9)


# ---------------------------------------------------------------------------------------------- greedy


def _row_gain(a: sp.csr_matrix, w: NDArray[np.float64], covered: NDArray[np.bool_], j: int) -> float:
    idx = a.indices[a.indptr[j] : a.indptr[j + 1]]
    return float(w[idx[~covered[idx]]].sum())


def _mark(a: sp.csr_matrix, covered: NDArray[np.bool_], j: int) -> None:
    covered[a.indices[a.indptr[j] : a.indptr[j + 1]]] = True


def _all_gains(a: sp.csr_matrix, w: NDArray[np.float64], covered: NDArray[np.bool_]) -> NDArray[np.float64]:
    return np.asarray(a @ np.where(covered, 0.0, w), dtype=np.float64)


def _celf(
    a: sp.csr_matrix,
    w: NDArray[np.float64],
    covered: NDArray[np.bool_],
    eligible: NDArray[np.bool_],
    *,
    max_steps: int,
    cost: NDArray[np.float64] | None = None,
    budget: float = math.inf,
    stop_weight: float = math.inf,
    area_of: NDArray[np.int64] | None = None,
    area_need: NDArray[np.int64] | None = None,
    stop_at_zero: bool = False,
) -> tuple[list[int], list[float], float]:
    """Lazy greedy (CELF). Mutates ``covered`` and ``eligible`` (private copies of the caller).

    Picks by marginal gain (or gain per cost when ``cost`` is given) until ``max_steps`` picks, the budget
    is spent, ``stop_weight`` newly covered weight is reached, (with ``stop_at_zero``) no candidate adds
    coverage, or (with ``area_need``) every area's need is met; with ``area_need`` only candidates of areas
    still short are taken.
    Returns (picks, gains, spent).
    """
    gains0 = _all_gains(a, w, covered)
    heap: list[tuple[float, int, int]] = []
    for jj in np.flatnonzero(eligible).tolist():
        key = float(gains0[jj] / cost[jj] if cost is not None and cost[jj] > 0 else gains0[jj])
        if cost is not None and cost[jj] == 0:
            key = math.inf if gains0[jj] > 0 else 0.0
        heap.append((-key, int(jj), 0))
    heapq.heapify(heap)
    picks: list[int] = []
    gains: list[float] = []
    spent = 0.0
    got = 0.0
    step = 0
    while heap and len(picks) < max_steps and got < stop_weight * (1 - _TOL):
        if area_need is not None and not np.any(area_need > 0):
            break
        _negkey, j, stamp = heapq.heappop(heap)
        if not eligible[j]:
            continue
        if cost is not None and spent + cost[j] > budget * (1 + _TOL):
            eligible[j] = False  # the remaining budget only shrinks
            continue
        if area_need is not None and area_of is not None and (area_of[j] < 0 or area_need[area_of[j]] <= 0):
            continue
        if stamp == step:
            g = _row_gain(a, w, covered, j)
            if stop_at_zero and g <= 0.0:
                break  # the freshest best adds nothing: no candidate does
            picks.append(j)
            gains.append(g)
            got += g
            _mark(a, covered, j)
            eligible[j] = False
            if cost is not None:
                spent += float(cost[j])
            if area_need is not None and area_of is not None:
                area_need[area_of[j]] -= 1
            step += 1
            continue
        g = _row_gain(a, w, covered, j)
        key = float((g / cost[j] if cost[j] > 0 else math.inf if g > 0 else 0.0) if cost is not None else g)
        heapq.heappush(heap, (-key, j, step))
    return picks, gains, spent


def _greedy_bound(
    a: sp.csr_matrix,
    w: NDArray[np.float64],
    covered: NDArray[np.bool_],
    chosen: NDArray[np.bool_],
    got: float,
    *,
    p: int | None,
    cost: NDArray[np.float64] | None,
    budget: float | None,
) -> float:
    """Upper bound on the optimum from submodularity: f(OPT) ≤ f(S) + best choice of marginal gains."""
    g = _all_gains(a, w, covered)
    g[chosen] = 0.0
    if p is not None:
        top = np.sort(g)[::-1][:p]
        return got + float(top.sum())
    if cost is not None and budget is not None:
        # fractional knapsack over the gains (an LP relaxation, hence an upper bound)
        free = (cost <= 0) & (g > 0)
        extra = float(g[free].sum())
        rest = np.flatnonzero(~free & (g > 0))
        order = rest[np.argsort(-(g[rest] / cost[rest]), kind="stable")]
        left = budget
        for j in order:
            if cost[j] <= left:
                extra += g[j]
                left -= cost[j]
            else:
                extra += g[j] * left / cost[j]
                break
        return got + extra
    return math.nan


def _online_bound(
    a: sp.csr_matrix,
    w: NDArray[np.float64],
    picks: list[int],
    gains: list[float],
    *,
    p: int | None,
    cost: NDArray[np.float64] | None,
    budget: float | None,
) -> float:
    """The tightest of the submodular bounds ``f(S_k) + best marginal gains w.r.t. S_k`` over every prefix
    ``S_k`` of the greedy picks (valid for any feasible set, area minimums included)."""
    covered = np.zeros(a.shape[1], dtype=bool)
    chosen = np.zeros(a.shape[0], dtype=bool)
    best = math.inf
    f = 0.0
    for k in range(len(picks) + 1):
        b = _greedy_bound(a, w, covered, chosen, f, p=p, cost=cost, budget=budget)
        if math.isfinite(b):
            best = min(best, b)
        if k < len(picks):
            _mark(a, covered, picks[k])
            chosen[picks[k]] = True
            f += gains[k]
    return best


def build_order(
    matrix: sp.spmatrix | sp.sparray,
    weights: NDArray[np.float64],
    selected: NDArray[np.int64] | list[int],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Order a selected set greedily by marginal gain (the phase order of an exact solution).

    Parameters
    ----------
    matrix, weights
        Coverage matrix (candidates × columns) and column weights.
    selected
        Row indices of the selected candidates.

    Returns
    -------
    order, gains : numpy.ndarray
        The selected rows in build order and the newly covered weight each adds at its step.
    """
    a, w, _, _, _ = prepare(matrix, weights, None, None, None)
    sel = np.asarray(selected, dtype=np.int64)
    eligible = np.zeros(a.shape[0], dtype=bool)
    eligible[sel] = True
    covered = np.zeros(a.shape[1], dtype=bool)
    picks, gains, _ = _celf(a, w, covered, eligible, max_steps=sel.size)
    return np.asarray(picks, dtype=np.int64), np.asarray(gains, dtype=np.float64)


def _best_single_site(
    a: sp.csr_matrix, w: NDArray[np.float64], c: NDArray[np.float64], budget: float
) -> tuple[int, float]:
    """The affordable candidate covering most weight on its own (−1 when none is affordable)."""
    single = np.flatnonzero(c <= budget * (1 + _TOL))
    if not single.size:
        return -1, 0.0
    g1 = _all_gains(a, w, np.zeros(a.shape[1], dtype=bool))[single]
    return int(single[np.argmax(g1)]), float(g1.max())


def mclp_greedy(
    matrix: sp.spmatrix | sp.sparray,
    weights: NDArray[np.float64] | list[float],
    *,
    p: int | None = None,
    budget: float | None = None,
    cost: NDArray[np.float64] | list[float] | None = None,
    area_of: NDArray[np.int64] | list[int] | None = None,
    area_need: NDArray[np.int64] | list[int] | None = None,
    area_labels: list[str] | None = None,
    lp_bound: bool = True,
) -> Solution:
    """Maximal covering by lazy greedy (CELF): add ``p`` stations, or stations within ``budget``.

    With a budget, candidates are taken by gain per cost and the result is compared with the best single
    affordable site (the classic fix that gives the budgeted greedy its constant-factor guarantee). With a
    per-area minimum, the short areas are filled first (best gain among their candidates), then the rest is
    greedy. The bound is the least over the greedy prefixes S_k of ``f(S_k) +`` the best ``p`` (or
    fractional-knapsack within the budget) marginal gains w.r.t. S_k (submodularity), or the LP relaxation
    when that is tighter (computed with ``lp_bound`` when the matrix has at most ``LP_BOUND_MAX_NNZ``
    non-zeros). Sites that would add nothing are never picked (``stop_reason`` says so).

    Returns
    -------
    Solution
        ``selected`` in pick order (the build order), ``status="heuristic"``.

    Raises
    ------
    InfeasibleError
        ``p`` exceeds the candidates, or the per-area minimum cannot be met within ``p`` or ``budget``.
    """
    t0 = time.perf_counter()
    a, w, c, ar, need = prepare(matrix, weights, cost, area_of, area_need)
    check_model_args(a, c, ar, need, p=p, budget=budget, labels=area_labels)
    picks, gains = _greedy_picks(Cover(a, w, c, ar, need, p, budget))
    got = float(np.sum(gains))
    bound = _online_bound(a, w, picks, gains, p=p, cost=c if budget is not None else None, budget=budget)
    source = "submodular"
    if lp_bound and a.nnz <= LP_BOUND_MAX_NNZ:
        lp = mclp_lp(Cover(a, w, c, ar, need, p, budget)).bound
        if lp < bound:
            bound, source = lp, "lp"
    bound = max(bound, got) if math.isfinite(bound) else bound
    return Solution(
        selected=np.asarray(picks, dtype=np.int64),
        gains=np.asarray(gains, dtype=np.float64),
        covered=got,
        objective=got,
        bound=bound,
        gap=relative_gap(got, bound),
        status="heuristic",
        seconds=time.perf_counter() - t0,
        method="greedy",
        bound_source=source,
        stop_reason=short_reason(len(picks), p),
    )


def _greedy_picks(cover: Cover) -> tuple[list[int], list[float]]:
    """The picks of :func:`mclp_greedy` on prepared arrays: short areas first, then CELF until ``p`` sites,
    the budget or no gain; with a budget (and no area minimum) the best single affordable site when it
    covers more. Returns (picks in order, gains)."""
    a, w, c, ar, need, p, budget = cover.a, cover.w, cover.c, cover.ar, cover.need, cover.p, cover.budget
    n_cand = a.shape[0]
    covered = np.zeros(a.shape[1], dtype=bool)
    eligible = np.ones(n_cand, dtype=bool)
    use_cost = c if budget is not None else None
    bud = math.inf if budget is None else float(budget)
    needy = bool(need.size and need.sum() > 0)
    picks: list[int] = []
    gains: list[float] = []
    spent = 0.0
    if needy:  # fill the short areas first; with a budget, cheapest-first inside the need (gain per cost)
        picks, gains, spent = _celf(a, w, covered, eligible, max_steps=int(need.sum()), cost=use_cost,
                                    budget=bud, area_of=ar, area_need=need.copy())  # fmt: skip
    steps = (p if p is not None else n_cand) - len(picks)
    pk, gn, _ = _celf(a, w, covered, eligible, max_steps=steps, cost=use_cost, budget=bud - spent,
                      stop_at_zero=True)  # fmt: skip
    picks, gains = picks + pk, gains + gn
    if budget is not None and not needy:
        best, g1 = _best_single_site(a, w, c, bud)
        if best >= 0 and g1 > float(np.sum(gains)) * (1 + _TOL):
            return [best], [g1]
    return picks, gains


def short_reason(n_selected: int, p: int | None) -> str:
    """Why a maximal covering selection has fewer than ``p`` sites (empty when it has ``p``)."""
    if p is None or n_selected >= p:
        return ""
    return (
        f"only {n_selected} of the {p} sites asked for add coverage: every demand point the candidates "
        "reach is covered, so no further site would gain anything"
    )


def set_cover_greedy(
    matrix: sp.spmatrix | sp.sparray,
    weights: NDArray[np.float64] | list[float],
    *,
    target_weight: float | None = None,
    area_of: NDArray[np.int64] | list[int] | None = None,
    area_need: NDArray[np.int64] | list[int] | None = None,
    area_labels: list[str] | None = None,
) -> Solution:
    """Set covering by greedy: add the best candidate until ``target_weight`` is newly covered.

    ``target_weight=None`` means all coverable weight (every column with a candidate). Short areas are
    filled first. The bound is the LP-free lower bound ``ceil(remaining / best gain)`` style count:
    ``len(area picks) + ceil((target - covered by them) / largest single gain)``.

    Raises
    ------
    InfeasibleError
        The target exceeds what all candidates together reach, or an area has too few candidates.
    """
    t0 = time.perf_counter()
    a, w, _, ar, need = prepare(matrix, weights, None, area_of, area_need)
    _check_areas(ar, need, area_labels)
    reach = _reachable(a, w)
    target = reach if target_weight is None else float(target_weight)
    _check_target(target, reach, a.shape[0])
    covered = np.zeros(a.shape[1], dtype=bool)
    eligible = np.ones(a.shape[0], dtype=bool)
    picks: list[int] = []
    gains: list[float] = []
    if need.size and need.sum() > 0:
        pk, gn, _ = _celf(
            a, w, covered, eligible, max_steps=int(need.sum()), area_of=ar, area_need=need.copy()
        )
        picks += pk
        gains += gn
    got = float(np.sum(gains))
    if got < target * (1 - _TOL):
        pk, gn, _ = _celf(a, w, covered, eligible, max_steps=a.shape[0], stop_weight=target - got)
        picks += pk
        gains += gn
        got += float(np.sum(gn))
    best = float(_all_gains(a, w, np.zeros(a.shape[1], dtype=bool)).max(initial=0.0))
    n_forced = int(need.sum()) if need.size else 0
    lower = max(n_forced, math.ceil(target / best - 1e-9) if best > 0 and target > 0 else 0)
    return Solution(
        selected=np.asarray(picks, dtype=np.int64),
        gains=np.asarray(gains, dtype=np.float64),
        covered=got,
        objective=float(len(picks)),
        bound=float(lower),
        gap=relative_gap(float(len(picks)), float(lower)),
        status="heuristic",
        seconds=time.perf_counter() - t0,
        method="greedy",
        bound_source="count",
    )


# ---------------------------------------------------------------------------------------------- exact


def _reachable(a: sp.csr_matrix, w: NDArray[np.float64]) -> float:
    hit = np.asarray(a.sum(axis=0)).ravel() > 0
    return float(w[hit].sum())


def _check_target(target: float, reach: float, n_cand: int) -> None:
    if target > reach * (1 + 1e-9) + 1e-12:
        msg = (
            f"target newly covered weight {target:.6g} is above the {reach:.6g} that all "
            f"{n_cand} candidates reach"
        )
        raise InfeasibleError(msg, field="target_share")


def check_model_args(
    a: sp.csr_matrix,
    c: NDArray[np.float64],
    ar: NDArray[np.int64],
    need: NDArray[np.int64],
    *,
    p: int | None,
    budget: float | None,
    labels: list[str] | None,
) -> None:
    n_cand = a.shape[0]
    if (p is None) == (budget is None):
        msg = "give exactly one of p (stations to add) or budget"
        raise InputError(msg, field="p")
    if p is not None:
        if p < 0:
            raise InputError(f"p must be >= 0, got {p}", field="p")
        if p > n_cand:
            msg = f"cannot add {p} stations: only {n_cand} candidates are available"
            raise InfeasibleError(msg, field="add")
    if budget is not None and (not math.isfinite(budget) or budget < 0):
        raise InputError(f"budget must be a finite number >= 0, got {budget}", field="budget")
    _check_areas(ar, need, labels)
    total_need = int(need.sum()) if need.size else 0
    if p is not None and total_need > p:
        msg = (
            f"per-area minimum needs {total_need} new stations in total, more than the {p} to add; "
            f"add at least {total_need}"
        )
        raise InfeasibleError(msg, field="min_per_area")
    if budget is not None and total_need:
        cheapest = _area_min_cost(c, ar, need)
        if cheapest > budget * (1 + 1e-9):
            msg = f"per-area minimum costs at least {cheapest:.6g}, above the budget {budget:.6g}"
            raise InfeasibleError(msg, field="budget")


def mclp_milp(
    a: sp.csr_matrix,
    w: NDArray[np.float64],
    c: NDArray[np.float64],
    ar: NDArray[np.int64],
    need: NDArray[np.int64],
    *,
    p: int | None,
    budget: float | None,
    start: NDArray[np.int64],
    time_limit_seconds: float,
    mip_rel_gap: float = 1e-9,
) -> Solution:
    """:func:`cover_milp` on prepared arrays (see :func:`prepare`), without share rows."""
    return cover_milp(Cover(a, w, c, ar, need, p, budget), start=start, time_limit_seconds=time_limit_seconds,
                      mip_rel_gap=mip_rel_gap)  # fmt: skip


def cover_milp(
    cover: Cover, *, start: NDArray[np.int64], time_limit_seconds: float, mip_rel_gap: float = 1e-9
) -> Solution:
    """The compact maximal covering MIP of ``cover``, solved with HiGHS.

    Model (:func:`geo.siting.highs.mclp_model`): binary ``y_j`` (open candidate ``j``), continuous
    ``0 ≤ x_i ≤ 1`` (column ``i`` covered); maximise ``Σ w_i x_i`` s.t. ``x_i ≤ Σ_{j covers i} y_j``,
    ``Σ y_j ≤ p`` (or ``Σ cost_j y_j ≤ budget``), ``Σ_{j in area a} y_j ≥ area_need[a]`` and the
    coverage-share rows of ``cover.shares`` (fairness). Columns no candidate covers are left out. ``start``
    (row indices of a selection) is the incumbent HiGHS starts from when it is feasible.

    Returns
    -------
    Solution
        ``selected`` in build order, ``bound`` HiGHS's dual bound (``bound_source="highs"``), ``status``
        ``optimal`` or ``time_limit``; the selection is never worse than a feasible ``start``.

    Raises
    ------
    InfeasibleError
        HiGHS proves the model infeasible (or finds no feasible selection in time).
    """
    a, w = cover.a, cover.w
    n_cand = a.shape[0]
    model, hit = mclp_model(cover)
    feasible = all(bool(s.met(start).all()) for s in cover.shares)
    x0 = None
    if feasible:
        start_y = np.zeros(n_cand)
        start_y[start] = 1.0
        x0 = np.concatenate([start_y, np.minimum(1.0, a[:, hit].T @ start_y),
                             *(np.minimum(1.0, s.matrix.T @ start_y) for s in cover.shares
                               if np.any(s.need > 0))])  # fmt: skip
    run = model.solve(time_limit_seconds=time_limit_seconds, start=x0, mip_rel_gap=mip_rel_gap)
    chosen = np.flatnonzero(run.x[:n_cand] > 0.5)
    order, gains = build_order(a, w, chosen)
    covered = float(gains.sum())
    start_value = float(w[np.unique(a[start].indices)].sum()) if start.size and feasible else -math.inf
    if covered < start_value * (1 - _TOL):  # HiGHS returned less than it was given: keep the start
        order, gains = build_order(a, w, start)
        covered = float(gains.sum())
    bound = max(float(run.bound), covered)
    log.info("MCLP MIP: %d selected, covered %.6g, bound %.6g, %s in %.2fs", chosen.size, covered, bound,
             run.status, run.seconds)  # fmt: skip
    return Solution(
        selected=order,
        gains=gains,
        covered=covered,
        objective=covered,
        bound=bound,
        gap=relative_gap(covered, bound),
        status=run.status,
        seconds=run.seconds,
        method="exact",
        bound_source="highs",
    )


@dataclass(frozen=True)
class LpBound:
    """The LP relaxation of :func:`mclp_milp`: ``bound`` (``inf`` when not solved) and the reduced cost of
    each candidate's ``y_j`` (``c_j - a_j^T π``; empty when not solved)."""

    bound: float
    reduced_cost: NDArray[np.float64]

    def keep(self, incumbent: float, start: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Reduced-cost fixing: bool per candidate, False where every solution opening it covers less than
        ``incumbent`` (``bound + reduced_cost_j < incumbent``, with a safety margin); ``start`` is kept."""
        n = self.reduced_cost.size
        if not math.isfinite(self.bound) or n == 0:
            return np.ones(0, dtype=bool)
        margin = 1e-6 * max(abs(incumbent), 1.0)
        out = self.bound + np.minimum(self.reduced_cost, 0.0) >= incumbent - margin
        out[start] = True
        return out


def mclp_lp(cover: Cover, *, time_limit_seconds: float = 10.0) -> LpBound:
    """The LP relaxation of :func:`cover_milp` (interior point + crossover): a proven upper bound on the
    optimum and the candidates' reduced costs; bound ``inf`` when HiGHS does not finish it in time."""
    model, _ = mclp_model(cover)
    try:
        run = model.solve(time_limit_seconds=time_limit_seconds, relax=True)
    except InfeasibleError:
        return LpBound(math.inf, np.zeros(0))
    if run.status != "optimal":
        return LpBound(math.inf, np.zeros(0))
    return LpBound(float(run.bound) * (1 + 1e-7) + 1e-9, run.col_dual[: cover.a.shape[0]])


def _set_cover_model(
    a_hit: sp.csr_matrix,
    w_hit: NDArray[np.float64],
    ar: NDArray[np.int64],
    need: NDArray[np.int64],
    *,
    target: float | None,
) -> MilpModel:
    """Fewest sites: ``Σ_{j covers i} y_j ≥ 1`` for every column (``target=None``), else
    ``x_i ≤ Σ_{j covers i} y_j`` and ``Σ w_i x_i ≥ target``; then the per-area minimum rows."""
    n_cand, m = a_hit.shape
    if target is None:
        n_col = n_cand
        blocks = [sp.csr_matrix(a_hit.T)]
        lower = [np.ones(m)]
        upper = [np.full(m, np.inf)]
    else:
        n_col = n_cand + m
        blocks = [
            link_rows(a_hit, offset=n_cand, n_col=n_col),
            sp.csr_matrix(np.concatenate([np.zeros(n_cand), w_hit])[None, :]),
        ]
        lower = [np.full(m, -np.inf), np.array([target * (1 - 1e-9)])]
        upper = [np.zeros(m), np.array([np.inf])]
    area_rows(ar, need, n_col, blocks, lower, upper)
    return MilpModel(
        col_cost=(np.arange(n_col) < n_cand).astype(np.float64),
        col_upper=np.ones(n_col),
        integer=np.arange(n_col) < n_cand,
        rows=sp.vstack(blocks, format="csr"),
        row_lower=np.concatenate(lower),
        row_upper=np.concatenate(upper),
        maximize=False,
    )


def set_cover_exact(
    matrix: sp.spmatrix | sp.sparray,
    weights: NDArray[np.float64] | list[float],
    *,
    target_weight: float | None = None,
    area_of: NDArray[np.int64] | list[int] | None = None,
    area_need: NDArray[np.int64] | list[int] | None = None,
    area_labels: list[str] | None = None,
    time_limit_seconds: float = 60.0,
) -> Solution:
    """Fewest new stations so at least ``target_weight`` is newly covered, solved with HiGHS.

    ``target_weight=None`` asks for every coverable column (the classic set covering rows
    ``Σ_{j covers i} y_j ≥ 1``); otherwise ``x_i ≤ Σ y_j`` and ``Σ w_i x_i ≥ target_weight``. Dominated
    candidates are removed first (:mod:`geo.siting.presolve`; the fewest-sites optimum is unchanged).

    Raises
    ------
    InfeasibleError
        The target exceeds what all candidates together reach, or an area has too few candidates.
    """
    a, w, _, ar, need = prepare(matrix, weights, None, area_of, area_need)
    _check_areas(ar, need, area_labels)
    reach = _reachable(a, w)
    target = reach if target_weight is None else float(target_weight)
    _check_target(target, reach, a.shape[0])
    full_a, full_w = a, w
    pre = presolve(a, w, np.ones(a.shape[0]), ar, need, compare_cost=False)  # fewest sites: cost is 1
    a, w, ar = pre.matrix, pre.weights, pre.area_of
    warm = set_cover_greedy(
        a, w, target_weight=target_weight, area_of=ar, area_need=need, area_labels=area_labels
    )
    n_cand = a.shape[0]
    hit = np.flatnonzero(np.asarray(a.sum(axis=0)).ravel() > 0)
    a_hit = sp.csr_matrix(a[:, hit])
    model = _set_cover_model(a_hit, w[hit], ar, need, target=None if target_weight is None else target)
    start = np.zeros(n_cand)
    start[warm.selected] = 1.0
    if target_weight is not None:
        start = np.concatenate([start, np.minimum(1.0, a_hit.T @ start)])
    run = model.solve(time_limit_seconds=time_limit_seconds, start=start)
    chosen = np.flatnonzero(run.x[:n_cand] > 0.5)
    order, gains = build_order(full_a, full_w, pre.kept[chosen])
    count = float(chosen.size)
    bound = min(math.ceil(run.bound - 1e-6), count) if math.isfinite(run.bound) else run.bound
    bound = max(float(bound), warm.bound) if math.isfinite(warm.bound) else float(bound)
    return Solution(
        selected=order,
        gains=gains,
        covered=float(gains.sum()),
        objective=count,
        bound=bound,
        gap=0.0 if run.status == "optimal" else relative_gap(count, bound),
        status=run.status,
        seconds=run.seconds + warm.seconds,
        method="exact",
        bound_source="highs",
        presolve=dict(pre.stats),
    )
