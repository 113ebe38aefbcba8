"""Fairness in exact siting: coverage-share floors per area and per worker group, p95 ceilings per area.

Notation (per group ``g`` of demand points — a 乡镇/街道 or a worker group): ``W_g`` all demand weight of
``g`` (unsnappable points included), ``B_g(T)`` the weight of ``g`` that the existing open stations reach
within ``T`` minutes, ``N_g(T; y)`` the weight of ``g`` that the new sites ``y`` reach within ``T`` and no
existing station does. Constraints added to the maximal covering MIP (:func:`geo.siting.highs.mclp_model`):

* **minimum share** ``S`` at the threshold ``T`` (``min_share_per_area`` / ``min_share_per_group``):
  ``B_g(T) + N_g(T; y) ≥ S · W_g``, i.e. ``N_g(T; y) ≥ need_g = S · W_g - B_g(T)`` (no row when
  ``need_g ≤ 0``);
* **maximum p95** ``M`` minutes per area (``max_p95_per_area_minutes``). The p95 of an area is the lower
  weighted 95 % quantile of its points' travel time to the nearest station over *all* its weight
  (unreachable and unsnappable points count as infinitely far): the smallest ``t`` with
  ``W_g(≤ t) ≥ 0.95 · W_g``. Hence ``p95_g ≤ M  ⟺  W_g(≤ M) ≥ 0.95 · W_g``: a minimum share 0.95 on a
  second coverage layer built at ``M`` minutes, ``N_g(M; y) ≥ 0.95 · W_g - B_g(M)``.

``N_g(T; y)`` is linear in the covered-column indicators of the layer at ``T``: its columns group demand
points of one group with the same candidate set (a column is covered when any of its candidates is open),
so ``N_g = Σ_k G[g, k] z_k`` with ``z_k ≤ Σ_{j reaches k} y_j`` (:class:`geo.siting.highs.ShareRows`).
Existing stations count through ``B_g``: the points they reach are no column of the layer.

**Price of fairness**: the covered weight of the unconstrained optimum minus that of the fair optimum (both
solved exactly with the same request), also as a share of all demand weight and relative to the
unconstrained optimum's covered weight; it is ≥ 0 up to the solver tolerance because the fair feasible set
is a subset. A group **binds** when the unconstrained optimum violates its row (so the row changed the plan)
or the fair plan meets it with no slack.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from geo.errors import InfeasibleError
from geo.siting.coverage_sets import CoverageSets, merge_columns
from geo.siting.highs import Cover, ShareRows, mclp_model

log = logging.getLogger(__name__)

#: the quantile a ``max_p95_per_area_minutes`` ceiling is about
P95 = 0.95

#: seconds each per-group minimum-sites MIP may take when an infeasible request is explained
EXPLAIN_SECONDS = 2.0

#: relative slack under which a met share row counts as tight
TIGHT = 1e-9


def point_reach(cs: CoverageSets) -> sp.csr_matrix:
    """Candidates × demand points (0/1) of the coverage sets: the points no existing station covers and some
    candidate reaches (a point's column is its merged column)."""
    col = cs.column_of_demand
    pts = np.flatnonzero(col >= 0)
    sub = sp.csc_matrix(cs.matrix, dtype=np.float64)[:, col[pts]].tocoo()
    return sp.csr_matrix((sub.data, (sub.row, pts[sub.col])), shape=(cs.matrix.shape[0], col.size))


def share_rows(
    reach: sp.csr_matrix,
    weight: NDArray[np.float64],
    group_of: NDArray[np.int64],
    need: NDArray[np.float64],
    labels: list[str],
    *,
    field: str,
) -> ShareRows:
    """The :class:`~geo.siting.highs.ShareRows` of one layer from point-level data.

    Parameters
    ----------
    reach : scipy.sparse matrix
        Candidates × demand points: candidate reaches the point within the layer's cutoff, for points no
        existing station reaches within it (others must have no entry).
    weight : numpy.ndarray
        Weight of each point.
    group_of : numpy.ndarray
        Group index of each point (−1 for none).
    need : numpy.ndarray
        Per group, the newly covered weight required.
    labels, field
        Group names and the request argument (for messages).

    Returns
    -------
    ShareRows
        Columns: points of groups with a need, merged when they share group and candidate set.
    """
    n_cand, n_pts = reach.shape
    n_grp = need.size
    ok = (group_of >= 0) & (weight > 0)
    ok[ok] &= need[group_of[ok]] > 0
    tag = sp.csr_matrix((np.ones(int(ok.sum())), (group_of[ok], np.flatnonzero(ok))), shape=(n_grp, n_pts))
    stacked = sp.vstack([sp.csr_matrix(reach, dtype=np.float64), tag], format="csr")
    has = np.zeros(n_pts, dtype=bool)
    has[np.unique(sp.csr_matrix(reach).indices)] = True
    merged, _, column_of = merge_columns(stacked, weight, ok & has)
    merged = sp.csr_matrix(merged, dtype=np.float64)
    used = column_of >= 0
    group_weight = sp.csr_matrix(
        (weight[used], (group_of[used], column_of[used])), shape=(n_grp, merged.shape[1])
    )
    return ShareRows(sp.csr_matrix(merged[:n_cand]), group_weight, np.asarray(need, dtype=np.float64),
                     list(labels), field)  # fmt: skip


@dataclass(frozen=True)
class GroupShares:
    """One kind of share floor on one grouping, before any site is added.

    Attributes
    ----------
    share : float
        The floor (a fraction of each group's weight).
    total, before, reachable : numpy.ndarray
        Per group: all weight ``W_g``, weight the existing stations cover within the cutoff ``B_g``, and
        weight no existing station covers that some candidate reaches.
    rows : ShareRows
        The MIP rows.
    """

    share: float
    total: NDArray[np.float64]
    before: NDArray[np.float64]
    reachable: NDArray[np.float64]
    rows: ShareRows

    @property
    def need(self) -> NDArray[np.float64]:
        return self.rows.need

    def check_reachable(self, request: str) -> None:
        """Raise :class:`InfeasibleError` naming the groups that stay below the floor even with every
        candidate built; ``request`` is the argument as the message states it."""
        short = np.flatnonzero((self.need > 0) & (self.before + self.reachable < self.share * self.total
                                                   * (1 - TIGHT)))  # fmt: skip
        if not short.size:
            return
        most = (self.before + self.reachable) / np.where(self.total > 0, self.total, 1.0)
        parts = [f"{self.rows.labels[g]} reaches at most {most[g]:.3f}" for g in short[:5]]
        more = f" (and {short.size - 5} more)" if short.size > 5 else ""
        msg = f"{request} cannot be met even with all candidates built: " + "; ".join(parts) + more
        raise InfeasibleError(msg, field=self.rows.field)

    def met_share(self, covered: NDArray[np.bool_], weight: NDArray[np.float64],
                  group_of: NDArray[np.int64]) -> NDArray[np.float64]:  # fmt: skip
        """Per group, the share of its weight covered by the point mask ``covered`` (NaN without weight)."""
        ok = group_of >= 0
        got = np.bincount(group_of[ok], weights=(weight * covered)[ok], minlength=self.total.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.total > 0, got / np.where(self.total > 0, self.total, 1.0), np.nan)

    def binds(self, fair_share: NDArray[np.float64], free_share: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Bool per group: the row is active (see the module docstring)."""
        has = self.need > 0
        violated = free_share < self.share * (1 - TIGHT)
        tight = np.abs(fair_share - self.share) <= TIGHT * max(self.share, 1e-12)
        return np.asarray(has & (violated | tight), dtype=bool)


def group_shares(
    cs: CoverageSets,
    group_of: NDArray[np.int64],
    labels: list[str],
    share: float,
    *,
    field: str,
) -> GroupShares:
    """The share floor ``share`` on the grouping ``group_of`` (per demand point, −1 none) at the coverage
    sets' cutoff (see the module docstring)."""
    n = len(labels)
    w = cs.demand_weight
    ok = group_of >= 0
    total = np.bincount(group_of[ok], weights=w[ok], minlength=n).astype(np.float64)
    before = np.bincount(group_of[ok], weights=(w * cs.covered_before)[ok], minlength=n).astype(np.float64)
    reachable = np.bincount(group_of[ok], weights=(w * cs.coverable)[ok], minlength=n).astype(np.float64)
    need = np.where(share * total - before > TIGHT * np.maximum(total, 1.0), share * total - before, 0.0)
    need = need.astype(np.float64)
    rows = share_rows(point_reach(cs), w, group_of, need, labels, field=field)
    return GroupShares(float(share), total, before, reachable, rows)


# --------------------------------------------------------------------------- explaining infeasibility


def _min_cost(shares: tuple[ShareRows, ...], cost: NDArray[np.float64], *, seconds: float) -> float:
    """A proven lower bound on the least total ``cost`` of sites meeting every share row (``inf`` when no
    selection does): the model of :func:`mclp_model` with no coverage objective, minimising cost."""
    n = cost.size
    no_area, no_need = np.full(n, -1, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cover = Cover(sp.csr_matrix((n, 0)), np.zeros(0), cost, no_area, no_need, None, math.inf, shares)
    model, _ = mclp_model(cover)
    col_cost = np.concatenate([cost, np.zeros(model.col_cost.size - n)])
    try:
        run = replace(model, col_cost=col_cost, maximize=False).solve(time_limit_seconds=seconds)
    except InfeasibleError:
        return math.inf
    return float(run.bound) if math.isfinite(run.bound) else 0.0


def _one_group(rows: ShareRows, g: int) -> tuple[ShareRows, NDArray[np.int64]]:
    """The rows of group ``g`` alone, on the candidates reaching it (returned as row indices)."""
    cols = np.flatnonzero(np.asarray(rows.group_weight[g].todense()).ravel() > 0)
    sub = sp.csc_matrix(rows.matrix)[:, cols].tocsr()
    cand = np.flatnonzero(np.diff(sub.indptr) > 0)
    need = np.zeros_like(rows.need)
    need[g] = rows.need[g]
    return ShareRows(sp.csr_matrix(sub[cand]), sp.csr_matrix(rows.group_weight[:, cols]), need, rows.labels,
                     rows.field), cand  # fmt: skip


def explain_infeasible(
    shares: tuple[ShareRows, ...],
    cost: NDArray[np.float64],
    *,
    p: int | None,
    budget: float | None,
) -> InfeasibleError:
    """The error for share rows that no selection within ``p`` sites (or ``budget``) meets: names the groups
    that alone need more than that (a proven lower bound from a small MIP per group), else the least the
    groups need together."""
    limit = float(p) if p is not None else float(budget)  # type: ignore[arg-type]
    unit = "new stations" if p is not None else "in cost"
    use = np.ones(cost.size) if p is not None else cost
    parts: list[str] = []
    field = shares[0].field if shares else "add"
    for rows in shares:
        for g in np.flatnonzero(rows.need > 0).tolist():
            one, cand = _one_group(rows, g)
            least = _min_cost((one,), use[cand], seconds=EXPLAIN_SECONDS)
            if least > limit * (1 + 1e-9) + 1e-9:
                if not parts:
                    field = rows.field
                parts.append(f"{rows.labels[g]} alone needs at least {least:.6g} {unit}")
    what = f"{p} stations to add" if p is not None else f"the budget {budget:g}"
    if parts:
        more = f" (and {len(parts) - 5} more)" if len(parts) > 5 else ""
        return InfeasibleError(f"{field} cannot be met within {what}: " + "; ".join(parts[:5]) + more,
                               field=field)  # fmt: skip
    least = _min_cost(shares, use, seconds=5 * EXPLAIN_SECONDS)
    short = [rows.labels[g] for rows in shares for g in np.flatnonzero(rows.need > 0).tolist()]
    names = ", ".join(short[:5]) + (f" and {len(short) - 5} more" if len(short) > 5 else "")
    need_text = f"at least {least:.6g} {unit}" if math.isfinite(least) else "more than is available"
    msg = f"{field} cannot be met within {what}: together {names} need {need_text}"
    return InfeasibleError(msg, field=field)


# ------------------------------------------------------------------------------------------------ p95


def group_quantile(
    minutes: NDArray[np.float64], weight: NDArray[np.float64], group_of: NDArray[np.int64], n: int,
    q: float = P95,
) -> NDArray[np.float64]:  # fmt: skip
    """Per group the lower weighted ``q`` quantile of ``minutes`` over all its weight, NaN (unreachable,
    unsnappable) counting as infinitely far: the smallest ``t`` with ``W_g(≤ t) ≥ q · W_g``; ``inf`` when that
    is beyond every finite time, NaN for a group without weight."""
    out = np.full(n, np.nan)
    t = np.where(np.isfinite(minutes), minutes, np.inf)
    for g in range(n):
        sel = (group_of == g) & (weight > 0)
        if not sel.any():
            continue
        order = np.argsort(t[sel], kind="stable")
        v, w = t[sel][order], weight[sel][order]
        cw = np.cumsum(w)
        i = int(np.searchsorted(cw, q * cw[-1] * (1 - 1e-12), side="left"))
        out[g] = float(v[min(i, v.size - 1)])
    return out


# ------------------------------------------------------------------------------------ layers of a plan


@dataclass(frozen=True)
class FairLayer:
    """One fairness constraint of a request: argument, floor, grouping and coverage sets at its cutoff.

    Attributes
    ----------
    field : str
        ``min_share_per_area``, ``max_p95_per_area_minutes`` or ``min_share_per_group``.
    value : float
        The argument's value (a share, or minutes for the p95 ceiling).
    grouping : str
        ``area`` or ``group``.
    group_of : numpy.ndarray
        Group index of each demand point (−1 none).
    cs : CoverageSets
        Coverage sets at the layer's cutoff (the request's threshold, or the p95 ceiling).
    shares : GroupShares
        The floor and its MIP rows.
    """

    field: str
    value: float
    grouping: str
    group_of: NDArray[np.int64]
    cs: CoverageSets
    shares: GroupShares

    def share_after(self, selected: NDArray[np.int64]) -> NDArray[np.float64]:
        """Per group, the covered share within the layer's cutoff, existing stations and ``selected``."""
        return self.shares.met_share(self.cs.covered_after(selected), self.cs.demand_weight, self.group_of)

    def binds(self, fair: NDArray[np.int64], free: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Bool per group: the row is active for the fair plan ``fair`` against the unconstrained ``free``."""
        return self.shares.binds(self.share_after(fair), self.share_after(free))


def make_layer(
    cs: CoverageSets,
    group_of: NDArray[np.int64],
    labels: list[str],
    *,
    field: str,
    value: float,
    grouping: str,
) -> FairLayer:
    """A :class:`FairLayer` on the coverage sets ``cs``: a share floor ``value`` (or 0.95 for a p95 ceiling),
    checked to be reachable with every candidate built."""
    share = P95 if field == "max_p95_per_area_minutes" else float(value)
    shares = group_shares(cs, group_of, labels, share, field=field)
    if field == "max_p95_per_area_minutes":
        shares.check_reachable(f"{field} {value:g} ({P95:g} of each area's weight within {value:g} min)")
    else:
        shares.check_reachable(f"{field} {value:g}")
    return FairLayer(field, float(value), grouping, group_of, cs, shares)


def price_of_fairness(free_new: float, fair_new: float, *, before: float, total: float) -> dict[str, float]:
    """From the newly covered weight of the unconstrained (``free_new``) and the fair optimum (``fair_new``):
    ``weight`` (their difference; differences within 1e-9 relative are 0), ``share`` (of all demand weight
    ``total``), ``relative`` (of the unconstrained covered weight, ``before`` included),
    ``unconstrained_covered`` and ``fair_covered`` (``before`` included)."""
    weight = free_new - fair_new
    if abs(weight) <= 1e-9 * max(abs(free_new), 1.0):
        weight = 0.0
    free = before + free_new
    return {
        "weight": weight,
        "share": weight / total if total > 0 else 0.0,
        "relative": weight / free if free > 0 else 0.0,
        "unconstrained_covered": free,
        "fair_covered": before + fair_new,
    }
