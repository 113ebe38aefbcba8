"""Capacitated maximal covering: add ``p`` stations when every station can serve only so much demand.

Plain MCLP (:mod:`geo.siting.models`) counts a demand point as served as soon as one station is within
the cutoff; here each station ``j`` serves at most its capacity ``C_j`` (in demand-weight units, e.g.
visits per day when weights count daily visitors) and demand is assigned to stations within the cutoff
only. Existing stations stay open with their capacities (:func:`geo.capacity.station_capacity`).

Mathematics. ``E`` the existing stations, ``C`` the candidates, demand columns ``i`` with weight
``w_i``, ``N_i`` the stations and candidates within the cutoff of ``i`` (the project's travel time,
:mod:`geo.capacity.travel`)::

    maximise    Σ_i Σ_{j ∈ N_i} x_ij                                  (demand weight served)
    subject to  Σ_{j ∈ N_i} x_ij ≤ w_i                    for every i  (no more than the demand)
                Σ_{i : j ∈ N_i} x_ij ≤ C_j y_j            for j ∈ C   (only if built, within capacity)
                Σ_{i : j ∈ N_i} x_ij ≤ C_j                for j ∈ E
                x_ij ≤ min(w_i, C_j) y_j                  for j ∈ C   (valid; tightens the LP bound)
                Σ_{j ∈ C} y_j ≤ p
                x_ij ≥ 0,  y_j ∈ {0, 1}

For a fixed choice ``y`` the ``x`` part is a maximum flow (source → point ``i`` with capacity ``w_i``
→ station ``j ∈ N_i`` → sink with capacity ``C_j``), the reference the tests solve with networkx.
With every ``C_j ≥ Σ w`` the capacity rows never bind and the optimum equals plain MCLP's covered weight
(existing stations' coverage included). Demand points with the same set ``N_i`` are merged into one
column (weights summed): any flow of the column splits among its points in proportion to their weights,
so the optimum is unchanged; that split is each point's ``served``. Solved by HiGHS
(:func:`geo.siting.highs.solve_milp`); the build order puts the site with the largest load first, and
each site's ``gain`` is the increase of the optimal assignment (an LP) when it opens after those before.
All geometries are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from geo.checks import check_capacities, check_count, check_minutes, check_non_negative, check_positive
from geo.errors import InputError
from geo.siting.highs import solve_milp
from geo.siting.result import SitingResult

log = logging.getLogger(__name__)

__all__ = [
    "CapacitatedResult", "CapacitatedSolution", "assignment_lp", "capacitated_mclp", "plan_capacitated",
]


@dataclass(frozen=True)
class CapacitatedSolution:
    """The optimal sites and assignment of one capacitated MCLP.

    Attributes
    ----------
    selected : ndarray of int64
        Candidate rows chosen, in build order (largest load first).
    served : float
        Demand weight served (the objective).
    column_served : ndarray
        Weight served of every demand column.
    station_load, candidate_load : ndarray
        Weight assigned to every existing station and every candidate (0 when not built).
    bound, gap : float
        HiGHS's proven upper bound on the served weight and the relative gap.
    status : str
        ``optimal`` or ``time_limit``.
    seconds : float
    """

    selected: NDArray[np.int64]
    served: float
    column_served: NDArray[np.float64]
    station_load: NDArray[np.float64]
    candidate_load: NDArray[np.float64]
    bound: float
    gap: float
    status: str
    seconds: float


def _pairs(reach: sp.spmatrix) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    coo = sp.coo_matrix(reach)
    keep = coo.data != 0
    return coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)


def _model(
    fixed: sp.spmatrix, free: sp.spmatrix, w: NDArray[np.float64], cap_fixed: NDArray[np.float64],
    cap_free: NDArray[np.float64], p: int | None, tighten: bool,
) -> dict[str, Any]:
    """Arrays of the MIP of the module doc: columns ``y`` (free sites), then ``x`` of fixed pairs, then
    ``x`` of free pairs; rows: demand, fixed capacity, free capacity, tightening, cardinality."""
    n_col, n_e, n_c = w.size, cap_fixed.size, cap_free.size
    fj, fi = _pairs(fixed)
    cj, ci = _pairs(free)
    n_x = fj.size + cj.size
    xi = np.concatenate([fi, ci])
    x_cols = n_c + np.arange(n_x)
    free_x = n_c + fj.size + np.arange(cj.size)
    blocks = [  # (row ids, column ids, values)
        (xi, x_cols, np.ones(n_x)),                                          # demand rows
        (n_col + fj, n_c + np.arange(fj.size), np.ones(fj.size)),            # existing stations
        (n_col + n_e + cj, free_x, np.ones(cj.size)),                        # candidates: x ...
        (n_col + n_e + np.arange(n_c), np.arange(n_c), -cap_free),           # ... − C_j y_j
    ]
    upper = [w, cap_fixed, np.zeros(n_c)]
    base = n_col + n_e + n_c
    if tighten and cj.size:
        k = np.arange(cj.size)
        blocks += [(base + k, free_x, np.ones(cj.size)), (base + k, cj, -np.minimum(w[ci], cap_free[cj]))]
        upper.append(np.zeros(cj.size))
        base += cj.size
    if p is not None and n_c:
        blocks.append((np.full(n_c, base), np.arange(n_c), np.ones(n_c)))
        upper.append(np.array([float(p)]))
        base += 1
    rows = sp.csr_matrix(
        (np.concatenate([b[2] for b in blocks]),
         (np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks]))),
        shape=(base, n_c + n_x),
    )
    return {
        "col_cost": np.concatenate([np.zeros(n_c), np.ones(n_x)]),
        "col_upper": np.concatenate([np.ones(n_c), w[xi]]),
        "integer": np.concatenate([np.ones(n_c, dtype=bool), np.zeros(n_x, dtype=bool)]),
        "rows": rows, "row_lower": np.full(base, -np.inf), "row_upper": np.concatenate(upper),
        "pairs": (fj, fi, cj, ci),
    }


def _loads(
    x: NDArray[np.float64], n_c: int, pairs: tuple[NDArray[np.int64], ...], n_col: int, n_e: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    fj, fi, cj, ci = pairs
    xf, xc = np.maximum(x[n_c : n_c + fj.size], 0.0), np.maximum(x[n_c + fj.size :], 0.0)
    column = np.bincount(fi, weights=xf, minlength=n_col) + np.bincount(ci, weights=xc, minlength=n_col)
    return (column.astype(np.float64), np.bincount(fj, weights=xf, minlength=n_e).astype(np.float64),
            np.bincount(cj, weights=xc, minlength=n_c).astype(np.float64))


def _checked(
    fixed: sp.spmatrix, free: sp.spmatrix, weights: Any, station_capacity: Any, candidate_capacity: Any
) -> tuple[sp.csr_matrix, sp.csr_matrix, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    w = check_capacities(np.asarray(weights, dtype=object), field="weights")
    a, b = sp.csr_matrix(fixed, dtype=np.float64), sp.csr_matrix(free, dtype=np.float64)
    if a.shape[1] != w.size or b.shape[1] != w.size:
        raise InputError(f"reach matrices need {w.size} columns (one per demand weight), got "
                         f"{a.shape[1]} and {b.shape[1]}", field="weights")
    ce = check_capacities(np.atleast_1d(np.asarray(station_capacity, dtype=object)), field="station_capacity")
    cc = check_capacities(np.atleast_1d(np.asarray(candidate_capacity, dtype=object)),
                          field="candidate_capacity")
    if ce.size != a.shape[0] or cc.size != b.shape[0]:
        raise InputError(f"{a.shape[0]} stations and {b.shape[0]} candidates need as many capacities, got "
                         f"{ce.size} and {cc.size}", field="candidate_capacity")
    return a, b, w, ce, cc


def assignment_lp(
    reach: sp.spmatrix, weights: Any, capacity: Any, *, time_limit_seconds: float = 60.0
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """The most demand weight open stations can serve within capacity and cutoff (the ``x`` part of the
    model for a fixed set of stations: a transportation LP). ``reach`` is stations × demand columns.

    Returns ``(served, served per column, load per station)``.
    """
    a, _, w, cap, _ = _checked(reach, sp.csr_matrix((0, np.shape(reach)[1])), weights, capacity, [])
    m = _model(a, sp.csr_matrix((0, w.size)), w, cap, np.zeros(0), None, False)
    if m["col_cost"].size == 0:
        return 0.0, np.zeros(w.size), np.zeros(cap.size)
    pairs = m.pop("pairs")
    run = solve_milp(**m, maximize=True, time_limit_seconds=time_limit_seconds, relax=True)
    column, load, _ = _loads(run.x, 0, pairs, w.size, cap.size)
    return float(column.sum()), column, load


def capacitated_mclp(
    station_reach: sp.spmatrix,
    candidate_reach: sp.spmatrix,
    weights: Any,
    *,
    station_capacity: Any,
    candidate_capacity: Any,
    p: int,
    time_limit_seconds: float = 60.0,
    tighten: bool = True,
) -> CapacitatedSolution:
    """Solve the capacitated MCLP of the module doc with HiGHS.

    Parameters
    ----------
    station_reach, candidate_reach : scipy.sparse matrix
        Existing stations × demand columns and candidates × demand columns; non-zero where the demand
        is within the cutoff.
    weights : array-like
        Demand weight of every column (≥ 0).
    station_capacity, candidate_capacity : array-like
        Capacity of every station and candidate (≥ 0, demand-weight units).
    p : int
        At most this many candidates are built.
    time_limit_seconds : float
        HiGHS wall-time limit.
    tighten : bool
        Add the valid inequalities ``x_ij ≤ min(w_i, C_j) y_j`` (same optimum, tighter LP bound).

    Returns
    -------
    CapacitatedSolution
    """
    a, b, w, cap_e, cap_c = _checked(station_reach, candidate_reach, weights, station_capacity,
                                     candidate_capacity)
    p = check_count(p, field="add", minimum=0)
    time_limit_seconds = check_positive(time_limit_seconds, field="time_limit_seconds", unit="seconds")
    t0 = time.perf_counter()
    m = _model(a, b, w, cap_e, cap_c, p, tighten)
    pairs = m.pop("pairs")
    n_c = cap_c.size
    if m["col_cost"].size == 0:
        return CapacitatedSolution(np.zeros(0, dtype=np.int64), 0.0, np.zeros(w.size), np.zeros(cap_e.size),
                                   np.zeros(n_c), 0.0, 0.0, "optimal", 0.0)
    run = solve_milp(**m, maximize=True, time_limit_seconds=time_limit_seconds)
    column, load_e, load_c = _loads(run.x, n_c, pairs, w.size, cap_e.size)
    chosen = np.flatnonzero(run.x[:n_c] > 0.5)
    chosen = chosen[load_c[chosen] > 1e-9]  # a built site that serves nothing is not proposed
    order = chosen[np.lexsort((chosen, -load_c[chosen]))]
    served = float(column.sum())
    log.info("capacitated MCLP: %d sites, served %.6g (bound %.6g, %s)", order.size, served, run.bound,
             run.status)
    return CapacitatedSolution(
        selected=order.astype(np.int64), served=served, column_served=column, station_load=load_e,
        candidate_load=load_c, bound=max(float(run.bound), served), gap=float(run.gap), status=run.status,
        seconds=time.perf_counter() - t0,
    )


# ------------------------------------------------------------------------------------------ frames
@dataclass(frozen=True, eq=False)
class CapacitatedResult:
    """A capacitated siting run on frames.

    Attributes
    ----------
    siting : SitingResult
        The proposals in build order as plain siting reports them (``model`` ``capacitated_mclp``);
        ``covered_before``/``covered_after`` are the weight *served* within capacity, ``gain`` each
        site's increase of it, ``reachable_share`` what every candidate together could serve.
    facilities : DataFrame
        Every open station and proposed site: ``role`` (``station``/``site``), ``id``, ``name``,
        ``capacity``, ``load`` (weight assigned), ``utilisation`` (load / capacity), ``lon``, ``lat``.
    demand : GeoDataFrame
        The demand + ``served_before``, ``served_after`` (weight served of each point) and
        ``reached_after`` (within the cutoff of an open station or site), EPSG:4326.
    summary : dict
        ``total_weight``, ``served_before``, ``served_after``, ``reached_after`` (weight within reach),
        ``over_capacity`` (reached but not served: PlanWise's "covered but over capacity"),
        ``not_reached``, ``station_capacity_sources`` and ``capacity_per_site``.
    """

    siting: SitingResult
    facilities: pd.DataFrame
    demand: gpd.GeoDataFrame
    summary: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The siting result's JSON (:meth:`SitingResult.as_dict`) + ``capacity`` (the summary) +
        ``facilities`` rows."""
        rows = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in self.facilities.to_dict(orient="records")]
        return {**self.siting.as_dict(), "model": self.siting.model, "capacity": dict(self.summary),
                "facilities": rows}


@dataclass(frozen=True)
class _Instance:
    """The merged instance: reach of stations and candidates over merged demand columns."""

    a: sp.csr_matrix
    b: sp.csr_matrix
    w: NDArray[np.float64]
    column_of: NDArray[np.int64]
    cap_e: NDArray[np.float64]
    cap_c: NDArray[np.float64]
    weight: NDArray[np.float64]
    reach_e: sp.csr_matrix
    reach_c: sp.csr_matrix
    unsnappable: dict[str, int]


def _reach(network: Any, frame: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, minutes: float,
           snap_meters: float) -> tuple[sp.csr_matrix, int]:
    from geo.capacity import travel_pairs

    pairs = travel_pairs(network, demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy(),
                         frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy(), minutes=minutes,
                         snap_meters=snap_meters)
    m = sp.csr_matrix((np.ones(len(pairs), dtype=bool), (pairs.station, pairs.point)),
                      shape=(len(frame), len(demand)))
    return m, int(np.sum(~pairs.station_snapped))


def _instance(network: Any, fixed: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, demand: gpd.GeoDataFrame,
              cap_e: NDArray[np.float64], cap_c: NDArray[np.float64], minutes: float,
              snap_meters: float) -> _Instance:
    from geo.siting.coverage_sets import merge_columns

    w = check_capacities(demand["weight"], field="weight")
    reach_e, bad_e = _reach(network, fixed, demand, minutes, snap_meters)
    reach_c, bad_c = _reach(network, candidates, demand, minutes, snap_meters)
    merged, mw, column_of = merge_columns(sp.vstack([reach_e, reach_c]).tocsr(), w, np.ones(w.size, bool))
    snapped = network.snap(demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy(),
                           max_meters=snap_meters).snapped
    return _Instance(
        a=sp.csr_matrix(merged[: len(fixed)]), b=sp.csr_matrix(merged[len(fixed) :]), w=mw,
        column_of=column_of, cap_e=cap_e, cap_c=cap_c, weight=w, reach_e=reach_e, reach_c=reach_c,
        unsnappable={"demand": int(np.sum(~snapped)), "candidates": bad_c, "stations": bad_e},
    )


def _per_point(inst: _Instance, column_served: NDArray[np.float64]) -> NDArray[np.float64]:
    """A column's served weight split among its points in proportion to their weights."""
    col = inst.column_of
    has = col >= 0
    share = np.divide(column_served, inst.w, out=np.zeros(inst.w.size), where=inst.w > 0)
    out = np.zeros(col.size)
    out[has] = inst.weight[has] * np.minimum(share[col[has]], 1.0)
    return out


def _capacities(
    fixed: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, capacity_per_site: float | None,
    visits: pd.DataFrame | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], dict[str, int]]:
    """Existing stations: their ``capacity_per_day`` or :func:`station_capacity`; candidates: their
    ``capacity`` column where filled, else ``capacity_per_site``."""
    from geo.capacity import station_capacity

    st = fixed if "capacity_per_day" in fixed.columns else station_capacity(fixed, visits=visits)
    cap_e = check_capacities(st["capacity_per_day"], field="station_capacity")
    sources = {str(k): int(v) for k, v in st.get("capacity_source", pd.Series(dtype=object))
               .value_counts().items()}
    given = pd.to_numeric(candidates["capacity"], errors="coerce") if "capacity" in candidates.columns \
        else pd.Series(np.nan, index=candidates.index)
    if given.isna().any():
        if capacity_per_site is None:
            raise InputError("give capacity_per_site (or a capacity column on every candidate)",
                             field="capacity_per_site")
        given = given.fillna(check_non_negative(capacity_per_site, field="capacity_per_site"))
    if "capacity" in candidates.columns:
        check_capacities(given.reset_index(drop=True), field="capacity")
    return cap_e, given.to_numpy(dtype=np.float64), sources


def _prefix_served(inst: _Instance, sel: NDArray[np.int64], limit: float) -> NDArray[np.float64]:
    """Optimal served weight with the stations and the first k sites of ``sel``, k = 0..len(sel)."""
    out = []
    for k in range(sel.size + 1):
        reach = sp.vstack([inst.a, inst.b[sel[:k]]]).tocsr()
        served, _, _ = assignment_lp(reach, inst.w, np.concatenate([inst.cap_e, inst.cap_c[sel[:k]]]),
                                     time_limit_seconds=limit)
        out.append(served)
    return np.maximum.accumulate(np.asarray(out))  # LP round-off never shows as a negative gain


def _table(keys: NDArray[np.int64], labels: list[Any], inst: _Instance, before: NDArray[np.float64],
           after: NDArray[np.float64], name: str) -> pd.DataFrame:
    ok = keys >= 0
    n = len(labels)
    w = np.bincount(keys[ok], weights=inst.weight[ok], minlength=n)
    b = np.bincount(keys[ok], weights=before[ok], minlength=n)
    a = np.bincount(keys[ok], weights=after[ok], minlength=n)
    safe = np.where(w > 0, w, 1.0)
    return pd.DataFrame({name: labels, "weight": w, "covered_before": b, "covered_after": a,
                         "share_before": np.where(w > 0, b / safe, np.nan),
                         "share_after": np.where(w > 0, a / safe, np.nan)})


def _tables(demand: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, candidates: gpd.GeoDataFrame,
            fixed: gpd.GeoDataFrame, sel: NDArray[np.int64], inst: _Instance, before: NDArray[np.float64],
            after: NDArray[np.float64]) -> tuple[pd.DataFrame, pd.DataFrame, NDArray[np.int64] | None]:
    from geo.siting.plan import PER_AREA_COLUMNS, areas_of_points

    if "group" in demand.columns:
        groups, g_idx = np.unique(demand["group"].astype(str).to_numpy(), return_inverse=True)
        per_group = _table(g_idx.astype(np.int64), groups.tolist(), inst, before, after, "group")
    else:
        per_group = _table(np.zeros(len(demand), dtype=np.int64), ["all"], inst, before, after, "group")
    if areas is None or len(areas) == 0:
        return pd.DataFrame(columns=list(PER_AREA_COLUMNS)), per_group, None
    codes = areas["area_code"].astype(str).tolist()
    per_area = _table(areas_of_points(demand, areas), codes, inst, before, after, "area_code")
    per_area.insert(1, "area_name", areas["area_name"].astype(str).to_numpy())
    a_st = areas_of_points(fixed, areas) if len(fixed) else np.zeros(0, dtype=np.int64)
    a_c = areas_of_points(candidates, areas)
    per_area["stations_before"] = np.bincount(a_st[a_st >= 0], minlength=len(areas))
    per_area["stations_added"] = np.bincount(a_c[sel][a_c[sel] >= 0], minlength=len(areas))
    return per_area, per_group, a_c


def _selected(candidates: gpd.GeoDataFrame, sel: NDArray[np.int64], cum: NDArray[np.float64], total: float,
              area_codes: list[str] | None, a_c: NDArray[np.int64] | None) -> gpd.GeoDataFrame:
    sub = candidates.iloc[sel]
    gains = np.diff(cum)
    frame = pd.DataFrame({
        "order": np.arange(1, sel.size + 1, dtype=np.int64),
        "candidate_id": sub["candidate_id"].astype(str).to_numpy(),
        "name": sub["name"].astype(str).to_numpy(),
        "host_type": sub["host_type"].astype(str).to_numpy(), "cost": sub["cost"].to_numpy(dtype=np.float64),
        "lon": sub.geometry.x.to_numpy(), "lat": sub.geometry.y.to_numpy(), "gain": gains,
        "gain_share": gains / total if total > 0 else np.zeros(sel.size), "cumulative_weight": cum[1:],
        "cumulative_share": cum[1:] / total if total > 0 else np.zeros(sel.size),
    })
    if area_codes is not None and a_c is not None:
        frame["area_code"] = [area_codes[i] if i >= 0 else None for i in a_c[sel]]
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]), crs="EPSG:4326")


def _facilities(fixed: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, sel: NDArray[np.int64],
                inst: _Instance, sol: CapacitatedSolution) -> pd.DataFrame:
    ids = fixed["station_id"] if "station_id" in fixed.columns else pd.Series(fixed.index)
    names = fixed["name"] if "name" in fixed.columns else pd.Series([""] * len(fixed))
    cap = np.concatenate([inst.cap_e, inst.cap_c[sel]])
    load = np.concatenate([sol.station_load, sol.candidate_load[sel]])
    sub = candidates.iloc[sel]
    return pd.DataFrame({
        "role": ["station"] * len(fixed) + ["site"] * sel.size,
        "id": [str(i) for i in ids] + sub["candidate_id"].astype(str).tolist(),
        "name": [str(n) for n in names] + sub["name"].astype(str).tolist(),
        "capacity": cap, "load": load,
        "utilisation": np.divide(load, cap, out=np.full(cap.size, np.nan), where=cap > 0),
        "lon": np.concatenate([fixed.geometry.x.to_numpy(), sub.geometry.x.to_numpy()]),
        "lat": np.concatenate([fixed.geometry.y.to_numpy(), sub.geometry.y.to_numpy()]),
    })


def plan_capacitated(
    network: Any,
    stations: gpd.GeoDataFrame | None,
    demand: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    add: int,
    minutes: float = 15.0,
    capacity_per_site: float | None = None,
    visits: pd.DataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    time_limit_seconds: float = 60.0,
    snap_meters: float = 300.0,
    open_only: bool = True,
) -> CapacitatedResult:
    """Propose ``add`` new stations maximising the demand weight served within capacity.

    Parameters
    ----------
    network : geo.network.Network
        Street network of the travel mode.
    stations : GeoDataFrame or None
        Existing stations (EPSG:4326), kept open; with ``open_only`` only ``status == "open"`` rows.
        Their capacity: a ``capacity_per_day`` column, else :func:`geo.capacity.station_capacity`
        (``capacity`` column, seats, the ``visits`` log's busy day, the default per kind).
    demand : GeoDataFrame
        Canonical demand frame with ``weight`` (the unit capacities are measured in).
    candidates : GeoDataFrame
        Canonical candidates frame; a filled ``capacity`` column gives a candidate's own capacity.
    add : int
        At most this many new sites.
    minutes : float
        Cutoff: demand is assigned only to stations within it.
    capacity_per_site : float, optional
        Capacity of candidates without their own.
    areas : GeoDataFrame, optional
        For the per-area table (served weight before and after).

    Returns
    -------
    CapacitatedResult
    """
    from geo.siting.candidates import validate_candidates

    minutes = check_minutes(minutes)
    add = check_count(add, field="add", minimum=0)
    validate_candidates(candidates)
    if "weight" not in demand.columns:
        raise InputError("demand needs a 'weight' column", field="demand")
    fixed = stations if stations is not None else gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")
    if open_only and "status" in fixed.columns:
        fixed = fixed[fixed["status"].astype(str) == "open"]
    fixed = fixed.reset_index(drop=True)
    cap_e, cap_c, sources = _capacities(fixed, candidates, capacity_per_site, visits)
    inst = _instance(network, fixed, candidates, demand, cap_e, cap_c, minutes, snap_meters)
    sol = capacitated_mclp(inst.a, inst.b, inst.w, station_capacity=cap_e, candidate_capacity=cap_c, p=add,
                           time_limit_seconds=time_limit_seconds)
    cum = _prefix_served(inst, sol.selected, time_limit_seconds)
    everything, _, _ = assignment_lp(sp.vstack([inst.a, inst.b]).tocsr(), inst.w,
                                     np.concatenate([cap_e, cap_c]), time_limit_seconds=time_limit_seconds)
    before_pts = _per_point(inst, assignment_lp(inst.a, inst.w, cap_e)[1])
    after_pts = _per_point(inst, sol.column_served)
    return _result(demand, areas, candidates, fixed, inst, sol, cum, everything, before_pts, after_pts,
                   minutes=minutes, capacity_per_site=capacity_per_site, sources=sources)


def _result(demand: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, candidates: gpd.GeoDataFrame,
            fixed: gpd.GeoDataFrame, inst: _Instance, sol: CapacitatedSolution, cum: NDArray[np.float64],
            everything: float, before_pts: NDArray[np.float64], after_pts: NDArray[np.float64], *,
            minutes: float, capacity_per_site: float | None, sources: dict[str, int]) -> CapacitatedResult:
    total = float(inst.weight.sum())
    sel = sol.selected
    per_area, per_group, a_c = _tables(demand, areas, candidates, fixed, sel, inst, before_pts, after_pts)
    codes = areas["area_code"].astype(str).tolist() if areas is not None and len(areas) else None
    reached = np.zeros(len(demand), dtype=bool)
    reached[np.unique(sp.vstack([inst.reach_e, inst.reach_c[sel]]).tocsr().indices)] = True
    share = (lambda x: x / total if total > 0 else 0.0)  # noqa: E731
    siting = SitingResult(
        selected=_selected(candidates, sel, cum, total, codes, a_c), total_weight=total,
        covered_before=float(cum[0]), covered_after=float(cum[-1]), share_before=share(float(cum[0])),
        share_after=share(float(cum[-1])), reachable_share=share(everything), per_area=per_area,
        per_group=per_group, model="capacitated_mclp", method="exact", status=sol.status,
        objective=sol.served, bound=sol.bound, gap=sol.gap, seconds=sol.seconds, coverage_seconds=0.0,
        minutes=float(minutes), unsnappable=inst.unsnappable, bound_source="highs",
    )
    out = demand.copy()
    out["served_before"], out["served_after"], out["reached_after"] = before_pts, after_pts, reached
    reached_w = float(inst.weight[reached].sum())
    summary = {
        "total_weight": total, "served_before": float(cum[0]), "served_after": sol.served,
        "reached_after": reached_w, "over_capacity": max(0.0, reached_w - sol.served),
        "not_reached": total - reached_w, "station_capacity_sources": sources,
        "capacity_per_site": capacity_per_site, "sites": int(sel.size),
    }
    return CapacitatedResult(siting=siting, facilities=_facilities(fixed, candidates, sel, inst, sol),
                             demand=out, summary=summary)
