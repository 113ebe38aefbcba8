"""HiGHS for the siting models: one silent instance per solve, models passed as arrays (row-wise CSR).

:func:`solve_milp` solves a mixed-integer (or, with ``relax=True``, its linear relaxation) model and returns
a :class:`HighsRun`: the solution, objective, HiGHS's proven dual bound, gap and status. Columns and rows
are plain numbers; nothing here knows about networks or geometries.
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
