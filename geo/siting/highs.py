"""HiGHS for the siting models: one silent instance per solve, models passed as arrays (row-wise CSR).

:func:`solve_milp` solves a mixed-integer (or, with ``relax=True``, its linear relaxation) model and returns
a :class:`HighsRun`: the solution, objective, HiGHS's proven dual bound, gap and status. The covering
models are set up here and only here: :func:`mclp_model` (the compact maximal covering MIP with per-area
minimum counts and the coverage-share rows of :class:`ShareRows`), with :func:`link_rows` and
:func:`area_rows` shared by the set covering model of :mod:`geo.siting.models`. Columns and rows are plain
numbers; nothing here knows about networks or geometries.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from geo.errors import InfeasibleError

log = logging.getLogger(__name__)

_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kInterrupt: "time_limit",
    highspy.HighsModelStatus.kSolutionLimit: "time_limit",
}


@dataclass(frozen=True)
class HighsRun:
    """One HiGHS solve.

    Attributes
    ----------
    x : numpy.ndarray
        Column values of the best solution found.
    objective : float
        Its objective value.
    bound : float
        Proven dual bound (upper when maximising, lower when minimising); for an LP solved to optimality the
        LP optimum itself.
    gap : float
        HiGHS's relative MIP gap (0 for an optimal LP).
    status : str
        ``optimal`` or ``time_limit``.
    seconds : float
        Wall time of ``run``.
    col_dual : numpy.ndarray
        Reduced costs ``c_j - a_j^T π`` of an LP solved to optimality (empty otherwise).
    """

    x: NDArray[np.float64]
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    col_dual: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance: the copyright banner HiGHS writes to file descriptor 1 when an instance is
    made is sent to /dev/null so that stdout stays clean (``yizhan site --json``)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no real stdout
        h = highspy.Highs()
    else:
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


def _model(
    col_cost: NDArray[np.float64],
    col_upper: NDArray[np.float64],
    rows: sp.csr_matrix,
    row_lower: NDArray[np.float64],
    row_upper: NDArray[np.float64],
    *,
    maximize: bool,
) -> highspy.HighsLp:
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    n = col_cost.size
    lp.num_col_ = n
    lp.num_row_ = rows.shape[0]
    lp.col_cost_ = col_cost
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = col_upper
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf)
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = rows.shape[0]
    lp.a_matrix_.start_ = rows.indptr.astype(np.int32)
    lp.a_matrix_.index_ = rows.indices.astype(np.int32)
    lp.a_matrix_.value_ = rows.data.astype(np.float64)
    return lp


def solve_milp(
    *,
    col_cost: NDArray[np.float64],
    col_upper: NDArray[np.float64],
    integer: NDArray[np.bool_],
    rows: sp.csr_matrix,
    row_lower: NDArray[np.float64],
    row_upper: NDArray[np.float64],
    maximize: bool,
    time_limit_seconds: float,
    start: NDArray[np.float64] | None = None,
    relax: bool = False,
    mip_rel_gap: float = 1e-9,
) -> HighsRun:
    """Build the model with the array API (``passModel``) and solve it with HiGHS on one thread.

    ``start`` is a feasible column vector handed to HiGHS as the incumbent (``setSolution``); ``relax``
    drops integrality (the LP relaxation, whose optimum is a proven bound of the MIP), solved by the
    interior-point method with crossover.

    Raises
    ------
    InfeasibleError
        HiGHS found no feasible solution within the limit.
    """
    lp = _model(col_cost, col_upper, rows, row_lower, row_upper, maximize=maximize)
    if not relax:
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous for flag in integer
        ]
    h = new_highs()
    h.setOptionValue("time_limit", float(max(time_limit_seconds, 1e-3)))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("mip_abs_gap", 1e-9)
    h.setOptionValue("threads", 1)
    if relax:
        h.setOptionValue("solver", "ipm")  # 10-40x faster than simplex on covering LPs
    h.passModel(lp)
    n = col_cost.size
    if start is not None and not relax:
        h.setSolution(n, np.arange(n, dtype=np.int32), start.astype(np.float64))
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    status = h.getModelStatus()
    info = h.getInfo()
    name = _STATUS.get(status)
    if name is None or info.primal_solution_status != 2:
        msg = f"HiGHS found no feasible solution (status {h.modelStatusToString(status)})"
        raise InfeasibleError(msg)
    x = np.asarray(h.getSolution().col_value, dtype=np.float64)
    obj = float(info.objective_function_value)
    if relax:
        bound = obj if name == "optimal" else (math.inf if maximize else -math.inf)
        dual = np.asarray(h.getSolution().col_dual, dtype=np.float64) if name == "optimal" else np.zeros(0)
        return HighsRun(x, obj, bound, 0.0, name, seconds, dual)
    gap = max(0.0, float(info.mip_gap)) if math.isfinite(info.mip_gap) else math.inf
    return HighsRun(x, obj, float(info.mip_dual_bound), gap, name, seconds)


# ------------------------------------------------------------------------------ the compact MCLP model


@dataclass(frozen=True)
class ShareRows:
    """Coverage-share rows of one coverage layer (fairness constraints, see :func:`mclp_model`).

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Candidates × layer columns (0/1): candidate ``j`` reaches column ``k`` within the layer's cutoff.
        A column stands for demand points of one group that no existing station reaches within that cutoff
        and that share one candidate set.
    group_weight : scipy.sparse.csr_matrix
        Groups × layer columns: the weight of group ``g`` in column ``k``.
    need : numpy.ndarray
        Per group, the weight that new stations must cover within the cutoff (a row only where > 0).
    labels : list of str
        Group names for messages.
    field : str
        The request's argument the rows come from (named in errors).
    """

    matrix: sp.csr_matrix
    group_weight: sp.csr_matrix
    need: NDArray[np.float64]
    labels: list[str]
    field: str

    def rows_of(self, keep: NDArray[np.int64]) -> ShareRows:
        """The same rows on the candidates ``keep`` (row indices) only."""
        sub = sp.csr_matrix(self.matrix[keep])
        return ShareRows(sub, self.group_weight, self.need, self.labels, self.field)

    def met(self, selected: NDArray[np.int64], *, tol: float = 1e-9) -> NDArray[np.bool_]:
        """Bool per group: the selection covers the group's ``need`` (groups without a need are met)."""
        hit = np.zeros(self.matrix.shape[1])
        sel = np.asarray(selected, dtype=np.int64)
        if sel.size:
            hit[np.unique(self.matrix[sel].indices)] = 1.0
        got = np.asarray(self.group_weight @ hit).ravel()
        return np.asarray(got >= self.need - tol * np.maximum(np.abs(self.need), 1.0), dtype=bool)


@dataclass(frozen=True)
class MilpModel:
    """A model as arrays: columns (cost, upper bound, integrality; lower bounds 0) and row-wise CSR rows."""

    col_cost: NDArray[np.float64]
    col_upper: NDArray[np.float64]
    integer: NDArray[np.bool_]
    rows: sp.csr_matrix
    row_lower: NDArray[np.float64]
    row_upper: NDArray[np.float64]
    maximize: bool

    def solve(
        self,
        *,
        time_limit_seconds: float,
        start: NDArray[np.float64] | None = None,
        relax: bool = False,
        mip_rel_gap: float = 1e-9,
    ) -> HighsRun:
        """:func:`solve_milp` on this model."""
        return solve_milp(col_cost=self.col_cost, col_upper=self.col_upper, integer=self.integer,
                          rows=self.rows, row_lower=self.row_lower, row_upper=self.row_upper,
                          maximize=self.maximize, time_limit_seconds=time_limit_seconds, start=start,
                          relax=relax, mip_rel_gap=mip_rel_gap)  # fmt: skip


@dataclass(frozen=True)
class Cover:
    """A prepared maximal covering instance (see :func:`geo.siting.models.prepare`), the one argument of the
    model builders and solvers: coverage ``a`` (CSR 0/1, candidates × columns), column weights ``w``,
    candidate cost ``c``, area ``ar`` (−1 none) and per-area minimum count ``need``, exactly one of ``p``
    (at most ``p`` sites) or ``budget``, and the coverage-share rows ``shares``."""

    a: sp.csr_matrix
    w: NDArray[np.float64]
    c: NDArray[np.float64]
    ar: NDArray[np.int64]
    need: NDArray[np.int64]
    p: int | None
    budget: float | None
    shares: tuple[ShareRows, ...] = ()

    @classmethod
    def plain(cls, a: sp.csr_matrix, w: NDArray[np.float64], *, p: int) -> Cover:
        """At most ``p`` sites of unit cost, no areas, no share rows."""
        n = a.shape[0]
        return cls(a, w, np.ones(n), np.full(n, -1, dtype=np.int64), np.zeros(0, dtype=np.int64), p, None)

    def rows_of(self, keep: NDArray[np.int64]) -> Cover:
        """The same instance on the candidates ``keep`` (row indices) only."""
        return Cover(sp.csr_matrix(self.a[keep]), self.w, self.c[keep], self.ar[keep], self.need, self.p,
                     self.budget, tuple(s.rows_of(keep) for s in self.shares))  # fmt: skip


def link_rows(a_hit: sp.csr_matrix, *, offset: int, n_col: int) -> sp.csr_matrix:
    """Rows ``x_k - Σ_{j covers k} y_j ≤ 0`` over ``n_col`` columns: ``y`` first (one per row of ``a_hit``),
    ``x`` at columns ``offset ..`` (one per column of ``a_hit``)."""
    m = a_hit.shape[1]
    cov = a_hit.T.tocoo()
    rows = np.concatenate([cov.row, np.arange(m)])
    cols = np.concatenate([cov.col, offset + np.arange(m)])
    vals = np.concatenate([-np.ones(cov.nnz), np.ones(m)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(m, n_col))


def mclp_model(cover: Cover) -> tuple[MilpModel, NDArray[np.int64]]:
    """The compact maximal covering MIP of ``cover``, the one place it is set up.

    Columns: binary ``y_j`` (open candidate ``j``), ``0 ≤ x_i ≤ 1`` (column ``i`` of ``a`` covered; only
    columns some candidate reaches), then for every share layer ``L`` its ``0 ≤ z^L_k ≤ 1``. Maximise
    ``Σ w_i x_i`` subject to

    * ``x_i ≤ Σ_{j covers i} y_j``;
    * ``Σ y_j ≤ p`` or ``Σ cost_j y_j ≤ budget``;
    * ``Σ_{j in area a} y_j ≥ need[a]`` (per-area minimum count);
    * per layer ``L``: ``z^L_k ≤ Σ_{j reaches k} y_j`` and ``Σ_k G^L[g, k] z^L_k ≥ need^L[g]`` for every
      group ``g`` with ``need^L[g] > 0`` (see :class:`ShareRows`).

    ``z`` may be 1 only where an open candidate reaches the column, and a larger ``z`` only loosens the
    share rows, so a selection ``y`` is feasible exactly when every group's newly covered weight at the
    layer's cutoff reaches its need.

    Returns
    -------
    model, hit
        The model and the columns of ``a`` that are its ``x``.
    """
    a, w, c, ar, need, p, budget = cover.a, cover.w, cover.c, cover.ar, cover.need, cover.p, cover.budget
    n_cand = a.shape[0]
    hit = np.flatnonzero(np.diff(a.tocsc().indptr) > 0)
    a_hit = sp.csr_matrix(a[:, hit])
    live = [s for s in cover.shares if np.any(s.need > 0)]
    n_col = n_cand + hit.size + sum(s.matrix.shape[1] for s in live)
    blocks = [link_rows(a_hit, offset=n_cand, n_col=n_col)]
    lower = [np.full(hit.size, -np.inf)]
    upper = [np.zeros(hit.size)]
    per_site = np.ones(n_cand) if p is not None else c  # Σ y_j ≤ p, or Σ cost_j y_j ≤ budget
    blocks.append(sp.csr_matrix((per_site, (np.zeros(n_cand), np.arange(n_cand))), shape=(1, n_col)))
    upper.append(np.array([float(p if p is not None else budget)]))  # type: ignore[arg-type]
    lower.append(np.array([-np.inf]))
    area_rows(ar, need, n_col, blocks, lower, upper)
    offset = n_cand + hit.size
    for s in live:
        _share_blocks(s, offset, n_col, blocks, lower, upper)
        offset += s.matrix.shape[1]
    model = MilpModel(
        col_cost=np.concatenate([np.zeros(n_cand), w[hit], np.zeros(n_col - n_cand - hit.size)]),
        col_upper=np.ones(n_col),
        integer=np.arange(n_col) < n_cand,
        rows=sp.vstack(blocks, format="csr"),
        row_lower=np.concatenate(lower),
        row_upper=np.concatenate(upper),
        maximize=True,
    )
    return model, hit


def area_rows(
    ar: NDArray[np.int64],
    need: NDArray[np.int64],
    n_col: int,
    blocks: list[sp.csr_matrix],
    lower: list[NDArray[np.float64]],
    upper: list[NDArray[np.float64]],
) -> None:
    """Append the per-area minimum rows ``Σ_{j in area a} y_j ≥ need[a]`` (areas with a need only; ``y`` are
    the first columns)."""
    short = np.flatnonzero(need > 0)
    if not short.size:
        return
    ok = (ar >= 0) & np.isin(ar, short)
    r = np.searchsorted(short, ar[ok])
    blocks.append(sp.csr_matrix((np.ones(r.size), (r, np.flatnonzero(ok))), shape=(short.size, n_col)))
    lower.append(need[short].astype(np.float64))
    upper.append(np.full(short.size, np.inf))


def _share_blocks(
    s: ShareRows,
    offset: int,
    n_col: int,
    blocks: list[sp.csr_matrix],
    lower: list[NDArray[np.float64]],
    upper: list[NDArray[np.float64]],
) -> None:
    """Append one layer's link rows and its group rows ``Σ_k G[g, k] z_k ≥ need[g]`` (groups with a need)."""
    m = s.matrix.shape[1]
    blocks.append(link_rows(sp.csr_matrix(s.matrix), offset=offset, n_col=n_col))
    lower.append(np.full(m, -np.inf))
    upper.append(np.zeros(m))
    short = np.flatnonzero(s.need > 0)
    g = sp.csr_matrix(s.group_weight)[short].tocoo()
    blocks.append(sp.csr_matrix((g.data, (g.row, offset + g.col)), shape=(short.size, n_col)))
    lower.append(s.need[short] * (1 - 1e-9))
    upper.append(np.full(short.size, np.inf))
