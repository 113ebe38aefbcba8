"""Presolve for the siting models: smaller equivalent instances on plain arrays.

On a candidates × columns coverage matrix (see :mod:`geo.siting.models`; demand covered by the fixed
existing stations is already out, identical columns already merged by
:func:`geo.siting.coverage_sets.merge_columns`):

1. **dominated candidates** are removed: ``j`` is dominated by ``k`` when ``j``'s covered columns are a
   subset of ``k``'s and ``k`` costs no more (and lies in the same area when areas are constrained); ties
   between identical candidates keep the first. Any feasible selection with ``j`` stays feasible and covers
   at least as much with ``j`` replaced by its dominator (or dropped when that is already selected), so
   the optimum of "at most ``p``", "within a budget" and "fewest sites" is unchanged. Candidates of an
   area that still needs stations are never removed (the count there matters), nor are candidates covering
   nothing in such an area;
2. columns are **re-merged** (columns that differed only by removed candidates become identical);
3. the instance is **split into independent components**: candidates that share no column, directly or
   through others, can be solved separately (:func:`components`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.sparse.csgraph import connected_components

from geo.siting.coverage_sets import merge_columns

log = logging.getLogger(__name__)

#: dominance needs the candidates × candidates overlap (Σ over columns of their candidates²); above this
#: many products it is skipped (the rest of the presolve still runs)
DOMINANCE_MAX_WORK = 1_500_000_000


@dataclass(frozen=True)
class Presolved:
    """A presolved instance and the way back to the original rows.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix
        Kept candidates × re-merged columns (float 0/1).
    weights : numpy.ndarray
        Weight of each re-merged column.
    kept : numpy.ndarray
        Original row index of each kept candidate.
    cost, area_of : numpy.ndarray
        The kept candidates' cost and area index.
    stats : dict
        ``candidates``, ``dominated``, ``columns_before``, ``columns``, ``dominance_skipped`` (0/1).
    """

    matrix: sp.csr_matrix
    weights: NDArray[np.float64]
    kept: NDArray[np.int64]
    cost: NDArray[np.float64]
    area_of: NDArray[np.int64]
    stats: dict[str, int] = field(default_factory=dict)


def dominated(
    a: sp.csr_matrix,
    cost: NDArray[np.float64],
    area_of: NDArray[np.int64],
    *,
    protect: NDArray[np.bool_],
    same_area: bool,
) -> NDArray[np.bool_]:
    """Bool per candidate: dominated by another candidate (see the module docstring) and not protected.

    ``same_area`` requires the dominator to lie in the same area. The relation (subset, no dearer, and
    strictly better or the same with a lower index) is a strict partial order, so every removed candidate
    has a kept dominator.
    """
    n = a.shape[0]
    size = np.diff(a.indptr)
    out = (size == 0) & ~protect
    ov = (a @ a.T).tocoo()
    j, k, cnt = ov.row, ov.col, ov.data
    sub = (j != k) & (np.rint(cnt).astype(np.int64) == size[j])
    j, k = j[sub], k[sub]
    better = (cost[k] <= cost[j]) & (
        (size[k] > size[j]) | (cost[k] < cost[j]) | ((cost[k] == cost[j]) & (k < j))
    )
    if same_area:
        better &= area_of[k] == area_of[j]
    hit = np.zeros(n, dtype=bool)
    hit[j[better]] = True
    return out | (hit & ~protect)


def presolve(
    a: sp.csr_matrix,
    w: NDArray[np.float64],
    cost: NDArray[np.float64],
    area_of: NDArray[np.int64],
    area_need: NDArray[np.int64],
    *,
    compare_cost: bool,
    also: tuple[sp.csr_matrix, ...] = (),
) -> Presolved:
    """Remove dominated candidates and re-merge columns (the module docstring says why this is exact).

    ``compare_cost`` makes a dominator's cost count (budget models); without it only the covered sets
    matter (a count of sites). ``a`` is CSR float 0/1 with sorted indices (see
    :func:`geo.siting.models.prepare`). ``also`` are further candidates × columns matrices (the coverage
    layers of share constraints): a dominator must cover a superset in each of them too, so a selection
    keeps every share it had when a dominated candidate is swapped for its dominator; only ``a``'s
    columns are re-merged.
    """
    n, m = a.shape
    needy = area_need.size > 0 and bool(np.any(area_need > 0))
    protect = np.zeros(n, dtype=bool)
    if needy:
        ok = area_of >= 0
        protect[ok] = area_need[area_of[ok]] > 0
    deg = np.diff(a.tocsc().indptr).astype(np.float64)
    work = float((deg * deg).sum())
    skipped = work > DOMINANCE_MAX_WORK
    if skipped:
        drop = (np.diff(a.indptr) == 0) & ~protect
    else:
        c = cost if compare_cost else np.zeros(n)
        both = sp.csr_matrix(sp.hstack([a, *also], format="csr"), dtype=np.float64) if also else a
        drop = dominated(both, c, area_of, protect=protect, same_area=needy)
    kept = np.flatnonzero(~drop)
    sub = a[kept]
    merged, weights, _ = merge_columns(sub, w, np.ones(m, dtype=bool))
    matrix = sp.csr_matrix(merged, dtype=np.float64)
    matrix.sort_indices()
    stats = {
        "candidates": int(n),
        "dominated": int(drop.sum()),
        "columns_before": int(m),
        "columns": int(matrix.shape[1]),
        "dominance_skipped": int(skipped),
    }
    log.info("presolve: %s", stats)
    return Presolved(matrix, weights, kept, cost[kept], area_of[kept], stats)


def components(a: sp.csr_matrix) -> tuple[int, NDArray[np.int64], NDArray[np.int64]]:
    """Independent components of a coverage matrix: candidates linked by a shared column, transitively.

    Returns
    -------
    n_components, of_candidate, of_column
        The count and each row's and each column's component label (a column with no candidate gets a
        component of its own).
    """
    n, m = a.shape
    pattern = sp.csr_matrix((np.ones(a.nnz), a.indices, a.indptr), shape=(n, m))
    graph = sp.bmat([[None, pattern], [pattern.T, None]], format="csr")
    count, labels = connected_components(graph, directed=False)
    return int(count), labels[:n].astype(np.int64), labels[n:].astype(np.int64)
