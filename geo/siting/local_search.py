"""Swap local search for maximal covering: improve a selection of ``p`` sites by exchanging one site.

Works on a candidates × columns coverage matrix (see :mod:`geo.siting.models`). Each round computes, for
every selected site ``j`` and unselected candidate ``k`` at once (two sparse products), the change of
covered weight if ``k`` replaced ``j``::

    delta(k, j) = gain0(k) + shared(k, j) - loss(j)

with ``gain0(k)`` the uncovered weight ``k`` covers, ``loss(j)`` the weight only ``j`` covers and
``shared(k, j)`` the part of ``loss(j)`` that ``k`` covers too. The best exchange is applied while it gains.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

log = logging.getLogger(__name__)


def _best_swap(
    a: sp.csr_matrix, w: NDArray[np.float64], sel: NDArray[np.int64], counts: NDArray[np.int64]
) -> tuple[float, int, int]:
    """(delta, k, position of j in ``sel``) of the best single exchange."""
    g0 = np.asarray(a @ np.where(counts == 0, w, 0.0)).ravel()
    only = np.flatnonzero(counts == 1)
    u = sp.csr_matrix(a[sel][:, only].multiply(w[only][None, :]))
    loss = np.asarray(u.sum(axis=1)).ravel()
    shared = sp.coo_matrix(a[:, only] @ u.T)
    outside = np.ones(a.shape[0], dtype=bool)
    outside[sel] = False
    g0_out = np.where(outside, g0, -np.inf)
    k0 = int(np.argmax(g0_out))
    j0 = int(np.argmin(loss))
    best = (float(g0_out[k0] - loss[j0]), k0, j0)
    if shared.nnz:
        ok = outside[shared.row]
        d = g0[shared.row[ok]] + shared.data[ok] - loss[shared.col[ok]]
        if d.size and float(d.max()) > best[0]:
            t = int(np.argmax(d))
            best = (float(d[t]), int(shared.row[ok][t]), int(shared.col[ok][t]))
    return best


def swap_improve(
    a: sp.csr_matrix,
    w: NDArray[np.float64],
    selected: NDArray[np.int64],
    *,
    time_limit_seconds: float = 5.0,
    max_rounds: int = 10_000,
) -> NDArray[np.int64]:
    """Improve ``selected`` (distinct row indices) by best-improvement single exchanges.

    Stops when no exchange gains more than ``1e-9`` relative weight, after ``max_rounds`` exchanges or
    after ``time_limit_seconds``. The result covers at least as much as ``selected`` and has its size.
    """
    t0 = time.perf_counter()
    sel = np.asarray(selected, dtype=np.int64).copy()
    if sel.size == 0 or sel.size >= a.shape[0]:
        return sel
    counts = np.asarray(a[sel].sum(axis=0)).ravel().astype(np.int64)
    tol = 1e-9 * max(float(w.sum()), 1.0)
    rounds = 0
    while rounds < max_rounds and time.perf_counter() - t0 < time_limit_seconds:
        delta, k, pos = _best_swap(a, w, sel, counts)
        if delta <= tol:
            break
        j = int(sel[pos])
        counts[a.indices[a.indptr[j] : a.indptr[j + 1]]] -= 1
        counts[a.indices[a.indptr[k] : a.indptr[k + 1]]] += 1
        sel[pos] = k
        rounds += 1
    log.info("swap local search: %d exchanges in %.2fs", rounds, time.perf_counter() - t0)
    return sel
